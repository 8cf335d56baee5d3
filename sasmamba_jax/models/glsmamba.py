"""GLSMamba (ICCV 2025): global-local space-time Mamba for video 2D pose estimation.

No public code exists; this is our reference implementation of the paper (Wu et al.,
"GLSMamba", ICCV 2025; ``docs/reference.md`` lists what it gives and what we chose).
The paper's sizes and ablations are fields of ``GLSMambaConfig``; the choices it
leaves open are constants of this module (``models/README.md`` says why).

Forward, for backbone features x (B, T, h, w, in_channels) of a clip of T = 2 delta + 1
frames (ViTPose's 256-channel deconvolution output, 64 x 48 for a 256 x 192 crop):
  1. embedding: Linear(in_channels -> D) + fixed 2D sine-cosine embedding of (h, w)
     + learnable temporal embedding (T, D);
  2. ``num_gsm`` GSM blocks (global spatio-temporal Mamba):
       u = LN(x)
       main = ChannelAttention(u) -> Linear(D -> D) -> LN -> SiLU -> STS6D -> STMM
       gate = Linear(D -> D) -> depthwise 3 x 3 conv per frame -> LN -> SiLU
       x = x + Linear(D -> D)(main * gate)
       x = x + FFN(LN(x))                         FFN: D -> 4 D -> D, GELU
  3. ``num_lrm`` LRM blocks (local refinement): the same without channel attention,
     STS6D + STMM replaced by WSTS (windows wh x ww x T, forward + reverse, summed);
  4. head: LN, sum over the T frames, 3 x 3 conv D -> K heatmaps of the centre frame.

The paper's ablations are config fields: ``routes`` (which route kinds STS6D
runs), ``stmm`` (False: y_u + y_s + y_t), ``num_lrm`` (0: no LRM), ``num_frames``
(1: per frame), ``num_gsm``.
"""

from __future__ import annotations

import dataclasses

from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from sasmamba_jax.nn import torch_init
from sasmamba_jax.nn.dtypes import compute_dtype_name
from sasmamba_jax.nn.mlp import Mlp
from sasmamba_jax.nn.spacetime_scan import ROUTE_KINDS
from sasmamba_jax.nn.spacetime_scan import STS6D
from sasmamba_jax.nn.spacetime_scan import WSTS
from sasmamba_jax.nn.stmm import STMM
from sasmamba_jax.nn.stmm import ChannelAttention
from sasmamba_jax.ops import available_impls

# Our choices where the paper is silent (fixed: no config sets them, no ablation
# varies them). The STMM's deformable convolution is a full 3 x 3 E -> E conv with
# one offset group sampling each frame's grid from the running stream
# (``nn.stmm.STMM``'s defaults); the scans' dt rank is ceil(E / 16).
MLP_RATIO = 4.0            # FFN hidden width = 4 D
GATE_KERNEL = 3            # the gate stream's depthwise conv, per frame
CA_REDUCTION = 4           # channel attention: D -> D / 4 -> D
NORM_EPS = 1e-6            # every LayerNorm
TEMPORAL_INIT_STD = 0.02   # the learnable temporal embedding's normal init
HEAD_INIT_STD = 0.001      # the heatmap conv's normal init, as ViTPose's final layer

#: Options of earlier versions, each with the one value the model now always uses:
#: a saved config or model directory holding that value still loads.
RETIRED_OPTIONS: dict[str, Any] = {
    "expand": 1.0, "dt_rank": None, "restart_routes": False, "stmm_kernel": 3,
    "stmm_groups": 1, "stmm_offset_groups": 1, "stmm_grids": ("frame", "frame"),
    "stmm_sample_from": "stream", "ca_reduction": CA_REDUCTION,
    "ca_frame_hidden": None, "gate_kernel": GATE_KERNEL, "mlp_ratio": MLP_RATIO,
    "norm_eps": NORM_EPS, "temporal_init_std": TEMPORAL_INIT_STD,
    "head_init_std": HEAD_INIT_STD}


