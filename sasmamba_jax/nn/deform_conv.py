"""Deformable convolution, DCNv1 and modulated DCNv2, with torchvision's semantics.

No JAX library offers this op, so it is written here from gathers. One operator,
``deform_conv2d``, serves SasMamba's depthwise DCNv1 (no mask) and GLSMamba's
modulated DCNv2 (``torchvision.ops.deform_conv2d``; docs/reference.md). For output position (oy, ox), offset group g
and kernel tap k = i * kw + j the input channels of group g are sampled at

  y = oy * stride_h - pad_h + i * dilation_h + offset[b, oy, ox, g * 2K + 2k]
  x = ox * stride_w - pad_w + j * dilation_w + offset[b, oy, ox, g * 2K + 2k + 1]

by bilinear interpolation; a sample is 0 when y <= -1, y >= H, x <= -1 or x >= W, and
corners outside the image contribute 0. The sample is multiplied by
``mask[b, oy, ox, g * K + k]`` (1 without a mask), then an ordinary grouped
convolution with ``weight`` and ``bias`` is applied. Input channels belong to offset
group c // (C / G) and to convolution group c // (C / groups): contiguous blocks, the
two splits independent of each other.

Gradients are JAX's autodiff of that formula: the interpolation weights are
differentiated through ``y - floor(y)``, which is exactly torchvision's coordinate
gradient, and samples outside get no offset gradient (checked against torchvision's
compiled kernel by the tests' reference outputs).

Two internal paths compute the same function (same floor-based weights, so the same
outputs and gradients up to float32 summation order; tests check them against each
other):

* ``"gather"`` (what ``impl="auto"`` uses): the (B, Ho, Wo, K, G, 4) corner indices
  and weights, then one gather of all four corners from x viewed as a flat
  (B H W G, C / G) table (corners outside read row 0 with weight 0), giving the
  corner values (B, Ho, Wo, K, G, 4, C / G): four column tensors. Depthwise
  (groups == C == Cout) contracts corners, taps and kernel in one einsum; otherwise
  the corners are reduced to the column tensor (B, Ho, Wo, K, C) (torchvision's
  ``columns``) and contracted with the weight. The backward is one scatter-add of
  the same size into the input gradient.
* ``"dense"``: bilinear sampling as a matmul with dense interpolation weights
  (B, Ho, Wo, K, G, H W), the outer product of per-axis weights; no gather or
  scatter. It exists for accelerators, where matmuls are cheap and gathers slow
  (TPU), on small grids; it is not chosen automatically because on the 2-core CPU
  its forward+backward measured 2x (4 x 3 grid) to 20x (27 x 17) slower than the
  gather at every grid tried (``python -m experiments.benchmark_deform_conv``), and
  it has not been timed on an accelerator.

Memory: the gather path's forward holds the corner values (4 column tensors). Without
rematerialisation the backward keeps them as residuals; that is up to 25% faster
(depthwise) on CPU, so it is done while they stay within ``REMAT_BYTES`` (128 MiB)
per call, about SasMamba's and GLSMamba's training shapes; above it the operator runs
under ``jax.checkpoint`` and the backward keeps only the inputs and recomputes them.
The dense path always runs under ``jax.checkpoint`` (its weights are H W / 4 times the
corner values).
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from sasmamba_jax.nn import torch_init

# Above this many bytes of gathered corner values (B Ho Wo K 4 C) the operator is
# rematerialised rather than keeping them for the backward.
REMAT_BYTES = 128 * 2**20


def _pair(v: int | Sequence[int], name: str, minimum: int) -> tuple[int, int]:
  if isinstance(v, int):
    v = (v, v)
  try:
    v = tuple(int(a) for a in v)
  except TypeError:
    raise ValueError(f"deform_conv2d: {name} must be an int or an (h, w) pair, got "
                     f"{v!r}") from None
  if len(v) != 2 or min(v) < minimum:
    raise ValueError(f"deform_conv2d: {name} must be an int or an (h, w) pair of ints "
                     f">= {minimum}, got {v}")
  return v


def output_size(size: int, kernel: int, stride: int, padding: int,
                dilation: int) -> int:
  """Output length of a convolution along one axis (PyTorch's formula)."""
  return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def _tap_weights(y: jax.Array, xx: jax.Array, height: int, width: int):
  """Corner indices and bilinear weights of every sample (torchvision's rules).

  Args:
    y, xx: (...,) float sampling coordinates.

  Returns:
    ``(y0, x0, wy, wx)``: integer corners y0 = floor(y), x0 = floor(x) and the
    per-axis weights (..., 2) of rows (y0, y0 + 1) and columns (x0, x0 + 1). An
    axis whose coordinate is outside (-1, size) gets weights 0 on both corners, so
    the sample is 0 and has no coordinate gradient; a corner outside the image is
    dropped by the caller (the gather masks it, the dense path never reaches it).
  """
  y0 = jnp.floor(y)
  x0 = jnp.floor(xx)
  ly = y - y0  # Carries the coordinate gradient (floor's gradient is zero).
  lx = xx - x0
  wy = jnp.where(((y > -1) & (y < height))[..., None],
                 jnp.stack([1 - ly, ly], axis=-1), 0.0)
  wx = jnp.where(((xx > -1) & (xx < width))[..., None],
                 jnp.stack([1 - lx, lx], axis=-1), 0.0)
  return y0.astype(jnp.int32), x0.astype(jnp.int32), wy, wx


def _samples_gather(x: jax.Array, y: jax.Array, xx: jax.Array,
                    mask: jax.Array | None) -> tuple[jax.Array, jax.Array]:
  """Gathered corner values and their weights: one gather for all four corners.

  Args:
    x: (B, H, W, C) input, channels split into the G offset groups.
    y, xx: (B, P, K, G) float sampling coordinates of the K taps of P outputs.
    mask: (B, P, K, G) modulation, or None.

  Returns:
    ``(vals, wts)``: vals (B, P, K, G, 4, C / G) in x's dtype, wts (B, P, K, G, 4);
    the masked bilinear sample is ``sum_q vals * wts``. Corners outside the image
    read row 0 with weight 0.
  """
  b, h, w, c = x.shape
  _, p, k, g = y.shape
  y0, x0, wy, wx = _tap_weights(y, xx, h, w)
  cy = y0[..., None] + jnp.array([0, 0, 1, 1])  # Corners (y0, x0), (y0, x0 + 1), ...
  cx = x0[..., None] + jnp.array([0, 1, 0, 1])
  wts = wy[..., (0, 0, 1, 1)] * wx[..., (0, 1, 0, 1)]  # (B, P, K, G, 4)
  valid = (cy >= 0) & (cy < h) & (cx >= 0) & (cx < w)
  wts = jnp.where(valid, wts, 0.0)
  if mask is not None:
    wts = wts * mask[..., None]
  # Row of (image b, pixel, offset group) in x viewed as (B H W G, C / G): one plain
  # gather over a flat table, whose transpose is one scatter-add.
  row = ((jnp.arange(b)[:, None, None, None, None] * (h * w)
          + jnp.where(valid, cy * w + cx, 0)) * g
         + jnp.arange(g)[:, None])
  vals = jnp.take(x.reshape(b * h * w * g, c // g), row.reshape(-1), axis=0,
                  mode="clip")
  return vals.reshape(b, p, k, g, 4, c // g), wts


def _columns_dense(x: jax.Array, y: jax.Array, xx: jax.Array,
                   mask: jax.Array | None, acc: Any) -> jax.Array:
  """Masked bilinear samples as a matmul with dense interpolation weights.

  The weight of pixel (r, s) for a sample is wy[r] * wx[s], with wy[r] the bilinear
  weight of row r (1 - ly at y0, ly at y0 + 1, 0 elsewhere) and wx likewise: the
  same function of y - floor(y) as the gather, so outputs and every gradient agree,
  and rows or columns outside the image simply do not exist in the sum.

  Args:
    x: (B, H, W, C) input.
    y, xx: (B, P, K, G) float sampling coordinates.
    mask: (B, P, K, G) modulation, or None.
    acc: accumulation dtype.

  Returns:
    (B, P, K, C) column tensor in ``acc``.
  """
  b, h, w, c = x.shape
  _, p, k, g = y.shape
  y0, x0, wy, wx = _tap_weights(y, xx, h, w)
  if mask is not None:
    wy = wy * mask[..., None]
  rows = jnp.arange(h)
  cols = jnp.arange(w)
  dy = rows - y0[..., None]  # (B, P, K, G, H): 0 at y0, 1 at y0 + 1.
  dx = cols - x0[..., None]
  ty = jnp.where(dy == 0, wy[..., :1], 0.0) + jnp.where(dy == 1, wy[..., 1:], 0.0)
  tx = jnp.where(dx == 0, wx[..., :1], 0.0) + jnp.where(dx == 1, wx[..., 1:], 0.0)
  dense = (ty[..., :, None] * tx[..., None, :]).reshape(b, p, k, g, h * w)
  out = jnp.einsum("bpkgn,bngi->bpkgi", dense.astype(acc),
                   x.reshape(b, h * w, g, c // g).astype(acc))
  return out.reshape(b, p, k, c)


def _deform_conv(x, offset, weight, bias, mask, *, stride, padding, dilation, groups,
                 impl):
  """The operator on validated arguments (see ``deform_conv2d``)."""
  b, h, w, c = x.shape
  kh, kw, _, cout = weight.shape
  k = kh * kw
  _, ho, wo, two_gk = offset.shape
  g = two_gk // (2 * k)
  (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
  coord = jnp.promote_types(offset.dtype, jnp.float32)
  acc = jnp.promote_types(x.dtype, coord)
  off = offset.astype(coord).reshape(b, ho * wo, g, k, 2).transpose(0, 1, 3, 2, 4)
  base_y = jnp.repeat(jnp.arange(ho, dtype=coord) * sh - ph, wo)  # (P,)
  base_x = jnp.tile(jnp.arange(wo, dtype=coord) * sw - pw, ho)
  tap_y = jnp.repeat(jnp.arange(kh, dtype=coord) * dh, kw)  # (K,), tap i * kw + j
  tap_x = jnp.tile(jnp.arange(kw, dtype=coord) * dw, kh)
  y = base_y[:, None, None] + tap_y[:, None] + off[..., 0]  # (B, P, K, G)
  xx = base_x[:, None, None] + tap_x[:, None] + off[..., 1]
  if mask is not None:
    mask = mask.astype(coord).reshape(b, ho * wo, g, k).transpose(0, 1, 3, 2)
  wt = weight.astype(acc).reshape(k, c // groups, groups, cout // groups)
  depthwise = c == groups and cout == groups
  if impl == "gather" and depthwise:
    # Corners, taps and the kernel in one contraction: no column tensor.
    vals, wts = _samples_gather(x, y, xx, mask)
    out = jnp.einsum("bpkgqi,bpkgq,kgi->bpgi", vals.astype(acc), wts.astype(acc),
                     wt[:, 0, :, 0].reshape(k, g, c // g)).reshape(b, ho * wo, c)
  else:
    if impl == "gather":
      vals, wts = _samples_gather(x, y, xx, mask)
      cols = jnp.einsum("bpkgqi,bpkgq->bpkgi", vals.astype(acc), wts.astype(acc))
      cols = cols.reshape(b, ho * wo, k, c)
    else:
      cols = _columns_dense(x, y, xx, mask, acc)
    if groups == 1:
      out = jnp.einsum("bpkc,kco->bpo", cols, wt[:, :, 0])
    elif depthwise:  # A weighted sum over the taps.
      out = jnp.einsum("bpkc,kc->bpc", cols, wt[:, 0, :, 0])
    else:
      cols = cols.reshape(b, ho * wo, k, groups, c // groups)
      out = jnp.einsum("bpkgi,kigo->bpgo", cols, wt).reshape(b, ho * wo, cout)
  if bias is not None:
    out = out + bias.astype(acc)
  return out.reshape(b, ho, wo, cout).astype(x.dtype)


def deform_conv2d(x: jax.Array, offset: jax.Array, weight: jax.Array,
                  bias: jax.Array | None = None, mask: jax.Array | None = None, *,
                  stride: int | Sequence[int] = 1, padding: int | Sequence[int] = 0,
                  dilation: int | Sequence[int] = 1, groups: int = 1,
                  impl: str = "auto") -> jax.Array:
  """Deformable convolution (DCNv2 with a mask, DCNv1 without), channels-last.

  ``torchvision.ops.deform_conv2d`` with every array moved channels-last.

  Args:
    x: (B, H, W, C) input.
    offset: (B, Ho, Wo, 2 G kh kw): torchvision's offset channels in torchvision's
      order along the last axis (channel g * 2K + 2k is the row shift of tap
      k = i * kw + j in offset group g, the next one the column shift). The offset
      groups G are inferred from the size; G must divide C (it need not divide or be
      divided by ``groups``).
    weight: (kh, kw, C / groups, Cout), PyTorch's (Cout, C / groups, kh, kw) weight
      transposed by (2, 3, 1, 0); any kh, kw.
    bias: optional (Cout,).
    mask: optional (B, Ho, Wo, G kh kw) modulation (channel g * K + k); None is DCNv1.
    stride, padding, dilation: ints or (h, w) pairs, as in torchvision.
    groups: convolution groups; must divide C and Cout.
    impl: "auto" (the gather), "gather" or "dense"; see the module docstring. All
      give the same result.

  Returns:
    (B, Ho, Wo, Cout) in x's dtype. Sampling coordinates and the accumulation are
    float32 (float64 for float64 inputs) whatever x's dtype: bfloat16 cannot
    address 243 frames to a fraction.
  """
  sh, sw = _pair(stride, "stride", 1)
  ph, pw = _pair(padding, "padding", 0)
  dh, dw = _pair(dilation, "dilation", 1)
  for name, a in (("x", x), ("offset", offset), ("weight", weight)):
    if getattr(a, "ndim", None) != 4:
      want = {"x": "(B, H, W, C)", "offset": "(B, Ho, Wo, 2 * G * kh * kw)",
              "weight": "(kh, kw, C / groups, Cout)"}[name]
      raise ValueError(f"deform_conv2d: {name} must be {want}, got shape "
                       f"{getattr(a, 'shape', type(a).__name__)}")
  b, h, w, c = x.shape
  kh, kw, cin_g, cout = weight.shape
  if not isinstance(groups, int) or groups < 1 or c % groups or cout % groups:
    raise ValueError(f"deform_conv2d: groups = {groups!r} must be a positive int "
                     f"dividing the input channels ({c}) and output channels ({cout})")
  if cin_g != c // groups or min(kh, kw) < 1:
    raise ValueError(f"deform_conv2d: weight must be (kh, kw, C / groups, Cout) = "
                     f"(kh, kw, {c // groups}, Cout) for {c} input channels and groups="
                     f"{groups}, got {weight.shape} (a depthwise weight (kh, kw, 1, C) "
                     "needs groups=C)")
  ho = output_size(h, kh, sh, ph, dh)
  wo = output_size(w, kw, sw, pw, dw)
  if ho < 1 or wo < 1:
    raise ValueError(f"deform_conv2d: empty output for input {h}x{w}, kernel "
                     f"{kh}x{kw}, stride {(sh, sw)}, padding {(ph, pw)}, dilation "
                     f"{(dh, dw)}")
  k = kh * kw
  if offset.shape[:3] != (b, ho, wo) or offset.shape[3] % (2 * k) or not offset.shape[3]:
    raise ValueError(f"deform_conv2d: offset must be (B, Ho, Wo, 2 * G * kh * kw) = "
                     f"({b}, {ho}, {wo}, 2 * G * {k}) for some offset group count G, "
                     f"got {offset.shape}")
  g = offset.shape[3] // (2 * k)
  if c % g:
    raise ValueError(f"deform_conv2d: the offset holds G = {g} offset groups, which "
                     f"must divide the input channels ({c}); offset shape "
                     f"{offset.shape}")
  if mask is not None and getattr(mask, "shape", None) != (b, ho, wo, g * k):
    raise ValueError(f"deform_conv2d: mask must be (B, Ho, Wo, G * kh * kw) = "
                     f"{(b, ho, wo, g * k)} for G = {g} offset groups, got "
                     f"{getattr(mask, 'shape', None)}")
  if bias is not None and getattr(bias, "shape", None) != (cout,):
    raise ValueError(f"deform_conv2d: bias must be ({cout},), got "
                     f"{getattr(bias, 'shape', None)}")
  for name, a in (("x", x), ("offset", offset), ("weight", weight), ("mask", mask),
                  ("bias", bias)):
    if a is not None and not jnp.issubdtype(a.dtype, jnp.floating):
      raise ValueError(f"deform_conv2d: {name} must be floating point, got {a.dtype}")
  # Under remat the backward keeps the inputs and recomputes the (B, P, K, C) columns.
  if impl not in ("auto", "gather", "dense"):
    raise ValueError(f"deform_conv2d: impl must be 'auto', 'gather' or 'dense', got "
                     f"{impl!r}")
  run = functools.partial(_deform_conv, stride=(sh, sw), padding=(ph, pw),
                          dilation=(dh, dw), groups=groups,
                          impl="gather" if impl == "auto" else impl)
  # A symbolic batch (jax.export) has no size to compare: remat, the safe choice.
  corners_bytes = (b * ho * wo * k * 4 * c * jnp.dtype(x.dtype).itemsize
                   if isinstance(b, int) else None)
  if impl == "dense" or corners_bytes is None or corners_bytes > REMAT_BYTES:
    run = jax.checkpoint(run)
  return run(x, offset, weight, bias, mask)


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
    return deform_conv2d(x, offset, self.kernel[...], bias, padding=self.padding,
                         groups=x.shape[-1])


class ModulatedDeformConv(nnx.Module):
  """DCNv2 whose offsets and mask are predicted from a guide (mmcv's ``...Pack``).

  ``offset_mask`` is Conv2d(guide_channels -> 3 G k^2, k, padding (k - 1) // 2,
  bias), zero-initialised, so training starts from a plain convolution on the
  regular grid with mask 0.5: channels [0, 2 G k^2) are the offsets in
  torchvision's order, the last G k^2 pass through a sigmoid as the mask. The DCN
  itself (k x k, stride 1, same padding, ``groups``) starts from PyTorch's default
  initialisation.
  """

  def __init__(self, channels: int, out_channels: int, guide_channels: int,
               kernel_size: int = 3, *, offset_groups: int = 1, groups: int = 1,
               use_bias: bool = True, dtype: Any = None, rngs: nnx.Rngs):
    if kernel_size < 1 or kernel_size % 2 == 0:
      raise ValueError(f"ModulatedDeformConv: kernel_size must be odd, got "
                       f"{kernel_size}")
    if channels % offset_groups or channels % groups or out_channels % groups:
      raise ValueError(f"ModulatedDeformConv: offset_groups ({offset_groups}) and "
                       f"groups ({groups}) must divide channels ({channels}), groups "
                       f"also out_channels ({out_channels})")
    k = kernel_size
    self.kernel_size = k
    self.padding = (k - 1) // 2
    self.groups = groups
    self.offset_groups = offset_groups
    pad = self.padding
    self.offset_mask = nnx.Conv(guide_channels, 3 * offset_groups * k * k, (k, k),
                                padding=((pad, pad), (pad, pad)), dtype=dtype,
                                param_dtype=jnp.float32,
                                kernel_init=nnx.initializers.zeros_init(),
                                bias_init=nnx.initializers.zeros_init(), rngs=rngs)
    fan_in = channels // groups * k * k
    self.kernel = nnx.Param(torch_init.kernel_init(
        rngs.params(), (k, k, channels // groups, out_channels), jnp.float32))
    self.bias = (nnx.Param(torch_init.bias_init(fan_in)(rngs.params(), (out_channels,)))
                 if use_bias else None)

  def __call__(self, x: jax.Array, guide: jax.Array) -> jax.Array:
    """x (B, H, W, C), guide (B, H, W, guide_channels) -> (B, H, W, out_channels)."""
    om = self.offset_mask(guide)
    split = 2 * self.offset_groups * self.kernel_size ** 2
    offset, mask = om[..., :split], jax.nn.sigmoid(om[..., split:].astype(jnp.float32))
    bias = None if self.bias is None else self.bias[...]
    return deform_conv2d(x, offset, self.kernel[...], bias, mask,
                         padding=self.padding, groups=self.groups)


__all__ = ["DeformableDepthwiseConv", "ModulatedDeformConv", "deform_conv2d",
           "output_size"]
