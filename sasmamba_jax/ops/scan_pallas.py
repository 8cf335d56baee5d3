"""Selective scan as Pallas kernels (Triton lowering on NVIDIA GPUs), forward and backward.

Design (a chunked scan, parallel over batch, channel blocks AND time chunks):

Forward
  1. ``_fwd_summary_kernel``, grid (batch, channel blocks, chunks): each program runs
     the recurrence over its chunk from a zero state and writes the chunk-local final
     state (bd, N) and the chunk's sum of deltas (bd,).
  2. Plain JAX, on arrays L/chunk times smaller than the inputs: the chunk transfer
     exp(A * sum delta) and an associative scan over chunks give the state entering
     every chunk, and the final state.
  3. ``_fwd_output_kernel``, same grid: each program re-runs its chunk from the true
     entering state and writes y with the D skip and the SiLU(z) gate fused, in the
     input dtype. Inputs are read about 1.5 times, y written once; no (L, N) array
     ever reaches memory.

Backward (``jax.custom_vjp``; the residuals are the inputs only)
  4. Phase 1-2 again with the (smaller) backward chunk to get each chunk's entering
     state: recomputing beats storing (batch, L/chunk, channels, N) states.
  5. ``_bwd_summary_kernel``: each chunk's adjoint contribution, reverse sweep from a
     zero adjoint; a reverse associative scan over chunks (plain JAX) gives the
     adjoint arriving at the end of every chunk and the gradient of the initial state.
  6. ``_bwd_main_kernel``: per chunk, a forward sweep keeps the chunk's states in a
     (chunk, bd, N) register tile; the reverse sweep reads them back and produces
     du, ddelta (through softplus and bias), dz, and per-block partial dB, dC, dA, dD
     that plain JAX sums.

Why Triton and not Mosaic GPU: the kernels are sequential sweeps over short chunks
with per-step vector loads, plain elementwise math and small reductions, which the
Triton lowering handles on Ampere and Hopper alike; Mosaic GPU (Hopper+) pays off for
TMA/wgmma-shaped matrix work, which a diagonal recurrence does not have. Triton needs
power-of-two block shapes: the wrapper pads the time axis to whole chunks and the
state size to a power of two, and takes channel blocks that divide a group.

On CPU the same kernels run with ``interpret=True`` (how the tests exercise them).
"""

from __future__ import annotations

import dataclasses
import functools

import jax
from jax.experimental import pallas as pl
import jax.numpy as jnp

from sasmamba_jax.ops import _common

DEFAULT_CHUNK_SIZE = 64
DEFAULT_BWD_CHUNK_SIZE = 16
DEFAULT_BLOCK_CHANNELS = 32
DEFAULT_BWD_BLOCK_CHANNELS = 16


@dataclasses.dataclass(frozen=True)
class _Config:
  """Static (hashable) settings of one kernel launch."""
  length: int            # true L (the padded tail is masked)
  chunk: int             # forward chunk (power of two)
  bwd_chunk: int         # backward chunk (power of two)
  block: int             # forward channel block (power of two, divides dg)
  bwd_block: int         # backward channel block
  groups: int
  softplus: bool
  has_z: bool
  interpret: bool
  num_warps: int = 4       # Triton launch settings (tuned on a GPU: ops/README.md)
  num_stages: int = 1


def _pow2_floor_divisor(n: int, cap: int) -> int:
  """Largest power of two <= cap that divides n."""
  p = 1
  while p * 2 <= cap and n % (p * 2) == 0:
    p *= 2
  return p


def _next_pow2(n: int) -> int:
  return 1 << max(0, (n - 1).bit_length())


def _softplus(x):
  # log1p(exp(x)) overflows for large x, where softplus(x) = x to float precision.
  return jnp.where(x > 20.0, x, jnp.log1p(jnp.exp(jnp.minimum(x, 20.0))))


def _step_delta(delta_raw, bias, valid, softplus):
  pre = delta_raw + bias
  dt = _softplus(pre) if softplus else pre
  return jnp.where(valid, dt, 0.0), pre


