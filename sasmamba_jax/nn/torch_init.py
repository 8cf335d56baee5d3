"""PyTorch's default initialisation, for layers that must start as the official code.

``nn.Linear``, ``nn.Conv2d`` and torchvision's ``DeformConv2d`` all draw the weight
from ``kaiming_uniform_(a=sqrt(5))``, i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and the
bias from the same interval; ``fan_in`` is ``in_features`` for a linear layer and
``in_channels / groups * kh * kw`` for a convolution. Flax's ``variance_scaling(1/3,
"fan_in", "uniform")`` draws from U(-sqrt(3 * (1/3) / fan_in), ...): the same interval,
with Flax computing ``fan_in`` from its (in, out) and (kh, kw, in/groups, out) layouts
exactly as PyTorch does.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

# The weight initialiser of every PyTorch linear / convolution layer.
kernel_init = nnx.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform")


def bias_init(fan_in: int) -> nnx.Initializer:
  """U(-1/sqrt(fan_in), 1/sqrt(fan_in)), PyTorch's default bias initialiser."""
  bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0

  def init(key: jax.Array, shape, dtype: Any = jnp.float32) -> jax.Array:
    return jax.random.uniform(key, shape, dtype, -bound, bound)

  return init


def linear(in_features: int, out_features: int, *, use_bias: bool = True,
           dtype: Any = None, rngs: nnx.Rngs) -> nnx.Linear:
  """``nn.Linear(in_features, out_features, bias=use_bias)`` as an ``nnx.Linear``.

  The kernel is stored (in, out), the transpose of PyTorch's (out, in) weight.
  """
  return nnx.Linear(in_features, out_features, use_bias=use_bias, dtype=dtype,
                    param_dtype=jnp.float32, kernel_init=kernel_init,
                    bias_init=bias_init(in_features), rngs=rngs)


def conv2d(in_channels: int, out_channels: int, kernel_size: int, *, groups: int = 1,
           use_bias: bool = True, dtype: Any = None, rngs: nnx.Rngs) -> nnx.Conv:
  """``nn.Conv2d(..., padding=(k - 1) // 2, groups=groups)`` on channels-last input.

  The kernel is stored (kh, kw, in / groups, out), PyTorch's OIHW weight transposed
  by (2, 3, 1, 0). Padding is explicit and symmetric, as PyTorch pads ("SAME" in Flax
  would pad an even kernel asymmetrically).
  """
  pad = (kernel_size - 1) // 2
  fan_in = in_channels // groups * kernel_size * kernel_size
  return nnx.Conv(in_channels, out_channels, (kernel_size, kernel_size),
                  padding=((pad, pad), (pad, pad)), feature_group_count=groups,
                  use_bias=use_bias, dtype=dtype, param_dtype=jnp.float32,
                  kernel_init=kernel_init, bias_init=bias_init(fan_in), rngs=rngs)


def layer_norm(num_features: int, *, epsilon: float, dtype: Any = None,
               rngs: nnx.Rngs) -> nnx.LayerNorm:
  """``nn.LayerNorm(num_features, eps=epsilon)``: scale 1, bias 0, exact variance.

  ``use_fast_variance=False`` computes E[(x - mean)^2] as PyTorch does rather than
  E[x^2] - mean^2, which loses digits when the mean is large.
  """
  return nnx.LayerNorm(num_features, epsilon=epsilon, dtype=dtype,
                       param_dtype=jnp.float32, use_fast_variance=False, rngs=rngs)
