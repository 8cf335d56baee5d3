"""GLSMamba's spatio-temporal merging module (STMM) and channel attention.

STMM merges the outputs of STS6D's route kinds with modulated deformable convolutions
(the GLSMamba paper; docs/reference.md, GLSMamba): with y_u, y_s, y_t the unified, space-wise and
time-wise outputs,

  y_us  = y_u  + DCN_s(y_u,  offsets and mask from concat(y_u,  y_s))   "spatial"
  y_out = y_us + DCN_t(y_us, offsets and mask from concat(y_us, y_t))   "temporal"

Generalised to any ordered subset of kinds: the first is the running stream and each
further kind merges into it with its own stage (one kind: no stage at all). Each DCN is
a ``ModulatedDeformConv`` (zero-initialised offset/mask conv, sigmoid mask).
``sample_from="stream"`` deforms the running stream (the paper's text: DCN(y_u));
``"kind"`` deforms the incoming kind instead. ``grid`` says where a stage samples:
"frame" on each frame's h x w grid (B T images), "time_width" on each row's T x w
plane (B h images: taps reach the neighbouring frames, offsets move along time and x).
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from sasmamba_jax.nn import torch_init
from sasmamba_jax.nn.deform_conv import ModulatedDeformConv

STMM_GRIDS = ("frame", "time_width")
STMM_SOURCES = ("stream", "kind")


def _to_images(x: jax.Array, grid: str) -> jax.Array:
  b, t, h, w, e = x.shape
  if grid == "frame":
    return x.reshape(b * t, h, w, e)
  return x.transpose(0, 2, 1, 3, 4).reshape(b * h, t, w, e)


def _from_images(y: jax.Array, grid: str, shape: Sequence[int]) -> jax.Array:
  b, t, h, w = shape[:4]
  if grid == "frame":
    return y.reshape(b, t, h, w, y.shape[-1])
  return y.reshape(b, h, t, w, y.shape[-1]).transpose(0, 2, 1, 3, 4)


class STMM(nnx.Module):
  """Merges ``{kind: (B, T, h, w, E)}`` in ``kinds`` order into one (B, T, h, w, E).

  Stage i (for kinds[i + 1]) lives in ``stages[i]``; ``grids[i]`` is its sampling
  grid (see the module docstring).
  """

  def __init__(self, channels: int, kinds: Sequence[str], *, kernel_size: int = 3,
               groups: int = 1, offset_groups: int = 1,
               grids: Sequence[str] = ("frame", "frame"), sample_from: str = "stream",
               dtype: Any = None, rngs: nnx.Rngs):
    if sample_from not in STMM_SOURCES:
      raise ValueError(f"STMM: sample_from must be one of {STMM_SOURCES}, got "
                       f"{sample_from!r}")
    if len(grids) < len(kinds) - 1 or any(g not in STMM_GRIDS for g in grids):
      raise ValueError(f"STMM: need one grid from {STMM_GRIDS} per merge stage "
                       f"({len(kinds) - 1}), got {tuple(grids)}")
    self.kinds = tuple(kinds)
    self.grids = tuple(grids[:len(kinds) - 1])
    self.sample_from = sample_from
    self.stages = nnx.List([
        ModulatedDeformConv(channels, channels, 2 * channels, kernel_size,
                            offset_groups=offset_groups, groups=groups, dtype=dtype,
                            rngs=rngs) for _ in self.grids])

  def __call__(self, ys: dict[str, jax.Array]) -> jax.Array:
    stream = ys[self.kinds[0]]
    for kind, grid, dcn in zip(self.kinds[1:], self.grids, self.stages):
      other = ys[kind]
      source = stream if self.sample_from == "stream" else other
      guide = jnp.concatenate([stream, other], axis=-1)
      merged = dcn(_to_images(source, grid), _to_images(guide, grid))
      stream = stream + _from_images(merged, grid, stream.shape).astype(stream.dtype)
    return stream


class ChannelAttention(nnx.Module):
  """Sequential channel attention over a clip (the GSM block's first step).

  GAP over each frame's h x w -> (B, T, D); an MLP across channels
  D -> D / reduction -> D (ReLU); then an MLP across frames T -> hidden -> T (ReLU);
  sigmoid; x is rescaled per frame and channel. The frame MLP fixes T.
  """

  def __init__(self, dim: int, frames: int, *, reduction: int = 4,
               frame_hidden: int | None = None, dtype: Any = None, rngs: nnx.Rngs):
    hidden_c = max(1, dim // reduction)
    hidden_t = frame_hidden or 2 * frames
    self.frames = frames
    self.channel_fc1 = torch_init.linear(dim, hidden_c, dtype=dtype, rngs=rngs)
    self.channel_fc2 = torch_init.linear(hidden_c, dim, dtype=dtype, rngs=rngs)
    self.frame_fc1 = torch_init.linear(frames, hidden_t, dtype=dtype, rngs=rngs)
    self.frame_fc2 = torch_init.linear(hidden_t, frames, dtype=dtype, rngs=rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    """(B, T, h, w, D) -> (B, T, h, w, D)."""
    pooled = jnp.mean(x.astype(jnp.float32), axis=(2, 3)).astype(x.dtype)  # (B, T, D)
    a = self.channel_fc2(jax.nn.relu(self.channel_fc1(pooled)))
    a = jnp.swapaxes(a, 1, 2)  # (B, D, T)
    a = jnp.swapaxes(self.frame_fc2(jax.nn.relu(self.frame_fc1(a))), 1, 2)
    return x * jax.nn.sigmoid(a)[:, :, None, None, :].astype(x.dtype)
