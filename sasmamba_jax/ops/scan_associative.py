"""Parallel selective scan with ``jax.lax.associative_scan`` over the whole sequence.

Fast on accelerators for short sequences, but materialises (b, L, d, N) transition
and state arrays (and more in the backward pass): memory grows with L * N.
"""

from __future__ import annotations

import jax

from sasmamba_jax.ops import _common


def scan(u: jax.Array, delta: jax.Array, A: jax.Array, B: jax.Array, C: jax.Array,
         h0: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Same contract as ``scan_sequential.scan``."""
  dA, dBu = _common.discretize(u, delta, A, B)
  # Fold the initial state into the first input: h_0 = dA_0 h_{-1} + dBu_0.
  dBu = dBu.at[:, 0].add(dA[:, 0] * h0)
  _, h = jax.lax.associative_scan(_common.combine, (dA, dBu), axis=1)
  return _common.readout(h, C), h[:, -1]
