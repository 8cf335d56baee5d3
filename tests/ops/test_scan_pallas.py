"""The Pallas selective-scan kernels: interpreted on CPU, compiled where a GPU exists."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sasmamba_jax.ops import dispatch
from sasmamba_jax.ops import scan_pallas
from sasmamba_jax.ops import selective_scan
from tests.ops.scan_reference import make_inputs
from tests.ops.scan_reference import numpy_scan

GRAD_ARGS = ("u", "delta", "A", "B", "C", "D", "z", "delta_bias", "initial_state")


def _value_and_grads(impl, args, weights, **kwargs):
  def loss(a):
    y, h = selective_scan(**a, delta_softplus=True, return_final_state=True,
                          impl=impl, **kwargs)
    return jnp.sum(y.astype(jnp.float32) * weights[0]) + jnp.sum(h * weights[1]), (y, h)
  return jax.jit(jax.value_and_grad(loss, has_aux=True))(args)


def _check_against_sequential(impl, args, **kwargs):
  args = {k: jnp.asarray(v) for k, v in args.items()}
  rng = np.random.default_rng(0)
  b, _, d = args["u"].shape
  n = args["A"].shape[1]
  weights = (jnp.asarray(rng.normal(size=args["u"].shape), jnp.float32),
             jnp.asarray(rng.normal(size=(b, d, n)), jnp.float32))
  (_, (y, h)), grads = _value_and_grads(impl, args, weights, **kwargs)
  (_, (y_ref, h_ref)), ref = _value_and_grads("sequential", args, weights)
  tol = 2e-2 if args["u"].dtype == jnp.bfloat16 else 2e-5
  np.testing.assert_allclose(np.asarray(y, np.float32), np.asarray(y_ref, np.float32),
                             atol=tol * float(jnp.abs(y_ref.astype(jnp.float32)).max()))
  np.testing.assert_allclose(h, h_ref, atol=2e-5 * float(jnp.abs(h_ref).max()))
  assert y.dtype == args["u"].dtype and h.dtype == jnp.float32
  for name in args:
    g, g_ref = (np.asarray(x[name], np.float32) for x in (grads, ref))
    assert grads[name].dtype == args[name].dtype, name
    np.testing.assert_allclose(g, g_ref, atol=(50 * tol) * np.abs(g_ref).max() + 1e-12,
                               rtol=0, err_msg=f"d loss / d {name}")


@pytest.mark.parametrize("length,groups,chunk", [
    (1, 1, 64),     # a single step
    (37, 4, 8),     # odd length, padded tail, 4 groups -> several channel blocks
    (50, 1, 16),    # chunk boundaries inside; one group
])
def test_forward_and_gradients_match_sequential(length, groups, chunk):
  args = make_inputs(length + groups, 2, length, 16, 4, groups, with_state=True)
  _check_against_sequential("pallas_interpret", args, chunk_size=chunk)


def test_without_optional_inputs_and_odd_state_size():
  # N = 3 exercises the power-of-two padding of the state; no D, z, bias, state.
  args = make_inputs(2, 1, 21, 8, 3, 2, with_d=False, with_z=False, with_bias=False)
  y, h = selective_scan(**args, delta_softplus=True, return_final_state=True,
                        impl="pallas_interpret", chunk_size=8)
  y_ref, h_ref = numpy_scan(**args, delta_softplus=True)
  np.testing.assert_allclose(y, y_ref, atol=2e-5 * np.abs(y_ref).max())
  np.testing.assert_allclose(h, h_ref, atol=2e-5 * np.abs(h_ref).max())


def test_no_softplus_matches_numpy():
  args = make_inputs(4, 1, 19, 8, 4, 1)
  args["delta"] = np.abs(args["delta"])
  args.pop("delta_bias")
  y = selective_scan(**args, impl="pallas_interpret", chunk_size=4)
  y_ref, _ = numpy_scan(**args)
  np.testing.assert_allclose(y, y_ref, atol=2e-5 * np.abs(y_ref).max())


def test_bfloat16_inputs():
  args = make_inputs(8, 2, 24, 16, 4, 4, with_state=True)
  args = {k: np.asarray(jnp.asarray(v, jnp.bfloat16)) if k != "initial_state" else v
          for k, v in args.items()}
  _check_against_sequential("pallas_interpret", args, chunk_size=8)


def test_chaining_through_state():
  args = make_inputs(6, 1, 30, 8, 4, 2, with_state=True)
  run = functools.partial(selective_scan, delta_softplus=True, return_final_state=True,
                          impl="pallas_interpret", chunk_size=8)
  y_full, h_full = run(**args)
  cut = 13
  part = lambda sl: {k: (v[:, sl] if k in ("u", "delta", "B", "C", "z") else v)
                     for k, v in args.items()}
  y1, h1 = run(**part(slice(None, cut)))
  y2, h2 = run(**dict(part(slice(cut, None)), initial_state=h1))
  np.testing.assert_allclose(np.concatenate([y1, y2], 1), y_full, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(h2, h_full, rtol=1e-5, atol=1e-5)


def test_auto_falls_back_without_gpu():
  if scan_pallas.can_run():
    pytest.skip("a GPU the kernel supports is present")
  assert dispatch.resolve_impl("auto") != "pallas"
  with pytest.raises(ValueError, match="impl 'pallas' cannot run on the cpu backend"):
    selective_scan(**make_inputs(0, 1, 4, 4, 2, 1), impl="pallas")


@pytest.mark.gpu
@pytest.mark.skipif(not scan_pallas.can_run(),
                    reason="compiled Pallas kernels need a CUDA GPU with compute "
                           "capability >= 8.0")
@pytest.mark.parametrize("length,groups", [(37, 4), (4131, 4)])
def test_compiled_kernel_matches_sequential(length, groups):
  args = make_inputs(length, 2, length, 64, 16, groups, with_state=True)
  _check_against_sequential("pallas", args)
