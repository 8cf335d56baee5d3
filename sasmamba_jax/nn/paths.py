"""Names of model variables: pytree key paths of an NNX state as "a/b/0/c" strings.

One spelling for every place that names a variable: optimizer masks and freezing
(``optimizer.freeze``), checkpoint checksums, safetensors keys of exported models.
"""

from __future__ import annotations

from typing import Any, Sequence


def path_string(path: Sequence[Any]) -> str:
  """A jax / nnx key path as "a/b/0/c" (a trailing Variable ``value`` dropped)."""
  parts = []
  for key in path:
    for attr in ("key", "idx", "name"):
      if hasattr(key, attr):
        key = getattr(key, attr)
        break
    parts.append(str(key))
  if parts and parts[-1] == "value":
    parts.pop()
  return "/".join(parts)