@dataclasses.dataclass(frozen=True)
class GLSMambaConfig:
  """The sizes and ablations of a GLSMamba model.

  Attributes:
    name: the registered name these options start from (``models.create`` sets
      it; "" for an architecture no registered model describes): what rebuilds the
      model with these fields.
    backbone: the frozen backbone whose features the model takes (informational:
      "vitpose_b", "vitpose_h"; used for FLOP counts of the whole pipeline).
    num_frames: T = 2 delta + 1 (paper: 5); 1 is the per-frame ablation. The channel
      attention's frame MLP and the temporal embedding are built for exactly T.
    in_channels: backbone feature channels (ViTPose's deconvolution output: 256).
    num_keypoints: K heatmaps (PoseTrack: 17 COCO-ordered slots).
    dim: D, the block and scan width (ours: 128; the scans do not expand it).
    d_state: N (16, mamba's default).
    num_gsm, num_lrm: block counts (paper: 4 and 2; num_lrm 0 drops the LRM).
    routes: route kinds of STS6D, in merge order: any ordered subset of
      ("unified", "space", "time"); each kind brings a forward and a reverse route
      (the paper's route ablation).
    stmm: True merges the kinds with STMM (modulated deformable convs); False sums
      them (the paper's STMM ablation).
    window: WSTS window (wh, ww) (paper: 8 x 6 at 64 x 48 features).
    dtype: compute dtype ("float32" or "bfloat16"); parameters are float32 and the
      scans and DCN sampling run in float32.
    impl, chunk_size: ``ops.selective_scan`` implementation and chunk size.
    remat: recompute each block in the backward pass (less activation memory).
  """

  #: the fields that tell one registered architecture from another
  ARCHITECTURE: ClassVar[tuple[str, ...]] = ("backbone", "dim", "num_gsm", "num_lrm")

  name: str = ""
  backbone: str = "vitpose_b"
  num_frames: int = 5
  in_channels: int = 256
  num_keypoints: int = 17
  dim: int = 128
  d_state: int = 16
  num_gsm: int = 4
  num_lrm: int = 2
  routes: tuple[str, ...] = ROUTE_KINDS
  stmm: bool = True
  window: tuple[int, int] = (8, 6)
  dtype: str = "float32"
  impl: str = "auto"
  chunk_size: int | None = None
  remat: bool = False

  def __post_init__(self):
    object.__setattr__(self, "routes", tuple(self.routes))
    object.__setattr__(self, "window", tuple(int(a) for a in self.window))
    object.__setattr__(self, "dtype", compute_dtype_name(self.dtype,
                                                         "GLSMambaConfig: dtype"))
    bad = [k for k in self.routes if k not in ROUTE_KINDS]
    if not self.routes or bad or len(set(self.routes)) != len(self.routes):
      raise ValueError(f"GLSMambaConfig: routes must be distinct kinds from "
                       f"{ROUTE_KINDS}, at least one, got {self.routes}")
    positive = dict(num_frames=self.num_frames, in_channels=self.in_channels,
                    num_keypoints=self.num_keypoints, dim=self.dim,
                    d_state=self.d_state)
    for name, v in positive.items():
      if not isinstance(v, int) or v < 1:
        raise ValueError(f"GLSMambaConfig: {name} must be a positive int, got {v!r}")
    if self.num_gsm < 0 or self.num_lrm < 0 or self.num_gsm + self.num_lrm < 1:
      raise ValueError(f"GLSMambaConfig: need num_gsm, num_lrm >= 0 and at least one "
                       f"block, got {self.num_gsm} and {self.num_lrm}")
    if len(self.window) != 2 or min(self.window) < 1:
      raise ValueError(f"GLSMambaConfig: window must be (wh, ww) >= 1, got "
                       f"{self.window}")
    impls = ("auto",) + available_impls()
    if self.impl not in impls:
      raise ValueError(f"GLSMambaConfig: impl must be one of {impls}, got "
                       f"{self.impl!r}")

  @property
  def inner(self) -> int:
    """E, the scan width (= D)."""
    return self.dim


