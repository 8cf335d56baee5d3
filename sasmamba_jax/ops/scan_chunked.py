"""Chunked selective scan: parallel inside fixed-size chunks, sequential across them.

The sequence is cut into chunks of ``chunk_size`` steps. Inside a chunk the
recurrence runs as an ``associative_scan`` (log-depth, parallel); a ``lax.scan``
carries the (b, d, N) state from one chunk to the next. Each chunk body is wrapped in
``jax.checkpoint``, so the backward pass keeps only the chunk-boundary states and the
inputs, and recomputes the (b, chunk, d, N) intermediates of one chunk at a time:
memory is O(b * L * d + b * chunk * d * N) instead of O(b * L * d * N).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from sasmamba_jax.ops import _common

DEFAULT_CHUNK_SIZE = 32  # fastest fwd+bwd on CPU (benchmarks/results)


def scan(u: jax.Array, delta: jax.Array, A: jax.Array, B: jax.Array, C: jax.Array,
         h0: jax.Array, chunk_size: int = DEFAULT_CHUNK_SIZE
         ) -> tuple[jax.Array, jax.Array]:
  """Same contract as ``scan_sequential.scan``; ``chunk_size`` steps per chunk."""
  b, length = u.shape[:2]
  chunk_size = max(1, min(chunk_size, length))
  num_chunks = -(-length // chunk_size)
  pad = num_chunks * chunk_size - length
  if pad:
    # delta = 0 makes a padded step the identity (dA = 1, dBu = 0), so the final
    # state is that of the last real step.
    widths = lambda x: [(0, 0), (0, pad)] + [(0, 0)] * (x.ndim - 2)
    u, delta, B, C = (jnp.pad(x, widths(x)) for x in (u, delta, B, C))

  def to_chunks(x):  # (b, L, ...) -> (num_chunks, b, chunk, ...)
    x = x.reshape(b, num_chunks, chunk_size, *x.shape[2:])
    return jnp.moveaxis(x, 1, 0)

  @jax.checkpoint
  def chunk_step(h, xs):
    u_c, delta_c, b_c, c_c = xs
    dA, dBu = _common.discretize(u_c, delta_c, A, b_c)
    dBu = dBu.at[:, 0].add(dA[:, 0] * h)
    _, hs = jax.lax.associative_scan(_common.combine, (dA, dBu), axis=1)
    return hs[:, -1], _common.readout(hs, c_c)

  h_last, ys = jax.lax.scan(chunk_step, h0, [to_chunks(x) for x in (u, delta, B, C)])
  ys = jnp.moveaxis(ys, 0, 1).reshape(b, num_chunks * chunk_size, *ys.shape[3:])
  return ys[:, :length], h_last
