"""sasmamba_jax: Mamba-based human pose estimation in JAX/Flax.

Layers, lowest first (lower layers never import higher ones; tests/test_layering.py):
``ops`` (selective scan) -> ``nn`` (layers) -> ``models`` (registry);
``datasets`` and ``evaluation`` (streaming evaluators) beside them; ``tasks`` (task
families) over models, data and evaluation; ``train`` (the task-agnostic trainer and
the one prediction path) over tasks; ``checkpoints``, ``benchmarking`` and ``cli``
beside the flow. ``skeletons`` and ``metrics`` are leaves. See README.md.
"""

__version__ = "0.1.0"
