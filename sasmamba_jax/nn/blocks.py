"""The pre-norm residual block around the spatio-temporal SSM mixer."""

from __future__ import annotations

from typing import Any

import jax
from flax import nnx

from sasmamba_jax.nn import torch_init
from sasmamba_jax.nn.droppath import DropPath
from sasmamba_jax.nn.mlp import Mlp
from sasmamba_jax.nn.st_ssm import BiSTSSM
from sasmamba_jax.nn.st_ssm import SSMConfig


class BiSTSSMBlock(nnx.Module):
  """x + DropPath(op(norm(x))), then x + DropPath(mlp(norm2(x))).

  The official ``BiSTSSMBlock``: LayerNorms with eps 1e-6, an MLP of hidden width
  int(dim * mlp_ratio) with exact GELU, one stochastic-depth rate for both branches.
  """

  def __init__(self, dim: int, *, mlp_ratio: float = 2.0, drop_path: float = 0.0,
               ssm: SSMConfig = SSMConfig(), dtype: Any = None, rngs: nnx.Rngs):
    self.norm = torch_init.layer_norm(dim, epsilon=1e-6, dtype=dtype, rngs=rngs)
    self.op = BiSTSSM(dim, ssm, dtype=dtype, rngs=rngs)
    self.drop_path = DropPath(drop_path, rngs=rngs)
    self.norm2 = torch_init.layer_norm(dim, epsilon=1e-6, dtype=dtype, rngs=rngs)
    self.mlp = Mlp(dim, int(dim * mlp_ratio), dtype=dtype, rngs=rngs)

  def __call__(self, x: jax.Array, *, deterministic: bool | None = None) -> jax.Array:
    """(B, T, J, dim) -> (B, T, J, dim)."""
    x = x + self.drop_path(self.op(self.norm(x)), deterministic=deterministic)
    return x + self.drop_path(self.mlp(self.norm2(x)), deterministic=deterministic)
