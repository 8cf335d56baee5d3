"""The two-layer feed-forward network of the Mamba blocks."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from sasmamba_jax.nn import torch_init


class Mlp(nnx.Module):
  """Linear(dim -> hidden) -> exact GELU -> Linear(hidden -> dim).

  PyTorch's ``nn.GELU()`` is the erf form, so ``approximate=False`` (Flax and JAX
  default to the tanh approximation). Dropout is omitted: the official blocks use
  ``mlp_drop_rate = 0``.
  """

  def __init__(self, dim: int, hidden: int, *, dtype: Any = None,
               kernel_init: nnx.Initializer | None = None,
               bias_init: nnx.Initializer | None = None, rngs: nnx.Rngs):
    """PyTorch's default initialisation unless ``kernel_init`` / ``bias_init`` given."""
    if kernel_init is None and bias_init is None:
      self.fc1 = torch_init.linear(dim, hidden, dtype=dtype, rngs=rngs)
      self.fc2 = torch_init.linear(hidden, dim, dtype=dtype, rngs=rngs)
      return
    init = dict(kernel_init=kernel_init or torch_init.kernel_init, dtype=dtype,
                param_dtype=jnp.float32, rngs=rngs)
    self.fc1 = nnx.Linear(dim, hidden, bias_init=bias_init or torch_init.bias_init(dim),
                          **init)
    self.fc2 = nnx.Linear(hidden, dim,
                          bias_init=bias_init or torch_init.bias_init(hidden), **init)

  def __call__(self, x: jax.Array) -> jax.Array:
    """(..., dim) -> (..., dim)."""
    return self.fc2(jax.nn.gelu(self.fc1(x), approximate=False))