def sincos_2d(height: int, width: int, dim: int) -> np.ndarray:
  """Fixed (h, w, dim) sine-cosine embedding (MAE's): dim / 2 channels per axis.

  Channels [0, dim/4) sin(y w_i), [dim/4, dim/2) cos(y w_i), then the same for x, with
  w_i = 10000^(-i / (dim / 4)); dims not divisible by 4 are zero-padded.
  """
  q = dim // 4
  omega = 1.0 / 10000 ** (np.arange(q, dtype=np.float64) / max(q, 1))
  ys, xs = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
  parts = []
  for pos in (ys, xs):
    angle = pos[..., None] * omega
    parts += [np.sin(angle), np.cos(angle)]
  emb = np.concatenate(parts, axis=-1)
  emb = np.pad(emb, ((0, 0), (0, 0), (0, dim - emb.shape[-1])))
  return emb.astype(np.float32)


class GLSMambaBlock(nnx.Module):
  """One GSM block (``local=False``) or LRM block (``local=True``); see the module doc."""

  def __init__(self, c: GLSMambaConfig, *, local: bool, rngs: nnx.Rngs):
    dtype = jnp.dtype(c.dtype)
    d, e = c.dim, c.inner
    self.local = local
    ln = lambda n: torch_init.layer_norm(n, epsilon=NORM_EPS, dtype=dtype, rngs=rngs)
    self.norm1 = ln(d)
    self.attention = None if local else ChannelAttention(
        d, c.num_frames, reduction=CA_REDUCTION, dtype=dtype, rngs=rngs)
    self.in_proj = torch_init.linear(d, e, use_bias=False, dtype=dtype, rngs=rngs)
    self.main_norm = ln(e)
    scan = dict(d_state=c.d_state, impl=c.impl, chunk_size=c.chunk_size, rngs=rngs)
    if local:
      self.wsts = WSTS(e, c.window, **scan)
    else:
      self.sts6d = STS6D(e, c.routes, **scan)
      self.stmm = (STMM(e, c.routes, dtype=dtype, rngs=rngs)
                   if c.stmm and len(c.routes) > 1 else None)
    self.gate_proj = torch_init.linear(d, e, use_bias=False, dtype=dtype, rngs=rngs)
    self.gate_conv = torch_init.conv2d(e, e, GATE_KERNEL, groups=e, dtype=dtype,
                                       rngs=rngs)
    self.gate_norm = ln(e)
    self.out_proj = torch_init.linear(e, d, use_bias=False, dtype=dtype, rngs=rngs)
    self.norm2 = ln(d)
    self.mlp = Mlp(d, int(MLP_RATIO * d), dtype=dtype, rngs=rngs)

  def mixer(self, u: jax.Array) -> jax.Array:
    """(B, T, h, w, D) normalised -> (B, T, h, w, D)."""
    b, t, h, w, _ = u.shape
    main = u if self.attention is None else self.attention(u)
    main = jax.nn.silu(self.main_norm(self.in_proj(main)))
    if self.local:
      y = self.wsts(main)
    else:
      ys = self.sts6d(main)
      y = self.stmm(ys) if self.stmm is not None else sum(ys.values())
    gate = self.gate_proj(u)
    gate = self.gate_conv(gate.reshape(b * t, h, w, -1)).reshape(gate.shape)
    gate = jax.nn.silu(self.gate_norm(gate))
    return self.out_proj(y.astype(gate.dtype) * gate)

  def __call__(self, x: jax.Array) -> jax.Array:
    x = x + self.mixer(self.norm1(x)).astype(x.dtype)
    return x + self.mlp(self.norm2(x)).astype(x.dtype)


