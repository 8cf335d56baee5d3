"""ViTPose (Xu et al., NeurIPS 2022): a plain ViT backbone and the classic heatmap head.

Channels-last re-implementation of the official ``mmpose/models/backbones/vit.py`` and
``TopdownHeatmapSimpleHead`` (docs/reference.md, ViTPose), with the official semantics:

  images (B, H, W, 3), normalised (RGB / 255, ImageNet mean / std)
  -> patch conv (k = s = 16, padding 2; H and W multiples of 16) -> (B, H/16, W/16, C)
  -> + pos_embed[1:] (the patch rows) + pos_embed[0] (the class slot, added to every
     patch: there is no class token in the sequence)
  -> depth x pre-LN block: x + attn(norm1(x)), x + mlp(norm2(x)) (LayerNorm eps 1e-6,
     qkv with bias, exact GELU, stochastic depth linspace(0, rate, depth))
  -> last_norm -> tokens (B, Hp, Wp, C)
  -> head: n x [ConvTranspose (k 4, s 2, p 1, no bias) -> BatchNorm (eps 1e-5, momentum
     0.1) -> ReLU] -> features (B, H/4, W/4, 256) -> 1 x 1 conv -> heatmaps (B, H/4, W/4, K)

Other crop sizes than ``config.image_size`` interpolate the patch rows of the position
table bicubically (``jax.image.resize``, see ``ViTPoseBackbone.position_table``).

Freezing (a frozen feature extractor, as in GLSMamba): build with ``frozen=True``; the
model then always runs in inference mode (BatchNorm on its running statistics, no
stochastic depth) whatever ``train()`` / ``eval()`` say, and its outputs are wrapped in
``jax.lax.stop_gradient``, so no gradient reaches its parameters and XLA drops their
backward. Also exclude its parameters from the optimizer (``optimizer.freeze``, e.g.
``(r"^vitpose/",)`` for a ViTPose held as attribute ``vitpose``), so that weight decay
does not move them either.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from sasmamba_jax.nn import torch_init
from sasmamba_jax.nn.droppath import DropPath
from sasmamba_jax.nn.dtypes import compute_dtype_name
from sasmamba_jax.nn.mlp import Mlp

# Sizes of the released backbones (docs/reference.md, ViTPose): width -> (depth, heads, the
# official drop-path rate of the COCO 256 x 192 configs).
RELEASED_SIZES: dict[int, tuple[int, int, float]] = {
    384: (12, 12, 0.1),    # ViTPose-S
    768: (12, 12, 0.3),    # ViTPose-B
    1024: (24, 16, 0.5),   # ViTPose-L
    1280: (32, 16, 0.55),  # ViTPose-H
}
# Input normalisation of every ViTPose config (applied before the model).
IMAGE_MEAN = (0.485, 0.456, 0.406)
IMAGE_STD = (0.229, 0.224, 0.225)
# (padding, output_padding) of a stride-2 transposed conv, per kernel size, as in
# TopdownHeatmapSimpleHead._get_deconv_cfg.
_DECONV_PADDING = {4: (1, 0), 3: (1, 1), 2: (0, 0)}


@dataclasses.dataclass(frozen=True)
class ViTPoseConfig:
  """Architecture and run options of a ``ViTPose``.

  Attributes:
    name: the registered name these options start from (``models.create`` sets
      it; "" for an architecture no registered model describes, e.g. an official
      checkpoint of another size): what rebuilds the model with these fields.
    family: label (informational).
    image_size: (H, W) the position table is built for (official 256 x 192); other
      sizes interpolate it.
    patch_size: patch conv kernel and stride (16).
    patch_padding: patch conv padding (official 2, i.e. ``4 + 2 * (ratio // 2 - 1)``
      at ``ratio=1``).
    embed_dim: width C.
    depth: number of transformer blocks.
    num_heads: attention heads (C must be divisible by it).
    mlp_ratio: MLP hidden width = int(C * mlp_ratio).
    qkv_bias: whether the qkv projection has a bias (official True).
    drop_path_rate: stochastic depth; block i uses linspace(0, rate, depth)[i].
    num_keypoints: K heatmaps.
    deconv_filters: channels of each transposed conv of the head (official (256, 256));
      the last one is the width of ``features``.
    deconv_kernel: 4 (official), 3 or 2; stride 2, so each doubles the resolution.
    final_conv_kernel: 1 (official) or 3.
    frozen: always inference mode and no gradients (see the module docstring).
    dtype: compute dtype, "float32" or "bfloat16"; parameters are float32 and the
      BatchNorm statistics are computed in float32.
  """

  #: the fields that tell one registered architecture from another
  ARCHITECTURE: ClassVar[tuple[str, ...]] = ("embed_dim", "depth", "num_heads")

  name: str = ""
  family: str = "vitpose"
  image_size: tuple[int, int] = (256, 192)
  patch_size: int = 16
  patch_padding: int = 2
  embed_dim: int = 768
  depth: int = 12
  num_heads: int = 12
  mlp_ratio: float = 4.0
  qkv_bias: bool = True
  drop_path_rate: float = 0.3
  num_keypoints: int = 17
  deconv_filters: tuple[int, ...] = (256, 256)
  deconv_kernel: int = 4
  final_conv_kernel: int = 1
  frozen: bool = False
  dtype: str = "float32"

  def __post_init__(self):
    object.__setattr__(self, "image_size", tuple(int(s) for s in self.image_size))
    object.__setattr__(self, "deconv_filters",
                       tuple(int(f) for f in self.deconv_filters))
    object.__setattr__(self, "dtype", compute_dtype_name(self.dtype,
                                                        "ViTPoseConfig: dtype"))
    for name in ("patch_size", "embed_dim", "depth", "num_heads", "num_keypoints"):
      value = getattr(self, name)
      if not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"ViTPoseConfig: {name} must be a positive int, got {value!r}")
    if self.embed_dim % self.num_heads:
      raise ValueError(f"ViTPoseConfig: embed_dim {self.embed_dim} is not divisible by "
                       f"num_heads {self.num_heads}")
    if not self.deconv_filters or min(self.deconv_filters) < 1:
      raise ValueError("ViTPoseConfig: deconv_filters must be one or more positive "
                       f"channel counts, got {self.deconv_filters}")
    if self.deconv_kernel not in _DECONV_PADDING:
      raise ValueError(f"ViTPoseConfig: deconv_kernel must be one of "
                       f"{sorted(_DECONV_PADDING)}, got {self.deconv_kernel}")
    if self.final_conv_kernel not in (1, 3):
      raise ValueError(f"ViTPoseConfig: final_conv_kernel must be 1 or 3, got "
                       f"{self.final_conv_kernel}")
    if not 0.0 <= self.drop_path_rate < 1.0:
      raise ValueError("ViTPoseConfig: drop_path_rate must be in [0, 1)")
    if self.mlp_ratio <= 0:
      raise ValueError(f"ViTPoseConfig: mlp_ratio must be > 0, got {self.mlp_ratio}")
    if not 0 <= self.patch_padding < self.patch_size:
      raise ValueError(f"ViTPoseConfig: patch_padding must be in [0, patch_size), got "
                       f"{self.patch_padding}")
    self.token_grid(self.image_size)  # Validates image_size.

  def token_grid(self, image_size: Sequence[int]) -> tuple[int, int]:
    """(Hp, Wp) of an (H, W) crop, or a ValueError if H or W is not a patch multiple.

    The official patch conv gives floor((H + 2 * padding - patch) / patch) + 1 rows,
    which is H / patch for multiples of the patch; other sizes would silently drop
    pixels (or add a row of padding), so they are refused.
    """
    h, w = (int(s) for s in image_size)
    p = self.patch_size
    if h < p or w < p or h % p or w % p:
      raise ValueError(
          f"ViTPose: image size {h} x {w} is not a multiple of the patch size {p} "
          f"(no integer token grid); resize or crop to e.g. "
          f"{max(p, round(h / p) * p)} x {max(p, round(w / p) * p)}")
    grid = tuple((s + 2 * self.patch_padding - p) // p + 1 for s in (h, w))
    if grid != (h // p, w // p):
      raise ValueError(f"ViTPose: patch_padding {self.patch_padding} gives a "
                       f"{grid[0]} x {grid[1]} token grid for {h} x {w}, not "
                       f"{h // p} x {w // p}")
    return grid

  def drop_path_rates(self) -> list[float]:
    return [float(r) for r in np.linspace(0.0, self.drop_path_rate, self.depth)]

  @property
  def mlp_hidden(self) -> int:
    return int(self.embed_dim * self.mlp_ratio)

  @property
  def feature_channels(self) -> int:
    return self.deconv_filters[-1]

  def heatmap_size(self, image_size: Sequence[int] | None = None) -> tuple[int, int]:
    """(h, w) of the heatmaps (and features) of an (H, W) crop: H / 4 x W / 4."""
    hp, wp = self.token_grid(image_size or self.image_size)
    up = 2 ** len(self.deconv_filters)
    return hp * up, wp * up


def vitpose_config(**fields: Any) -> ViTPoseConfig:
  return ViTPoseConfig(**fields)


def _trunc_normal(std: float) -> nnx.Initializer:
  """timm's ``trunc_normal_(std=0.02)``: it truncates at +-2 absolute, i.e. at 100
  standard deviations, so it is a plain normal (Flax's truncated_normal cuts at 2)."""
  return nnx.initializers.normal(stddev=std)


class Attention(nnx.Module):
  """Multi-head self-attention with a fused qkv projection: (B, L, C) -> (B, L, C)."""

  def __init__(self, dim: int, num_heads: int, *, qkv_bias: bool, dtype: Any,
               rngs: nnx.Rngs):
    self.num_heads = num_heads
    init = dict(kernel_init=_trunc_normal(0.02), bias_init=nnx.initializers.zeros,
                dtype=dtype, param_dtype=jnp.float32, rngs=rngs)
    # qkv output channel s * C + h * head_dim + d is (q, k, v)[s], head h, channel d.
    self.qkv = nnx.Linear(dim, 3 * dim, use_bias=qkv_bias, **init)
    self.proj = nnx.Linear(dim, dim, **init)

  def __call__(self, x: jax.Array) -> jax.Array:
    b, n, c = x.shape
    qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads)
    q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]  # (B, L, heads, head_dim)
    out = jax.nn.dot_product_attention(q, k, v)  # softmax(q k^T / sqrt(head_dim)) v
    return self.proj(out.reshape(b, n, c))


