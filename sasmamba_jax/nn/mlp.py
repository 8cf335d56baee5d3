"""The two-layer feed-forward network of the Mamba blocks."""

from __future__ import annotations

from typing import Any

import jax
from flax import nnx

from sasmamba_jax.nn import torch_init


class Mlp(nnx.Module):
  """Linear(dim -> hidden) -> exact GELU -> Linear(hidden -> dim).

  PyTorch's ``nn.GELU()`` is the erf form, so ``approximate=False`` (Flax and JAX
  default to the tanh approximation). Dropout is omitted: the official blocks use
  ``mlp_drop_rate = 0``.
  """

  def __init__(self, dim: int, hidden: int, *, dtype: Any = None, rngs: nnx.Rngs):
    self.fc1 = torch_init.linear(dim, hidden, dtype=dtype, rngs=rngs)
    self.fc2 = torch_init.linear(hidden, dim, dtype=dtype, rngs=rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    """(..., dim) -> (..., dim)."""
    return self.fc2(jax.nn.gelu(self.fc1(x), approximate=False))