def _compiler_params(cfg: _Config):
  if cfg.interpret:
    return None
  from jax.experimental.pallas import triton as pl_triton  # pylint: disable=g-import-not-at-top
  return pl_triton.CompilerParams(num_warps=cfg.num_warps, num_stages=cfg.num_stages)


# ----------------------------------------------------------------------------- kernels
# Refs arrive with the batch axis squeezed: (chunk, bd) for u/delta/z/y, (chunk, N)
# for B/C, (bd, N) for A and states, (bd,) for D and delta_bias.


def _fwd_summary_kernel(u_ref, delta_ref, b_ref, a_ref, bias_ref, hloc_ref, dsum_ref,
                        *, cfg: _Config, chunk: int):
  c = pl.program_id(2)
  a = a_ref[...].astype(jnp.float32)
  bias = bias_ref[...].astype(jnp.float32)

  def step(t, carry):
    h, dsum = carry
    valid = c * chunk + t < cfg.length
    dt, _ = _step_delta(delta_ref[t, :].astype(jnp.float32), bias, valid, cfg.softplus)
    u_t = u_ref[t, :].astype(jnp.float32)
    b_t = b_ref[t, :].astype(jnp.float32)
    h = jnp.exp(dt[:, None] * a) * h + (dt * u_t)[:, None] * b_t[None, :]
    return h, dsum + dt

  h, dsum = jax.lax.fori_loop(
      0, chunk, step, (jnp.zeros(a.shape, jnp.float32),
                       jnp.zeros(bias.shape, jnp.float32)))
  hloc_ref[...] = h
  dsum_ref[...] = dsum


def _fwd_output_kernel(*refs, cfg: _Config):
  if cfg.has_z:
    (u_ref, delta_ref, b_ref, c_ref, z_ref, a_ref, d_ref, bias_ref, h0_ref,
     y_ref) = refs
  else:
    u_ref, delta_ref, b_ref, c_ref, a_ref, d_ref, bias_ref, h0_ref, y_ref = refs
    z_ref = None
  c = pl.program_id(2)
  a = a_ref[...].astype(jnp.float32)
  d_skip = d_ref[...].astype(jnp.float32)
  bias = bias_ref[...].astype(jnp.float32)

  def step(t, h):
    valid = c * cfg.chunk + t < cfg.length
    dt, _ = _step_delta(delta_ref[t, :].astype(jnp.float32), bias, valid, cfg.softplus)
    u_t = u_ref[t, :].astype(jnp.float32)
    h = (jnp.exp(dt[:, None] * a) * h
         + (dt * u_t)[:, None] * b_ref[t, :].astype(jnp.float32)[None, :])
    y = jnp.sum(h * c_ref[t, :].astype(jnp.float32)[None, :], axis=1) + d_skip * u_t
    if z_ref is not None:
      z_t = z_ref[t, :].astype(jnp.float32)
      y = y * z_t * jax.nn.sigmoid(z_t)
    y_ref[t, :] = y.astype(y_ref.dtype)
    return h

  jax.lax.fori_loop(0, cfg.chunk, step, h0_ref[...].astype(jnp.float32))


def _bwd_summary_kernel(*refs, cfg: _Config):
  if cfg.has_z:
    delta_ref, c_ref, dy_ref, z_ref, a_ref, bias_ref, gloc_ref = refs
  else:
    delta_ref, c_ref, dy_ref, a_ref, bias_ref, gloc_ref = refs
    z_ref = None
  c = pl.program_id(2)
  a = a_ref[...].astype(jnp.float32)
  bias = bias_ref[...].astype(jnp.float32)

  def step(i, carry):
    t = cfg.bwd_chunk - 1 - i
    valid = c * cfg.bwd_chunk + t < cfg.length
    dt, _ = _step_delta(delta_ref[t, :].astype(jnp.float32), bias, valid, cfg.softplus)
    dyy = dy_ref[t, :].astype(jnp.float32)
    if z_ref is not None:
      z_t = z_ref[t, :].astype(jnp.float32)
      dyy = dyy * z_t * jax.nn.sigmoid(z_t)
    g = carry + dyy[:, None] * c_ref[t, :].astype(jnp.float32)[None, :]
    return jnp.exp(dt[:, None] * a) * g

  gloc_ref[...] = jax.lax.fori_loop(0, cfg.bwd_chunk, step,
                                    jnp.zeros(a.shape, jnp.float32))