class Block(nnx.Module):
  """Pre-LN transformer block: x + attn(norm1(x)), then x + mlp(norm2(x))."""

  def __init__(self, config: ViTPoseConfig, drop_path: float, *, rngs: nnx.Rngs):
    c = config
    dtype = jnp.dtype(c.dtype)
    self.norm1 = torch_init.layer_norm(c.embed_dim, epsilon=1e-6, dtype=dtype, rngs=rngs)
    self.attn = Attention(c.embed_dim, c.num_heads, qkv_bias=c.qkv_bias, dtype=dtype,
                          rngs=rngs)
    self.drop_path = DropPath(drop_path, rngs=rngs)
    self.norm2 = torch_init.layer_norm(c.embed_dim, epsilon=1e-6, dtype=dtype, rngs=rngs)
    # The official ViT initialises every Linear with trunc_normal(0.02) and zero bias.
    self.mlp = Mlp(c.embed_dim, c.mlp_hidden, dtype=dtype,
                   kernel_init=_trunc_normal(0.02), bias_init=nnx.initializers.zeros,
                   rngs=rngs)

  def __call__(self, x: jax.Array, *, deterministic: bool | None = None) -> jax.Array:
    """(B, L, C) -> (B, L, C)."""
    x = x + self.drop_path(self.attn(self.norm1(x)), deterministic=deterministic)
    return x + self.drop_path(self.mlp(self.norm2(x)), deterministic=deterministic)


