"""sasmamba_jax: Mamba-based human pose estimation in JAX/Flax.

Layers, lowest first (lower layers never import higher ones; tests/test_layering.py):
``ops`` (selective scan) -> ``nn`` (layers) -> ``models`` (registry); ``skeletons``,
``metrics`` and ``imaging`` are leaves, ``codecs`` sits on ``imaging``; ``datasets``
and ``evaluation`` (streaming evaluators) beside the models; ``tasks`` (task
families) over models, data and evaluation; ``train`` (the task-agnostic trainer and
the one prediction path) over tasks; ``checkpoints``, ``topdown``, ``benchmarking``
and ``cli`` beside the flow; ``loading`` (``load(path)``: any model source) and
``inference`` on top. See README.md.
"""

from sasmamba_jax.version import __version__


def __getattr__(name):
  # load / save_pretrained / load_pretrained import the whole library: when asked.
  if name in ("load", "save_pretrained", "load_pretrained"):
    from sasmamba_jax import loading  # pylint: disable=g-import-not-at-top
    return getattr(loading, name)
  raise AttributeError(f"module 'sasmamba_jax' has no attribute {name!r}")
