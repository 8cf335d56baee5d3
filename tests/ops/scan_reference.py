"""Independent NumPy reference and input factory shared by the scan tests."""

from __future__ import annotations

import jax
import numpy as np


def x64():
  """Context manager enabling float64 (its home moved between JAX releases)."""
  if hasattr(jax, "enable_x64"):
    return jax.enable_x64(True)
  from jax.experimental import enable_x64  # pylint: disable=g-import-not-at-top
  return enable_x64()


def numpy_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None,
               delta_softplus=False, initial_state=None):
  """Float64 loop over time written from the equations, not from the library."""
  u, delta, A, B, C = (np.asarray(x, np.float64) for x in (u, delta, A, B, C))
  b, length, d = u.shape
  groups = B.shape[2]
  group_of = np.arange(d) // (d // groups)
  if delta_bias is not None:
    delta = delta + np.asarray(delta_bias, np.float64)
  if delta_softplus:
    delta = np.logaddexp(0.0, delta)
  h = (np.zeros((b, d, A.shape[1])) if initial_state is None
       else np.asarray(initial_state, np.float64).copy())
  y = np.zeros((b, length, d))
  for t in range(length):
    b_t = B[:, t][:, group_of]          # (b, d, N)
    c_t = C[:, t][:, group_of]
    h = np.exp(delta[:, t, :, None] * A) * h + (delta[:, t] * u[:, t])[..., None] * b_t
    y[:, t] = np.sum(c_t * h, axis=-1)
  if D is not None:
    y = y + np.asarray(D, np.float64) * u
  if z is not None:
    z = np.asarray(z, np.float64)
    y = y * z / (1 + np.exp(-z))
  return y, h


def make_inputs(seed, b, length, d, n, groups, *, with_d=True, with_z=True,
                with_bias=True, with_state=False, dtype=np.float32):
  rng = np.random.default_rng(seed)
  args = dict(
      u=rng.normal(size=(b, length, d)),
      delta=rng.normal(size=(b, length, d)) * 0.5,
      A=-np.exp(rng.normal(size=(d, n)) * 0.5),
      B=rng.normal(size=(b, length, groups, n)),
      C=rng.normal(size=(b, length, groups, n)),
  )
  if with_d:
    args["D"] = rng.normal(size=(d,))
  if with_z:
    args["z"] = rng.normal(size=(b, length, d))
  if with_bias:
    args["delta_bias"] = rng.normal(size=(d,)) * 0.5
  if with_state:
    args["initial_state"] = rng.normal(size=(b, d, n))
  return {k: np.asarray(v, dtype) for k, v in args.items()}