class ViTPoseBackbone(nnx.Module):
  """The ViT backbone: images (B, H, W, 3) -> tokens (B, H/16, W/16, C)."""

  def __init__(self, config: ViTPoseConfig, *, rngs: nnx.Rngs):
    c = config
    self.config = c
    dtype = jnp.dtype(c.dtype)
    p, pad = c.patch_size, c.patch_padding
    fan_in = 3 * p * p
    # PyTorch's default Conv2d initialisation (the official ViT leaves it).
    self.patch_embed = nnx.Conv(3, c.embed_dim, (p, p), strides=(p, p),
                                padding=((pad, pad), (pad, pad)), dtype=dtype,
                                param_dtype=jnp.float32,
                                kernel_init=torch_init.kernel_init,
                                bias_init=torch_init.bias_init(fan_in), rngs=rngs)
    hp, wp = c.token_grid(c.image_size)
    # Row 0 is the class slot (added to every patch), rows 1.. the patches row-major.
    self.pos_embed = nnx.Param(
        _trunc_normal(0.02)(rngs.params(), (1, 1 + hp * wp, c.embed_dim)))
    self.blocks = nnx.List([Block(c, rate, rngs=rngs) for rate in c.drop_path_rates()])
    self.last_norm = torch_init.layer_norm(c.embed_dim, epsilon=1e-6, dtype=dtype,
                                           rngs=rngs)

  def position_table(self, grid: tuple[int, int]) -> tuple[jax.Array, jax.Array]:
    """(patch rows (1, Hp, Wp, C), class slot (1, 1, 1, C)) for a token grid.

    A grid other than the configured one resizes the patch rows bicubically with
    ``jax.image.resize`` (Keys cubic, a = -0.5, no antialiasing), the class slot
    unchanged. ViTPose's fine-tuning code resizes with PyTorch's
    ``F.interpolate(mode="bicubic", align_corners=False)``, whose cubic has a = -0.75:
    the same half-pixel sampling grid, slightly different weights.
    """
    c = self.config
    h0, w0 = c.token_grid(c.image_size)
    table = self.pos_embed[...]
    cls = table[:, :1].reshape(1, 1, 1, c.embed_dim)
    patches = table[:, 1:].reshape(1, h0, w0, c.embed_dim)
    if tuple(grid) != (h0, w0):
      patches = jax.image.resize(patches, (1, *grid, c.embed_dim), "bicubic",
                                 antialias=False)
    return patches, cls

  def __call__(self, images: jax.Array, *, deterministic: bool | None = None
               ) -> jax.Array:
    """(B, H, W, 3) -> (B, H/16, W/16, C) in the compute dtype."""
    dtype = jnp.dtype(self.config.dtype)
    x = self.patch_embed(images.astype(dtype))  # (B, Hp, Wp, C)
    b, hp, wp, ch = x.shape
    patches, cls = self.position_table((hp, wp))
    # The official order: (x + pos[:, 1:]) + pos[:, :1].
    x = (x + patches.astype(dtype)) + cls.astype(dtype)
    x = x.reshape(b, hp * wp, ch)
    for block in self.blocks:
      x = block(x, deterministic=deterministic)
    return self.last_norm(x).reshape(b, hp, wp, ch)