class GLSMamba(nnx.Module):
  """Features (B, T, h, w, in_channels) -> heatmaps (B, h, w, K) of the centre frame."""

  def __init__(self, config: GLSMambaConfig = GLSMambaConfig(), *, rngs: nnx.Rngs):
    c = self.config = config
    dtype = jnp.dtype(c.dtype)
    self.embed = torch_init.linear(c.in_channels, c.dim, dtype=dtype, rngs=rngs)
    self.temporal_embed = nnx.Param(TEMPORAL_INIT_STD * jax.random.normal(
        rngs.params(), (c.num_frames, c.dim), jnp.float32))
    self.gsm_blocks = nnx.List([GLSMambaBlock(c, local=False, rngs=rngs)
                                for _ in range(c.num_gsm)])
    self.lrm_blocks = nnx.List([GLSMambaBlock(c, local=True, rngs=rngs)
                                for _ in range(c.num_lrm)])
    self.head_norm = torch_init.layer_norm(c.dim, epsilon=NORM_EPS, dtype=dtype,
                                           rngs=rngs)
    self.head = torch_init.conv2d(c.dim, c.num_keypoints, 3, dtype=dtype, rngs=rngs)
    # As ViTPose's final layer (normal(0, 0.001), zero bias): the heatmaps start
    # near zero, so the first steps do not chase a sum of T LayerNormed frames.
    self.head.kernel[...] = HEAD_INIT_STD * jax.random.normal(
        rngs.params(), self.head.kernel.shape, jnp.float32)
    self.head.bias[...] = jnp.zeros_like(self.head.bias[...])

  def check_input(self, x: Any) -> None:
    """Raises a ValueError saying what is wrong with a (B, T, h, w, C) feature clip."""
    c = self.config
    shape = tuple(getattr(x, "shape", ()))
    if len(shape) != 5:
      raise ValueError(f"GLSMamba: expected features (B, T, h, w, C) = (B, "
                       f"{c.num_frames}, h, w, {c.in_channels}), got shape {shape}")
    _, t, h, w, ch = shape
    if t != c.num_frames:
      raise ValueError(f"GLSMamba: the model was built for T = {c.num_frames} frames "
                       f"(channel attention and temporal embedding), got {t} (input "
                       f"shape {shape}); build it with num_frames={t}")
    if ch != c.in_channels:
      raise ValueError(f"GLSMamba: the model takes {c.in_channels} feature channels, "
                       f"got {ch} (input shape {shape}); build it with in_channels={ch}")
    if c.num_lrm and (h % c.window[0] or w % c.window[1]):
      raise ValueError(f"GLSMamba: the {h}x{w} feature map is not a multiple of the "
                       f"LRM window {c.window[0]}x{c.window[1]}; pass window=... or "
                       "resize the features")
    if (not isinstance(x, jax.core.Tracer) and hasattr(x, "dtype")
        and jnp.issubdtype(x.dtype, jnp.floating)
        and not np.all(np.isfinite(np.asarray(x, np.float32)))):
      raise ValueError("GLSMamba: the features hold NaN or infinite values, which "
                       "would make every heatmap NaN")

  def __call__(self, x: jax.Array) -> jax.Array:
    """(B, T, h, w, in_channels) -> (B, h, w, num_keypoints) float32."""
    self.check_input(x)
    c = self.config
    dtype = jnp.dtype(c.dtype)
    _, t, h, w, _ = x.shape
    pos = jnp.asarray(sincos_2d(h, w, c.dim), dtype)
    x = self.embed(x.astype(dtype)) + pos + self.temporal_embed[...][
        :, None, None, :].astype(dtype)
    for block in list(self.gsm_blocks) + list(self.lrm_blocks):
      if c.remat:  # Functional, so that jax.checkpoint sees plain arrays.
        graphdef, state = nnx.split(block)
        run = jax.checkpoint(lambda state, x, g=graphdef: nnx.merge(g, state)(x))
        x = run(state, x)
      else:
        x = block(x)
    x = jnp.sum(self.head_norm(x).astype(jnp.float32), axis=1)  # (B, h, w, D)
    return self.head(x.astype(dtype)).astype(jnp.float32)


def glsmamba_config(**overrides: Any) -> GLSMambaConfig:
  """GLSMamba-B (on ViTPose-B features): our default sizes (models/README.md).

  ``RETIRED_OPTIONS`` at their one value are accepted (and dropped), so configs and
  model directories of earlier versions still load.

  Raises:
    ValueError: a retired option with another value (no model of this version
      reproduces it).
  """
  for key, value in RETIRED_OPTIONS.items():
    if key not in overrides:
      continue
    given = overrides.pop(key)
    same = (tuple(given) == value if isinstance(value, tuple)
            and isinstance(given, (list, tuple)) else given == value)
    if not same:
      raise ValueError(f"model option {key} = {given!r} is no longer supported "
                       f"(this version always uses {value!r}); drop it, or use the "
                       "sasmamba_jax version the model was trained with")
  return GLSMambaConfig(**overrides)


__all__ = ["GLSMamba", "GLSMambaBlock", "GLSMambaConfig", "glsmamba_config",
           "sincos_2d"]