def _bwd_main_kernel(*refs, cfg: _Config):
  if cfg.has_z:
    (u_ref, delta_ref, b_ref, c_ref, z_ref, dy_ref, a_ref, d_ref, bias_ref, h0_ref,
     gin_ref, du_ref, ddelta_ref, dz_ref, db_ref, dc_ref, da_ref, dd_ref) = refs
  else:
    (u_ref, delta_ref, b_ref, c_ref, dy_ref, a_ref, d_ref, bias_ref, h0_ref,
     gin_ref, du_ref, ddelta_ref, db_ref, dc_ref, da_ref, dd_ref) = refs
    z_ref = dz_ref = None
  chunk = cfg.bwd_chunk
  c = pl.program_id(2)
  a = a_ref[...].astype(jnp.float32)
  d_skip = d_ref[...].astype(jnp.float32)
  bias = bias_ref[...].astype(jnp.float32)
  h_start = h0_ref[...].astype(jnp.float32)
  rows = jax.lax.broadcasted_iota(jnp.int32, (chunk, 1, 1), 0)

  def load(t):
    valid = c * chunk + t < cfg.length
    dt, pre = _step_delta(delta_ref[t, :].astype(jnp.float32), bias, valid,
                          cfg.softplus)
    return (valid, dt, pre, u_ref[t, :].astype(jnp.float32),
            b_ref[t, :].astype(jnp.float32))

  # Forward sweep: the chunk's states go into a register tile; a masked select is
  # the only dynamic indexing Triton offers into registers.
  def fwd_step(t, carry):
    h, tile = carry
    _, dt, _, u_t, b_t = load(t)
    h = jnp.exp(dt[:, None] * a) * h + (dt * u_t)[:, None] * b_t[None, :]
    return h, jnp.where(rows == t, h[None], tile)

  _, tile = jax.lax.fori_loop(
      0, chunk, fwd_step,
      (h_start, jnp.zeros((chunk,) + h_start.shape, jnp.float32)))

  def row(t):
    return jnp.sum(jnp.where(rows == t, tile, 0.0), axis=0)

  def bwd_step(i, carry):
    g_next, da_acc, dd_acc = carry
    t = chunk - 1 - i
    valid, dt, pre, u_t, b_t = load(t)
    c_t = c_ref[t, :].astype(jnp.float32)
    h_t = row(t)
    h_prev = jnp.where(t == 0, h_start, row(t - 1))
    dy = dy_ref[t, :].astype(jnp.float32)
    if z_ref is not None:
      z_t = z_ref[t, :].astype(jnp.float32)
      sig = jax.nn.sigmoid(z_t)
      y_pre = jnp.sum(h_t * c_t[None, :], axis=1) + d_skip * u_t
      dz_ref[t, :] = (dy * y_pre * sig * (1.0 + z_t * (1.0 - sig))).astype(dz_ref.dtype)
      dy = dy * z_t * sig
    dd_acc = dd_acc + dy * u_t
    dc_ref[t, :] = jnp.sum(dy[:, None] * h_t, axis=0)
    g = g_next + dy[:, None] * c_t[None, :]       # adjoint of h_t
    decay = jnp.exp(dt[:, None] * a)
    d_dt = jnp.sum(g * (h_prev * decay * a + u_t[:, None] * b_t[None, :]), axis=1)
    du_ref[t, :] = (dy * d_skip + dt * jnp.sum(g * b_t[None, :], axis=1)
                    ).astype(du_ref.dtype)
    db_ref[t, :] = jnp.sum(g * (dt * u_t)[:, None], axis=0)
    da_acc = da_acc + g * h_prev * decay * dt[:, None]
    if cfg.softplus:
      d_dt = d_dt * jax.nn.sigmoid(pre)
    ddelta_ref[t, :] = jnp.where(valid, d_dt, 0.0).astype(ddelta_ref.dtype)
    return decay * g, da_acc, dd_acc

  _, da_acc, dd_acc = jax.lax.fori_loop(
      0, chunk, bwd_step,
      (gin_ref[...].astype(jnp.float32), jnp.zeros(a.shape, jnp.float32),
       jnp.zeros(d_skip.shape, jnp.float32)))
  da_ref[...] = da_acc
  dd_ref[...] = dd_acc