class ConvTranspose2d(nnx.Module):
  """PyTorch's ``ConvTranspose2d(in, out, k, stride, padding, output_padding, bias=False)``.

  ``kernel`` is (kh, kw, in, out): PyTorch's (in, out, kh, kw) weight transposed by
  (2, 3, 0, 1), not flipped. The transposed convolution is the input-dilated
  convolution with the spatially flipped kernel, padded by k - 1 - padding before and
  k - 1 - padding + output_padding after.
  """

  def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *,
               stride: int, padding: int, output_padding: int, dtype: Any,
               rngs: nnx.Rngs):
    k = kernel_size
    self.stride, self.padding, self.output_padding = stride, padding, output_padding
    self.dtype = dtype
    # TopdownHeatmapSimpleHead.init_weights: normal_init(deconv, std=0.001).
    self.kernel = nnx.Param(nnx.initializers.normal(0.001)(
        rngs.params(), (k, k, in_channels, out_channels), jnp.float32))

  def __call__(self, x: jax.Array) -> jax.Array:
    """(B, H, W, in) -> (B, (H - 1) * s - 2p + k + output_padding, ..., out)."""
    kernel = self.kernel[...].astype(self.dtype)[::-1, ::-1]
    k = kernel.shape[0]
    lo = k - 1 - self.padding
    hi = lo + self.output_padding
    return jax.lax.conv_general_dilated(
        x.astype(self.dtype), kernel, window_strides=(1, 1),
        padding=((lo, hi), (lo, hi)), lhs_dilation=(self.stride, self.stride),
        dimension_numbers=("NHWC", "HWIO", "NHWC"))


