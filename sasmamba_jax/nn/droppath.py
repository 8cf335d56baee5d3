"""Stochastic depth: drop a residual branch for whole samples."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx


class DropRate(nnx.Variable):
  """A drop probability kept as (non-trainable) state rather than a static attribute.

  Blocks whose rates differ then share one graph structure, which lets a model scan
  over its layers instead of compiling each one.
  """


class DropPath(nnx.Module):
  """timm's ``DropPath``: zero the branch of a sample with probability ``rate``.

  Kept samples are scaled by 1 / (1 - rate) so the expectation is unchanged. Like
  ``nnx.Dropout`` it follows ``model.train()`` / ``model.eval()`` through its
  ``deterministic`` attribute, and draws keys from the ``dropout`` stream of the
  ``nnx.Rngs`` it was built with (or of the ``rngs`` given at call time).
  """

  def __init__(self, rate: float, *, deterministic: bool = False,
               rngs: nnx.Rngs | None = None):
    if not 0.0 <= rate < 1.0:
      raise ValueError(f"DropPath: rate must be in [0, 1), got {rate}")
    self.rate = DropRate(jnp.asarray(rate, jnp.float32))
    self.deterministic = deterministic
    self.rngs = rngs["dropout"].fork() if rngs is not None else None

  def __call__(self, x: jax.Array, *, deterministic: bool | None = None,
               rngs: nnx.Rngs | None = None) -> jax.Array:
    """(B, ...) -> (B, ...); one keep/drop decision per sample of axis 0."""
    deterministic = self.deterministic if deterministic is None else deterministic
    if deterministic:
      return x
    stream = rngs["dropout"] if rngs is not None else self.rngs
    if stream is None:
      raise ValueError("DropPath: training mode needs an nnx.Rngs with a 'dropout' "
                       "stream, at construction or as the rngs= call argument")
    keep = 1.0 - self.rate[...]
    mask = jax.random.uniform(stream(), (x.shape[0],) + (1,) * (x.ndim - 1)) < keep
    # keep = 1 (rate 0) keeps every sample unscaled, as timm's identity path.
    return jnp.where(mask, x / keep.astype(x.dtype), jnp.zeros_like(x))

  def set_view(self, deterministic: bool | None = None):
    """Hook for ``nnx.view(model, deterministic=...)``."""
    if deterministic is not None:
      self.deterministic = deterministic