# ----------------------------------------------------------------------------- specs


def _seq_spec(chunk, block):       # (b, Lp, d) -> (chunk, bd)
  return pl.BlockSpec((None, chunk, block), lambda i, j, c: (i, c, j))


def _bc_spec(chunk, n, block, dg):  # (b, Lp, G, N) -> (chunk, N) of the block's group
  per_group = dg // block
  return pl.BlockSpec((None, chunk, None, n), lambda i, j, c: (i, c, j // per_group, 0))


def _chan_spec(block, n=None):     # (d, N) -> (bd, N); (d,) -> (bd,)
  if n is None:
    return pl.BlockSpec((block,), lambda i, j, c: (j,))
  return pl.BlockSpec((block, n), lambda i, j, c: (j, 0))


def _state_spec(block, n):         # (b, nc, d, N) -> (bd, N)
  return pl.BlockSpec((None, None, block, n), lambda i, j, c: (i, c, j, 0))


def _chunk_vec_spec(block):        # (b, nc, d) -> (bd,)
  return pl.BlockSpec((None, None, block), lambda i, j, c: (i, c, j))


def _partial_spec(chunk, n):       # (b, Lp, nblocks, N) -> (chunk, N)
  return pl.BlockSpec((None, chunk, None, n), lambda i, j, c: (i, c, j, 0))


# ----------------------------------------------------------------------------- phases


def _chunk_states(cfg: _Config, chunk: int, block: int, u, delta, B, A, bias, h0):
  """States entering every chunk (b, nc, d, N) and the final state (b, d, N)."""
  b, lp, d = u.shape
  n = A.shape[1]
  nc = lp // chunk
  grid = (b, d // block, nc)
  hloc, dsum = pl.pallas_call(
      functools.partial(_fwd_summary_kernel, cfg=cfg, chunk=chunk),
      grid=grid,
      in_specs=[_seq_spec(chunk, block), _seq_spec(chunk, block),
                _bc_spec(chunk, n, block, d // cfg.groups), _chan_spec(block, n),
                _chan_spec(block)],
      out_specs=[_state_spec(block, n), _chunk_vec_spec(block)],
      out_shape=[jax.ShapeDtypeStruct((b, nc, d, n), jnp.float32),
                 jax.ShapeDtypeStruct((b, nc, d), jnp.float32)],
      interpret=cfg.interpret, compiler_params=_compiler_params(cfg),
      name="selective_scan_fwd_summary",
  )(u, delta, B, A, bias)
  transfer = jnp.exp(dsum[..., None] * A.astype(jnp.float32))   # (b, nc, d, N)
  hloc = hloc.at[:, 0].add(transfer[:, 0] * h0)
  _, h_end = jax.lax.associative_scan(_common.combine, (transfer, hloc), axis=1)
  h_start = jnp.concatenate([h0[:, None], h_end[:, :-1]], axis=1)
  return h_start, h_end[:, -1], transfer


def _forward(cfg: _Config, u, delta, A, B, C, D, z, bias, h0):
  b, lp, d = u.shape
  n = A.shape[1]
  h_start, h_last, _ = _chunk_states(cfg, cfg.chunk, cfg.block, u, delta, B, A, bias,
                                     h0)
  seq, bc = _seq_spec(cfg.chunk, cfg.block), _bc_spec(cfg.chunk, n, cfg.block,
                                                       d // cfg.groups)
  in_specs = [seq, seq, bc, bc] + ([seq] if cfg.has_z else []) + [
      _chan_spec(cfg.block, n), _chan_spec(cfg.block), _chan_spec(cfg.block),
      _state_spec(cfg.block, n)]
  args = [u, delta, B, C] + ([z] if cfg.has_z else []) + [A, D, bias, h_start]
  y = pl.pallas_call(
      functools.partial(_fwd_output_kernel, cfg=cfg),
      grid=(b, d // cfg.block, lp // cfg.chunk),
      in_specs=in_specs, out_specs=seq,
      out_shape=jax.ShapeDtypeStruct((b, lp, d), u.dtype),
      interpret=cfg.interpret, compiler_params=_compiler_params(cfg),
      name="selective_scan_fwd_output",
  )(*args)
  return y, h_last


def _backward(cfg: _Config, u, delta, A, B, C, D, z, bias, h0, dy, dh_last):
  b, lp, d = u.shape
  n = A.shape[1]
  chunk, block = cfg.bwd_chunk, cfg.bwd_block
  nc, nblocks = lp // chunk, d // block
  grid = (b, nblocks, nc)
  h_start, _, transfer = _chunk_states(cfg, chunk, block, u, delta, B, A, bias, h0)
  seq, bc = _seq_spec(chunk, block), _bc_spec(chunk, n, block, d // cfg.groups)
  zs = [z] if cfg.has_z else []
  z_specs = [seq] if cfg.has_z else []

  gloc = pl.pallas_call(
      functools.partial(_bwd_summary_kernel, cfg=cfg),
      grid=grid,
      in_specs=[seq, bc, seq] + z_specs + [_chan_spec(block, n), _chan_spec(block)],
      out_specs=_state_spec(block, n),
      out_shape=jax.ShapeDtypeStruct((b, nc, d, n), jnp.float32),
      interpret=cfg.interpret, compiler_params=_compiler_params(cfg),
      name="selective_scan_bwd_summary",
  )(delta, C, dy, *zs, A, bias)
  # Adjoint of the state entering chunk c: q[c] = transfer[c] q[c+1] + gloc[c],
  # q[nc] = dh_last; a forward recurrence on the reversed chunk order.
  gloc = gloc.at[:, -1].add(transfer[:, -1] * dh_last)
  _, q_rev = jax.lax.associative_scan(
      _common.combine, (transfer[:, ::-1], gloc[:, ::-1]), axis=1)
  q = q_rev[:, ::-1]
  arriving = jnp.concatenate([q[:, 1:], dh_last[:, None]], axis=1)
  dh0 = q[:, 0]

  out_shape = [jax.ShapeDtypeStruct(u.shape, u.dtype),
               jax.ShapeDtypeStruct(delta.shape, delta.dtype)]
  out_specs = [seq, seq]
  if cfg.has_z:
    out_shape.append(jax.ShapeDtypeStruct(z.shape, z.dtype))
    out_specs.append(seq)
  out_shape += [jax.ShapeDtypeStruct((b, lp, nblocks, n), jnp.float32)] * 2 + [
      jax.ShapeDtypeStruct((b, nc, d, n), jnp.float32),
      jax.ShapeDtypeStruct((b, nc, d), jnp.float32)]
  out_specs += [_partial_spec(chunk, n)] * 2 + [_state_spec(block, n),
                                                _chunk_vec_spec(block)]
  outs = pl.pallas_call(
      functools.partial(_bwd_main_kernel, cfg=cfg),
      grid=grid,
      in_specs=[seq, seq, bc, bc] + z_specs + [seq, _chan_spec(block, n),
                                              _chan_spec(block), _chan_spec(block),
                                              _state_spec(block, n),
                                              _state_spec(block, n)],
      out_specs=out_specs, out_shape=out_shape,
      interpret=cfg.interpret, compiler_params=_compiler_params(cfg),
      name="selective_scan_bwd",
  )(u, delta, B, C, *zs, dy, A, D, bias, h_start, arriving)
  if cfg.has_z:
    du, ddelta, dz, db_part, dc_part, da_part, dd_part = outs
  else:
    du, ddelta, db_part, dc_part, da_part, dd_part = outs
    dz = None
  per_group = nblocks // cfg.groups
  group_sum = lambda x: x.reshape(b, lp, cfg.groups, per_group, n).sum(3)
  dB = group_sum(db_part).astype(B.dtype)
  dC = group_sum(dc_part).astype(C.dtype)
  dA = da_part.sum((0, 1)).astype(A.dtype)
  dD = dd_part.sum((0, 1)).astype(D.dtype)
  dbias = ddelta.astype(jnp.float32).sum((0, 1)).astype(bias.dtype)
  return du, ddelta, dA, dB, dC, dD, dz, dbias, dh0.astype(h0.dtype)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _scan(cfg, u, delta, A, B, C, D, z, bias, h0):
  return _forward(cfg, u, delta, A, B, C, D, z, bias, h0)


def _scan_fwd(cfg, u, delta, A, B, C, D, z, bias, h0):
  return (_forward(cfg, u, delta, A, B, C, D, z, bias, h0),
          (u, delta, A, B, C, D, z, bias, h0))


def _scan_bwd(cfg, residuals, cotangents):
  dy, dh_last = cotangents
  return _backward(cfg, *residuals, dy, dh_last.astype(jnp.float32))


_scan.defvjp(_scan_fwd, _scan_bwd)


def scan(u, delta, A, B, C, D, z, delta_bias, delta_softplus, initial_state,
         chunk_size, *, interpret: bool = False, bwd_chunk_size: int | None = None,
         block_channels: int = DEFAULT_BLOCK_CHANNELS,
         bwd_block_channels: int = DEFAULT_BWD_BLOCK_CHANNELS,
         num_warps: int = 4, num_stages: int = 1):
  """The ``selective_scan`` contract (validated arguments) on Pallas kernels.

  ``chunk_size`` (forward) and ``bwd_chunk_size`` are rounded up to powers of two;
  the channel blocks, ``num_warps`` and ``num_stages`` are the settings the
  on-device check tunes (``experiments.check_gpu --parts=tune``).
  Returns y (b, L, d) in u's dtype and the final state (b, d, N) in float32.
  """
  b, length, d = u.shape
  n = A.shape[1]
  groups = B.shape[2]
  dg = d // groups
  chunk = _next_pow2(min(chunk_size or DEFAULT_CHUNK_SIZE, _next_pow2(length)))
  bwd_chunk = _next_pow2(min(bwd_chunk_size or DEFAULT_BWD_CHUNK_SIZE, chunk))
  cfg = _Config(length=length, chunk=chunk, bwd_chunk=bwd_chunk,
                block=_pow2_floor_divisor(dg, block_channels),
                bwd_block=_pow2_floor_divisor(dg, bwd_block_channels),
                groups=groups, softplus=bool(delta_softplus), has_z=z is not None,
                interpret=interpret, num_warps=num_warps, num_stages=num_stages)
  lp = -(-length // chunk) * chunk
  np_ = _next_pow2(n)
  f32 = jnp.float32

  def pad_time(x):
    if x is None or lp == length:
      return x
    return jnp.pad(x, [(0, 0), (0, lp - length)] + [(0, 0)] * (x.ndim - 2))

  def pad_state(x):
    return x if np_ == n else jnp.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, np_ - n)])

  D = jnp.zeros((d,), f32) if D is None else D
  delta_bias = jnp.zeros((d,), f32) if delta_bias is None else delta_bias
  h0 = (jnp.zeros((b, d, np_), f32) if initial_state is None
        else pad_state(initial_state.astype(f32)))
  y, h_last = _scan(cfg, pad_time(u), pad_time(delta), pad_state(A),
                    pad_state(pad_time(B)), pad_state(pad_time(C)), D, pad_time(z),
                    delta_bias, h0)
  return y[:, :length], h_last[..., :n]


def can_run() -> bool:
  """True on CUDA GPUs the Triton lowering supports (compute capability >= 8.0)."""
  try:
    device = jax.devices()[0]
  except RuntimeError:
    return False
  if device.platform != "gpu":
    return False
  capability = getattr(device, "compute_capability", None)
  try:
    major = int(str(capability).split(".", maxsplit=1)[0])
  except ValueError:
    return False
  return major >= 8