class BatchNorm2d(nnx.Module):
  """PyTorch's ``BatchNorm2d`` on channels-last input (eps 1e-5, momentum 0.1).

  Training mode normalises with the batch mean and biased variance and updates the
  running statistics with momentum 0.1 and the *unbiased* variance, and counts
  ``num_batches_tracked``, as PyTorch does (``nnx.BatchNorm`` keeps the biased
  variance). Statistics are float32 whatever the compute dtype.
  """

  def __init__(self, num_features: int, *, epsilon: float = 1e-5,
               momentum: float = 0.1, use_running_average: bool = False):
    self.epsilon, self.momentum = epsilon, momentum
    self.use_running_average = use_running_average
    self.scale = nnx.Param(jnp.ones((num_features,), jnp.float32))
    self.bias = nnx.Param(jnp.zeros((num_features,), jnp.float32))
    self.mean = nnx.BatchStat(jnp.zeros((num_features,), jnp.float32))
    self.var = nnx.BatchStat(jnp.ones((num_features,), jnp.float32))
    self.num_batches_tracked = nnx.BatchStat(jnp.zeros((), jnp.int32))

  def __call__(self, x: jax.Array, *, use_running_average: bool | None = None
               ) -> jax.Array:
    """(..., C) -> (..., C) in the input's dtype."""
    if use_running_average is None:
      use_running_average = self.use_running_average
    x32 = x.astype(jnp.float32)
    if use_running_average:
      mean, var = self.mean[...], self.var[...]
    else:
      axes = tuple(range(x.ndim - 1))
      mean = jnp.mean(x32, axes)
      var = jnp.mean(jnp.square(x32 - mean), axes)
      n = math.prod(x.shape[:-1])
      unbiased = var * (n / max(n - 1, 1))
      m = self.momentum
      self.mean[...] = (1 - m) * self.mean[...] + m * jax.lax.stop_gradient(mean)
      self.var[...] = (1 - m) * self.var[...] + m * jax.lax.stop_gradient(unbiased)
      self.num_batches_tracked[...] = self.num_batches_tracked[...] + 1
    y = (x32 - mean) * jax.lax.rsqrt(var + self.epsilon) * self.scale[...] + self.bias[...]
    return y.astype(x.dtype)


class HeatmapHead(nnx.Module):
  """The classic head: tokens (B, Hp, Wp, C) -> heatmaps (B, 4 Hp, 4 Wp, K)."""

  def __init__(self, config: ViTPoseConfig, *, rngs: nnx.Rngs):
    c = config
    dtype = jnp.dtype(c.dtype)
    padding, output_padding = _DECONV_PADDING[c.deconv_kernel]
    channels = (c.embed_dim,) + c.deconv_filters
    self.deconvs = nnx.List([
        ConvTranspose2d(cin, cout, c.deconv_kernel, stride=2, padding=padding,
                        output_padding=output_padding, dtype=dtype, rngs=rngs)
        for cin, cout in zip(channels[:-1], channels[1:])])
    self.norms = nnx.List([BatchNorm2d(cout) for cout in c.deconv_filters])
    k = c.final_conv_kernel
    pad = (k - 1) // 2
    # init_weights: normal_init(final_layer, std=0.001, bias=0).
    self.final_layer = nnx.Conv(
        c.feature_channels, c.num_keypoints, (k, k), padding=((pad, pad), (pad, pad)),
        dtype=dtype, param_dtype=jnp.float32,
        kernel_init=nnx.initializers.normal(0.001), bias_init=nnx.initializers.zeros,
        rngs=rngs)

  def features(self, tokens: jax.Array, *, use_running_average: bool | None = None
               ) -> jax.Array:
    """(B, Hp, Wp, C) -> the last deconv + BN + ReLU output (B, 4 Hp, 4 Wp, 256)."""
    x = tokens
    for deconv, norm in zip(self.deconvs, self.norms):
      x = jax.nn.relu(norm(deconv(x), use_running_average=use_running_average))
    return x

  def __call__(self, tokens: jax.Array, *, use_running_average: bool | None = None
               ) -> jax.Array:
    return self.final_layer(self.features(tokens,
                                          use_running_average=use_running_average))


