"""The compiler plugins of the installed JAX, as pip requirements.

  python -m sasmamba_jax.aot.requirements      # one requirement per line

Compiling for a GPU or TPU without one needs the plugin builds of exactly the
installed jaxlib (``jax-cuda12-plugin``, ``jax-cuda12-pjrt``), libtpu as jax's own
``tpu`` extra pins it, and ptxas (``nvidia-cuda-nvcc-cu12``). ``make test`` installs
them beside the environment (``.venv/aot``) rather than in it: a CUDA plugin in
the environment logs "Could not find cuda drivers" at every JAX import on a machine
without a GPU, which would break the one-line error contract of the entry points.
"""

from __future__ import annotations

import importlib.metadata
import re


def plugin_requirements() -> list[str]:
  """pip requirements of the compiler plugins matching the installed jax/jaxlib."""
  jaxlib = importlib.metadata.version("jaxlib")
  libtpu = "libtpu"
  for req in importlib.metadata.requires("jax") or ():
    if re.match(r"libtpu\b", req) and re.search(r"extra\s*==\s*['\"]tpu['\"]", req):
      libtpu = req.split(";")[0].strip().replace(" ", "")
  return [f"jax-cuda12-plugin=={jaxlib}", f"jax-cuda12-pjrt=={jaxlib}", libtpu,
          "nvidia-cuda-nvcc-cu12"]


if __name__ == "__main__":
  print("\n".join(plugin_requirements()))
