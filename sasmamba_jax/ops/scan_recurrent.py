"""Sequential selective scan with a hand-written backward pass (``jax.custom_vjp``).

Autodiff of a ``lax.scan`` stores every step's intermediates and runs a generic
reverse loop; on CPU that backward costs about ten forwards. This implementation
keeps the forward recurrence, saves only the state entering each chunk of
``chunk_size`` steps, and in the backward pass walks the chunks in reverse: it
recomputes the chunk's states, then runs the adjoint recurrence

  g_t = dL/dh_t = C_t * dy_t + exp(delta_{t+1} A) g_{t+1}

and reads every gradient off (g_t, h_t, h_{t-1}). Memory is O(b L d + b (L/chunk) d N
+ b chunk d N) in both passes. The same algorithm runs inside the Pallas kernel.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from sasmamba_jax.ops import _common

DEFAULT_CHUNK_SIZE = 32  # fastest on CPU at the quickstart shape (16..512 tried)


def _chunked(x: jax.Array, chunk: int) -> jax.Array:
  """(b, Lp, ...) -> (nc, chunk, b, ...): chunk-major, time-major inside."""
  b, lp = x.shape[:2]
  x = x.reshape(b, lp // chunk, chunk, *x.shape[2:])
  return jnp.moveaxis(x, 0, 2)


def _unchunked(x: jax.Array) -> jax.Array:
  """(nc, chunk, b, ...) -> (b, nc * chunk, ...)."""
  nc, chunk, b = x.shape[:3]
  return jnp.moveaxis(x, 2, 0).reshape(b, nc * chunk, *x.shape[3:])


def _step(A, h, xs):
  u_t, delta_t, b_t, c_t = xs
  dA, dBu = _common.discretize(u_t, delta_t, A, b_t)
  h = dA * h + dBu
  return h, (h, _common.readout(h, c_t))


@functools.partial(jax.custom_vjp, nondiff_argnums=(6,))
def _scan(u, delta, A, B, C, h0, chunk):
  y, h_last, _ = _forward(u, delta, A, B, C, h0, chunk)
  return y, h_last


def _forward(u, delta, A, B, C, h0, chunk):
  xs = [_chunked(x, chunk) for x in (u, delta, B, C)]

  def chunk_body(h, xs_c):
    h_end, (_, y) = jax.lax.scan(functools.partial(_step, A), h, xs_c)
    return h_end, (h, y)

  h_last, (h_starts, ys) = jax.lax.scan(chunk_body, h0, xs)
  return _unchunked(ys), h_last, h_starts


def _scan_fwd(u, delta, A, B, C, h0, chunk):
  y, h_last, h_starts = _forward(u, delta, A, B, C, h0, chunk)
  return (y, h_last), (u, delta, A, B, C, h_starts)


def _scan_bwd(chunk, residuals, cotangents):
  u, delta, A, B, C, h_starts = residuals
  dy, dh_last = cotangents
  xs = [_chunked(x, chunk) for x in (u, delta, B, C, dy)]

  def chunk_body(carry, inputs):
    g_next, dA_acc = carry            # adjoint arriving at this chunk's last state
    h_start, (u_c, delta_c, b_c, c_c, dy_c) = inputs
    _, (hs, _) = jax.lax.scan(functools.partial(_step, A), h_start,
                              (u_c, delta_c, b_c, c_c))
    h_prevs = jnp.concatenate([h_start[None], hs[:-1]], axis=0)

    def step_back(carry, x):
      g_next, dA_acc = carry
      u_t, delta_t, b_t, c_t, dy_t, h_t, h_prev = x
      g = g_next + dy_t[..., None] * c_t[..., None, :]          # dL/dh_t
      decay = jnp.exp(delta_t[..., None] * A)
      gh = g * h_prev * decay                                    # dL/d(dA_t) * dA_t
      d_delta = (jnp.sum(gh * A, -1)
                 + u_t * jnp.sum(g * b_t[..., None, :], -1))
      d_u = delta_t * jnp.sum(g * b_t[..., None, :], -1)
      d_b = jnp.sum(g * (delta_t * u_t)[..., None], -2)
      d_c = jnp.sum(dy_t[..., None] * h_t, -2)
      return (decay * g, dA_acc + gh * delta_t[..., None]), (d_u, d_delta, d_b, d_c)

    (g_first, dA_acc), grads = jax.lax.scan(
        step_back, (g_next, dA_acc),
        (u_c, delta_c, b_c, c_c, dy_c, hs, h_prevs), reverse=True)
    return (g_first, dA_acc), grads

  (dh0, dA_full), (du, ddelta, dB, dC) = jax.lax.scan(
      chunk_body, (dh_last, jnp.zeros(dh_last.shape, dh_last.dtype)),
      (h_starts, xs), reverse=True)
  return (_unchunked(du), _unchunked(ddelta), dA_full.sum(0), _unchunked(dB),
          _unchunked(dC), dh0)


_scan.defvjp(_scan_fwd, _scan_bwd)


def scan(u: jax.Array, delta: jax.Array, A: jax.Array, B: jax.Array, C: jax.Array,
         h0: jax.Array, chunk_size: int = DEFAULT_CHUNK_SIZE
         ) -> tuple[jax.Array, jax.Array]:
  """Same contract as ``scan_sequential.scan`` (grouped layout, ready delta)."""
  length = u.shape[1]
  chunk = max(1, min(chunk_size, length))
  pad = -length % chunk
  if pad:
    # delta = 0 makes a padded step the identity (dA = 1, dBu = 0).
    widths = lambda x: [(0, 0), (0, pad)] + [(0, 0)] * (x.ndim - 2)
    u, delta, B, C = (jnp.pad(x, widths(x)) for x in (u, delta, B, C))
  y, h_last = _scan(u, delta, A, B, C, h0, chunk)
  return y[:, :length], h_last
