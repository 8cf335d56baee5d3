"""sasmamba_jax: Mamba-based human pose estimation in JAX/Flax.

Layers, lowest first (lower layers never import higher ones):
``ops`` (selective scan) -> ``nn`` (blocks) -> ``models`` -> ``train``;
``skeletons`` is a leaf shared by ``datasets``, ``models`` and ``evaluation``.
"""

__version__ = "0.1.0"
