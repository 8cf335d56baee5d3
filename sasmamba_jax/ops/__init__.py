"""Sequence operators. ``selective_scan`` is the public entry point."""

from sasmamba_jax.ops.dispatch import available_impls
from sasmamba_jax.ops.dispatch import selective_scan

__all__ = ["selective_scan", "available_impls"]