class ViTPose(nnx.Module):
  """ViTPose: images (B, H, W, 3), normalised -> heatmaps (B, H/4, W/4, K) float32.

  ``tokens(images)`` gives the backbone's output (B, H/16, W/16, C) and
  ``features(images)`` the head's last deconv output before its 1 x 1 conv
  (B, H/4, W/4, 256); both float32. Stochastic depth and BatchNorm follow
  ``model.train()`` / ``model.eval()`` (or the ``deterministic`` call argument), except
  with ``config.frozen`` (always inference, no gradients). Parameter names follow the
  official state dict: ``backbone/...`` and ``keypoint_head/...``.
  """

  def __init__(self, config: ViTPoseConfig, *, rngs: nnx.Rngs):
    self.config = config
    self.backbone = ViTPoseBackbone(config, rngs=rngs)
    self.keypoint_head = HeatmapHead(config, rngs=rngs)

  def check_input(self, images: Any) -> None:
    """Raises a ValueError naming what is wrong with an image batch."""
    shape = tuple(getattr(images, "shape", ()))
    h0, w0 = self.config.image_size
    if len(shape) != 4 or shape[-1] != 3:
      hint = (" (channels-first? transpose to (B, H, W, 3))"
              if len(shape) == 4 and shape[1] == 3 else "")
      raise ValueError(f"ViTPose: expected images of shape (B, H, W, 3), e.g. "
                       f"(B, {h0}, {w0}, 3), got {shape}{hint}")
    dtype = getattr(images, "dtype", None)
    if dtype is None or not jnp.issubdtype(dtype, jnp.floating):
      raise ValueError(f"ViTPose: expected normalised float images ((RGB / 255 - "
                       f"{IMAGE_MEAN}) / {IMAGE_STD}), got dtype {dtype}")
    self.config.token_grid(shape[1:3])
    if (not isinstance(images, jax.core.Tracer)
        and not np.all(np.isfinite(np.asarray(images, np.float32)))):
      raise ValueError("ViTPose: the images hold NaN or infinite values")

  def _modes(self, deterministic: bool | None) -> tuple[bool | None, bool | None]:
    """(deterministic, use_running_average) for this call."""
    if self.config.frozen:
      return True, True
    return deterministic, (None if deterministic is None else deterministic)

  def _out(self, x: jax.Array) -> jax.Array:
    x = x.astype(jnp.float32)
    return jax.lax.stop_gradient(x) if self.config.frozen else x

  def tokens(self, images: jax.Array, *, deterministic: bool | None = None
             ) -> jax.Array:
    """(B, H, W, 3) -> backbone tokens (B, H/16, W/16, C) float32."""
    self.check_input(images)
    det, _ = self._modes(deterministic)
    return self._out(self.backbone(images, deterministic=det))

  def features(self, images: jax.Array, *, deterministic: bool | None = None
               ) -> jax.Array:
    """(B, H, W, 3) -> deconv features (B, H/4, W/4, deconv_filters[-1]) float32."""
    self.check_input(images)
    det, bn = self._modes(deterministic)
    tokens = self.backbone(images, deterministic=det)
    return self._out(self.keypoint_head.features(tokens, use_running_average=bn))

  def __call__(self, images: jax.Array, *, deterministic: bool | None = None
               ) -> jax.Array:
    """(B, H, W, 3) -> heatmaps (B, H/4, W/4, K) float32."""
    self.check_input(images)
    det, bn = self._modes(deterministic)
    tokens = self.backbone(images, deterministic=det)
    return self._out(self.keypoint_head(tokens, use_running_average=bn))
