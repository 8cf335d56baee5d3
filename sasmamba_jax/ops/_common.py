"""Pieces shared by the pure-JAX selective-scan implementations.

Internal layout: channels are split as (G, dg) with ``dg = channels // G`` so that a
group's B/C broadcast over its channels without materialising a per-channel copy.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def compute_dtype(*dtypes) -> jnp.dtype:
  """float32 for 16/32-bit inputs, float64 when any input is float64 (x64 mode)."""
  return jnp.result_type(jnp.float32, *dtypes)


def prepare_delta(delta: jax.Array, delta_bias: jax.Array | None,
                  delta_softplus: bool, dtype) -> jax.Array:
  """(b, L, d) -> (b, L, d) in ``dtype``: add the bias, then softplus if asked."""
  delta = delta.astype(dtype)
  if delta_bias is not None:
    delta = delta + delta_bias.astype(dtype)
  if delta_softplus:
    delta = jax.nn.softplus(delta)
  return delta


def discretize(u: jax.Array, delta: jax.Array, A: jax.Array, B: jax.Array
               ) -> tuple[jax.Array, jax.Array]:
  """Per-step transition and input of the recurrence ``h = dA * h + dBu``.

  Args:
    u, delta: (..., G, dg), delta already biased/softplussed, float32.
    A: (G, dg, N).
    B: (..., G, N).

  Returns:
    dA = exp(delta * A) and dBu = delta * u * B, both (..., G, dg, N). With A <= 0
    every dA lies in (0, 1], so products of them never overflow.
  """
  dA = jnp.exp(delta[..., None] * A)
  dBu = (delta * u)[..., None] * B[..., None, :]
  return dA, dBu


def readout(h: jax.Array, C: jax.Array) -> jax.Array:
  """y = sum_n C[n] h[n]: h (..., G, dg, N), C (..., G, N) -> (..., G, dg)."""
  return jnp.sum(h * C[..., None, :], axis=-1)


def split_groups(x: jax.Array, groups: int) -> jax.Array:
  """(..., d) -> (..., G, d // G)."""
  return x.reshape(*x.shape[:-1], groups, x.shape[-1] // groups)


def merge_groups(x: jax.Array) -> jax.Array:
  """(..., G, dg) -> (..., G * dg)."""
  return x.reshape(*x.shape[:-2], x.shape[-2] * x.shape[-1])


def combine(left: tuple[jax.Array, jax.Array], right: tuple[jax.Array, jax.Array]
            ) -> tuple[jax.Array, jax.Array]:
  """Associative operator of the linear recurrence: apply ``left`` then ``right``."""
  a_l, b_l = left
  a_r, b_r = right
  return a_l * a_r, a_r * b_l + b_r
