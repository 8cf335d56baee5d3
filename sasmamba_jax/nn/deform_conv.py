"""Depthwise deformable convolution (DCNv1) with torchvision ``deform_conv2d`` semantics.

No JAX library offers this op, so it is written here from gathers. For output position
(oy, ox) and kernel tap (i, j) the input is sampled at

  y = oy * stride_h - pad_h + i * dilation_h + offset[b, oy, ox, 2 * (i * kw + j)]
  x = ox * stride_w - pad_w + j * dilation_w + offset[b, oy, ox, 2 * (i * kw + j) + 1]

by bilinear interpolation; a sample is 0 when y <= -1, y >= H, x <= -1 or x >= W, and
corners outside the image contribute 0. There is no modulation mask and one offset
group (all channels share the offsets). Gradients are JAX's autodiff of that formula:
the interpolation weights are differentiated through ``y - floor(y)``, which is exactly
torchvision's coordinate gradient, and samples outside get no offset gradient.
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from sasmamba_jax.nn import torch_init


def _pair(v: int | Sequence[int], name: str) -> tuple[int, int]:
  if isinstance(v, int):
    return v, v
  v = tuple(v)
  if len(v) != 2:
    raise ValueError(f"deform_conv2d: {name} must be an int or a pair, got {v}")
  return int(v[0]), int(v[1])


def _sample_taps(x_flat: jax.Array, y: jax.Array, x: jax.Array, kernel: jax.Array,
                 height: int, width: int) -> jax.Array:
  """Bilinear samples of every tap, weighted by the depthwise kernel and summed.

  Args:
    x_flat: (B, H * W, C) input.
    y, x: (B, P, K) float32 sampling coordinates of the K taps of P output positions.
    kernel: (K, C) depthwise weights per tap.

  Returns:
    (B, P, C) in the promoted dtype of x_flat and float32.
  """
  inside = (y > -1) & (y < height) & (x > -1) & (x < width)
  y0 = jnp.floor(y)
  x0 = jnp.floor(x)
  ly = y - y0  # Carries the coordinate gradient (floor's gradient is zero).
  lx = x - x0
  y0 = y0.astype(jnp.int32)
  x0 = x0.astype(jnp.int32)
  corners = ((y0, x0, (1 - ly) * (1 - lx)), (y0, x0 + 1, (1 - ly) * lx),
             (y0 + 1, x0, ly * (1 - lx)), (y0 + 1, x0 + 1, ly * lx))
  idx, wts = [], []
  for cy, cx, w in corners:
    valid = inside & (cy >= 0) & (cy < height) & (cx >= 0) & (cx < width)
    idx.append(jnp.where(valid, cy * width + cx, 0))
    wts.append(jnp.where(valid, w, 0.0))
  idx = jnp.stack(idx, axis=-1)  # (B, P, K, 4)
  wts = jnp.stack(wts, axis=-1)
  vals = jax.vmap(lambda img, i: img[i])(x_flat, idx)  # (B, P, K, 4, C)
  acc = jnp.promote_types(vals.dtype, jnp.float32)
  return jnp.einsum("bpkqc,bpkq,kc->bpc", vals, wts.astype(acc), kernel.astype(acc))


def deform_conv2d(x: jax.Array, offset: jax.Array, kernel: jax.Array,
                  bias: jax.Array | None = None, *, stride: int | Sequence[int] = 1,
                  padding: int | Sequence[int] = 0,
                  dilation: int | Sequence[int] = 1) -> jax.Array:
  """Depthwise deformable convolution, channels-last.

  Args:
    x: (B, H, W, C) input.
    offset: (B, Ho, Wo, 2 * kh * kw); channel 2 * (i * kw + j) is the offset along H
      for tap (i, j) and channel 2 * (i * kw + j) + 1 the offset along W
      (torchvision's layout, channels moved last).
    kernel: (kh, kw, 1, C) depthwise kernel (PyTorch's (C, 1, kh, kw) weight
      transposed by (2, 3, 1, 0)).
    bias: optional (C,).
    stride, padding, dilation: ints or (h, w) pairs, as in torchvision.

  Returns:
    (B, Ho, Wo, C) in x's dtype. Sampling coordinates and the accumulation are
    float32 whatever x's dtype (bfloat16 cannot address 243 frames to a fraction).
  """
  if x.ndim != 4:
    raise ValueError(f"deform_conv2d: x must be (B, H, W, C), got shape {x.shape}")
  b, h, w, c = x.shape
  if kernel.ndim != 4 or kernel.shape[2] != 1 or kernel.shape[3] != c:
    raise ValueError(f"deform_conv2d: kernel must be (kh, kw, 1, {c}) for a "
                     f"depthwise convolution of {c} channels, got {kernel.shape}")
  kh, kw = kernel.shape[:2]
  sh, sw = _pair(stride, "stride")
  ph, pw = _pair(padding, "padding")
  dh, dw = _pair(dilation, "dilation")
  ho = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
  wo = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
  if ho < 1 or wo < 1:
    raise ValueError(f"deform_conv2d: empty output for input {h}x{w}, kernel "
                     f"{kh}x{kw}, stride {(sh, sw)}, padding {(ph, pw)}")
  if offset.shape != (b, ho, wo, 2 * kh * kw):
    raise ValueError(f"deform_conv2d: offset must be (B, Ho, Wo, 2 * kh * kw) = "
                     f"{(b, ho, wo, 2 * kh * kw)}, got {offset.shape}")
  if bias is not None and bias.shape != (c,):
    raise ValueError(f"deform_conv2d: bias must be ({c},), got {bias.shape}")

  acc_dtype = jnp.promote_types(x.dtype, jnp.float32)
  off = offset.astype(jnp.float32).reshape(b, ho * wo, kh * kw, 2)
  base_y = jnp.repeat(jnp.arange(ho, dtype=jnp.float32) * sh - ph, wo)  # (P,)
  base_x = jnp.tile(jnp.arange(wo, dtype=jnp.float32) * sw - pw, ho)
  x_flat = x.reshape(b, h * w, c)
  tap_y = jnp.repeat(jnp.arange(kh, dtype=jnp.float32) * dh, kw)  # (K,), tap i * kw + j
  tap_x = jnp.tile(jnp.arange(kw, dtype=jnp.float32) * dw, kh)
  y = base_y[:, None] + tap_y + off[..., 0]  # (B, P, K)
  xx = base_x[:, None] + tap_x + off[..., 1]
  # Under remat the backward pass keeps the (B, P, K, 4) indices and weights, not the
  # (B, P, K, 4, C) gathered values.
  sample = jax.checkpoint(_sample_taps, static_argnums=(4, 5))
  out = sample(x_flat, y, xx, kernel.reshape(kh * kw, c), h, w)
  if bias is not None:
    out = out + bias.astype(acc_dtype)
  return out.reshape(b, ho, wo, c).astype(x.dtype)


class DeformableDepthwiseConv(nnx.Module):
  """The official ``DepthwiseDCN``: offsets from a plain conv, then a depthwise DCN.

  ``offset_conv`` is Conv2d(C -> 2 k^2, k, padding (k - 1) // 2, bias) and the DCN has
  kernel k, padding (k - 1) // 2, groups C and a bias; both start from PyTorch's
  default initialisation (offsets are not zero-initialised, as officially).
  """

  def __init__(self, channels: int, kernel_size: int = 3, *, use_bias: bool = True,
               dtype: Any = None, rngs: nnx.Rngs):
    if kernel_size < 1 or kernel_size % 2 == 0:
      raise ValueError(f"DeformableDepthwiseConv: kernel_size must be odd, got "
                       f"{kernel_size}")
    k = kernel_size
    self.kernel_size = k
    self.padding = (k - 1) // 2
    self.offset_conv = torch_init.conv2d(channels, 2 * k * k, k, dtype=dtype, rngs=rngs)
    self.kernel = nnx.Param(torch_init.kernel_init(rngs.params(), (k, k, 1, channels),
                                                   jnp.float32))
    self.bias = (nnx.Param(torch_init.bias_init(k * k)(rngs.params(), (channels,)))
                 if use_bias else None)

  def __call__(self, x: jax.Array) -> jax.Array:
    """(B, H, W, C) -> (B, H, W, C)."""
    offset = self.offset_conv(x)
    bias = None if self.bias is None else self.bias[...]
    return deform_conv2d(x, offset, self.kernel[...], bias, padding=self.padding)
