"""Sequential selective scan: one ``lax.scan`` step per time step (the reference)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from sasmamba_jax.ops import _common


def scan(u: jax.Array, delta: jax.Array, A: jax.Array, B: jax.Array, C: jax.Array,
         h0: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Runs ``h_t = dA_t h_{t-1} + dBu_t; y_t = C_t . h_t`` step by step.

  Args:
    u, delta: (b, L, G, dg) in the compute dtype (delta ready to use).
    A: (G, dg, N).
    B, C: (b, L, G, N).
    h0: (b, G, dg, N) state before the first step.

  Returns:
    y (b, L, G, dg) and the final state (b, G, dg, N).
  """
  def step(h, xs):
    u_t, delta_t, b_t, c_t = xs
    dA, dBu = _common.discretize(u_t, delta_t, A, b_t)
    h = dA * h + dBu
    return h, _common.readout(h, c_t)

  time_major = [jnp.moveaxis(x, 1, 0) for x in (u, delta, B, C)]
  h_last, ys = jax.lax.scan(step, h0, time_major)
  return jnp.moveaxis(ys, 0, 1), h_last
