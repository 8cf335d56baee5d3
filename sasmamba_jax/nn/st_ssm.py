"""The bidirectional spatio-temporal SSM mixer of PoseMamba and SasMamba (``BiSTSSM``).

One mixer scans the whole (T, J) grid of a clip in four directions (the official
``mambablocks.py`` / ``csms6s.py``: forward_type ``v2_plus_poselimbs``, SasMamba's
``_v3``; docs/reference.md):

  k = 0: frame-major (joints fastest) over  x + sum_g x[:, :, g, :]  (joint gathers)
  k = 1: joint-major (frames fastest) over x
  k = 2, 3: k = 0 and k = 1 reversed,

with one selective scan over the K * d_inner channels (row k * d_inner + d of
``A_logs`` / ``Ds``), B and C grouped per direction, and the four outputs summed back
onto the grid (the gathers are not inverted). The official backward of the cross scan
sends no gradient through the gathered terms; ``official_gradients=True`` reproduces
that with ``stop_gradient``, ``False`` gives the true gradient. The forward pass is the
same either way.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from sasmamba_jax.nn import torch_init
from sasmamba_jax.nn.deform_conv import DeformableDepthwiseConv
from sasmamba_jax.ops import available_impls
from sasmamba_jax.ops import selective_scan

NUM_DIRECTIONS = 4
CONV_TYPES = ("conv", "deform")


@dataclasses.dataclass(frozen=True)
class SSMConfig:
  """Options of one ``BiSTSSM`` (the official defaults, PoseMamba's gather aside).

  Attributes:
    d_state: N, the state size per channel.
    ssm_ratio: expansion, d_inner = int(ssm_ratio * dim).
    dt_rank: rank R of the step-size projection; None means ceil(dim / 16).
    conv_kernel: k of the k x k depthwise convolution over (T, J).
    conv_type: "conv" (PoseMamba: plain depthwise Conv2d) or "deform" (SasMamba:
      depthwise deformable convolution with offsets from a plain conv).
    joint_gathers: (J,) index lists added to direction 0 (``x + x[..., g, :]`` for
      each); PoseMamba uses one limb gather, SasMamba the stride-2 and stride-3 ones.
    official_gradients: True: no gradient through the gathered terms (the official
      backward); False: the true gradient.
    impl: ``selective_scan`` implementation ("auto", "chunked", ...).
    chunk_size: steps per chunk for impl "chunked" (None: the op's default).
    dt_min, dt_max, dt_init_floor: range of the initial step sizes.
  """

  d_state: int = 16
  ssm_ratio: float = 2.0
  dt_rank: int | None = None
  conv_kernel: int = 3
  conv_type: str = "conv"
  joint_gathers: tuple[tuple[int, ...], ...] = ()
  official_gradients: bool = True
  impl: str = "auto"
  chunk_size: int | None = None
  dt_min: float = 0.001
  dt_max: float = 0.1
  dt_init_floor: float = 1e-4

  def __post_init__(self):
    gathers = tuple(tuple(int(i) for i in g) for g in self.joint_gathers)
    object.__setattr__(self, "joint_gathers", gathers)
    if self.conv_type not in CONV_TYPES:
      raise ValueError(f"SSMConfig: conv_type must be one of {CONV_TYPES}, got "
                       f"{self.conv_type!r}")
    if self.conv_kernel < 1 or self.conv_kernel % 2 == 0:
      raise ValueError(f"SSMConfig: conv_kernel must be a positive odd int, got "
                       f"{self.conv_kernel}")
    if self.d_state < 1 or self.ssm_ratio <= 0:
      raise ValueError(f"SSMConfig: need d_state >= 1 and ssm_ratio > 0, got "
                       f"{self.d_state} and {self.ssm_ratio}")
    if self.dt_rank is not None and self.dt_rank < 1:
      raise ValueError(f"SSMConfig: dt_rank must be >= 1 or None, got {self.dt_rank}")
    impls = ("auto",) + available_impls()
    if self.impl not in impls:
      raise ValueError(f"SSMConfig: impl must be one of {impls}, got {self.impl!r}")

  def d_inner(self, dim: int) -> int:
    return int(self.ssm_ratio * dim)

  def rank(self, dim: int) -> int:
    return math.ceil(dim / 16) if self.dt_rank is None else self.dt_rank


def check_gathers(gathers: Sequence[Sequence[int]], num_joints: int) -> None:
  """Raises a ValueError unless every gather is a (num_joints,) list of joint indices."""
  for g in gathers:
    if len(g) != num_joints or not all(0 <= i < num_joints for i in g):
      raise ValueError(f"joint gather {tuple(g)} must list {num_joints} joint indices "
                       f"in [0, {num_joints}), one per joint")


def uniform(key: jax.Array, shape: tuple[int, ...], bound: float) -> jax.Array:
  """U(-bound, bound) float32."""
  return jax.random.uniform(key, shape, jnp.float32, -bound, bound)


def dt_bias_init(key: jax.Array, shape: tuple[int, ...], dt_min: float = 0.001,
                 dt_max: float = 0.1, dt_init_floor: float = 1e-4) -> jax.Array:
  """Inverse softplus of dt ~ logU(dt_min, dt_max) clamped at dt_init_floor (mamba)."""
  u = jax.random.uniform(key, shape, jnp.float32)
  dt = jnp.exp(u * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
  dt = jnp.maximum(dt, dt_init_floor)
  return dt + jnp.log(-jnp.expm1(-dt))


def _uniform(key: jax.Array, shape: tuple[int, ...], bound: float) -> jax.Array:
  return uniform(key, shape, bound)


def _dt_bias(key: jax.Array, shape: tuple[int, ...], cfg: SSMConfig) -> jax.Array:
  return dt_bias_init(key, shape, cfg.dt_min, cfg.dt_max, cfg.dt_init_floor)


class BiSTSSM(nnx.Module):
  """The official ``BiSTSSM`` on channels-last (B, T, J, dim) input.

  Parameters keep the official names and layouts where Flax has no layer for them:
  ``x_proj_weight`` (K, R + 2N, d_inner), ``dt_projs_weight`` (K, d_inner, R),
  ``dt_projs_bias`` (K, d_inner), ``A_logs`` (K * d_inner, N), ``Ds`` (K * d_inner).
  Initialisation follows the official ``initialize="v0"``: x_proj rows as
  ``nn.Linear(d_inner, R + 2N)``; dt weights U(+-R^-1/2); dt bias the inverse softplus
  of log-uniform steps in [dt_min, dt_max]; A_logs = log(1..N) (S4D-real); Ds = 1;
  linear and conv layers PyTorch's defaults; LayerNorms 1 / 0.
  """

  def __init__(self, dim: int, cfg: SSMConfig = SSMConfig(), *, dtype: Any = None,
               rngs: nnx.Rngs):
    d_inner, rank, n = cfg.d_inner(dim), cfg.rank(dim), cfg.d_state
    k = NUM_DIRECTIONS
    self.dim = dim
    self.d_inner = d_inner
    self.dt_rank = rank
    self.d_state = n
    self.dtype = dtype
    self.joint_gathers = cfg.joint_gathers
    self.official_gradients = cfg.official_gradients
    self.impl = cfg.impl
    self.chunk_size = cfg.chunk_size

    self.in_proj = torch_init.linear(dim, 2 * d_inner, use_bias=False, dtype=dtype,
                                     rngs=rngs)
    if cfg.conv_type == "conv":
      self.conv2d = torch_init.conv2d(d_inner, d_inner, cfg.conv_kernel, groups=d_inner,
                                      dtype=dtype, rngs=rngs)
    else:
      self.conv2d = DeformableDepthwiseConv(d_inner, cfg.conv_kernel, dtype=dtype,
                                            rngs=rngs)
    self.x_proj_weight = nnx.Param(_uniform(rngs.params(), (k, rank + 2 * n, d_inner),
                                            1.0 / math.sqrt(d_inner)))
    self.dt_projs_weight = nnx.Param(_uniform(rngs.params(), (k, d_inner, rank),
                                              rank ** -0.5))
    self.dt_projs_bias = nnx.Param(_dt_bias(rngs.params(), (k, d_inner), cfg))
    self.A_logs = nnx.Param(jnp.tile(jnp.log(jnp.arange(1, n + 1, dtype=jnp.float32)),
                                     (k * d_inner, 1)))
    self.Ds = nnx.Param(jnp.ones((k * d_inner,), jnp.float32))
    # Applied to the float32 scan output, as officially (dtype None keeps float32).
    self.out_norm = torch_init.layer_norm(d_inner, epsilon=1e-5, rngs=rngs)
    self.out_proj = torch_init.linear(d_inner, dim, use_bias=False, dtype=dtype,
                                      rngs=rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    """(B, T, J, dim) -> (B, T, J, dim) in the compute dtype."""
    if x.ndim != 4 or x.shape[-1] != self.dim:
      raise ValueError(f"BiSTSSM: expected (B, T, J, {self.dim}), got {x.shape}")
    check_gathers(self.joint_gathers, x.shape[2])
    x, z = jnp.split(self.in_proj(x), 2, axis=-1)
    z = jax.nn.silu(z)
    x = jax.nn.silu(self.conv2d(x))
    y = self.out_norm(self._scan(x))
    return self.out_proj(y.astype(z.dtype) * z)

  def _direction0(self, x: jax.Array) -> jax.Array:
    """x + sum of the joint-gathered copies of x (the gathered terms cut from autodiff
    when ``official_gradients``)."""
    out = x
    for g in self.joint_gathers:
      term = jnp.take(x, np.asarray(g, np.int32), axis=2)
      if self.official_gradients:
        term = jax.lax.stop_gradient(term)
      out = out + term
    return out

  def _scan(self, x: jax.Array) -> jax.Array:
    """Cross scan, per-direction projections, selective scan, cross merge.

    (B, T, J, d_inner) -> (B, T, J, d_inner) float32.
    """
    b, t, j, d = x.shape
    length, k, n, r = t * j, NUM_DIRECTIONS, self.d_state, self.dt_rank
    frame_major = self._direction0(x).reshape(b, length, d)
    joint_major = jnp.swapaxes(x, 1, 2).reshape(b, length, d)
    xs = jnp.stack([frame_major, joint_major, frame_major[:, ::-1],
                    joint_major[:, ::-1]], axis=2)  # (B, L, K, d)
    x_dbl = jnp.einsum("blkd,kcd->blkc", xs, self.x_proj_weight[...].astype(xs.dtype))
    dts, bs, cs = jnp.split(x_dbl, [r, r + n], axis=-1)
    dts = jnp.einsum("blkr,kdr->blkd", dts, self.dt_projs_weight[...].astype(xs.dtype))
    f32 = lambda a: a.astype(jnp.float32)  # The scan runs in float32 (force_fp32).
    ys = selective_scan(
        f32(xs).reshape(b, length, k * d), f32(dts).reshape(b, length, k * d),
        -jnp.exp(f32(self.A_logs[...])), f32(bs), f32(cs), D=f32(self.Ds[...]),
        delta_bias=f32(self.dt_projs_bias[...]).reshape(k * d), delta_softplus=True,
        impl=self.impl, chunk_size=self.chunk_size)
    ys = ys.reshape(b, length, k, d)
    y_frame = ys[:, :, 0] + ys[:, ::-1, 2]
    y_joint = ys[:, :, 1] + ys[:, ::-1, 3]
    y_joint = jnp.swapaxes(y_joint.reshape(b, j, t, d), 1, 2)
    return y_frame.reshape(b, t, j, d) + y_joint
