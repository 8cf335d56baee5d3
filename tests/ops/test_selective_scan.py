"""selective_scan: every implementation against an independent NumPy loop."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sasmamba_jax.ops import available_impls
from sasmamba_jax.ops import dispatch
from sasmamba_jax.ops import selective_scan
from tests.ops.scan_reference import make_inputs
from tests.ops.scan_reference import numpy_scan
from tests.ops.scan_reference import x64

PURE_JAX_IMPLS = ("sequential", "associative", "chunked", "sequential_vjp")


def run(impl, args, softplus, **kwargs):
  fn = jax.jit(functools.partial(selective_scan, delta_softplus=softplus,
                                 return_final_state=True, impl=impl, **kwargs))
  return fn(**{k: jnp.asarray(v) for k, v in args.items()})


def test_registered_impls():
  assert set(PURE_JAX_IMPLS) <= set(available_impls())


@pytest.mark.parametrize("impl", PURE_JAX_IMPLS + ("auto",))
@pytest.mark.parametrize("length", [1, 7, 243, 4131])
@pytest.mark.parametrize("groups", [1, 4])
@pytest.mark.parametrize("options", ["plain", "full"])
def test_forward_matches_numpy(impl, length, groups, options):
  full = options == "full"
  # Softplus is only skipped in the plain case: there the raw delta must be positive.
  args = make_inputs(length * 10 + groups, 2, length, 8, 4, groups, with_d=full,
                     with_z=full, with_bias=full, with_state=full)
  if not full:
    args["delta"] = np.abs(args["delta"])
  kwargs = {"chunk_size": 16} if impl in ("chunked", "sequential_vjp") else {}
  y, h = run(impl, args, softplus=full, **kwargs)
  y_ref, h_ref = numpy_scan(**args, delta_softplus=full)
  scale = np.abs(y_ref).max()
  np.testing.assert_allclose(np.asarray(y), y_ref, atol=2e-5 * scale, rtol=0)
  np.testing.assert_allclose(np.asarray(h), h_ref, atol=2e-5 * np.abs(h_ref).max(),
                             rtol=0)
  assert y.dtype == jnp.float32 and h.dtype == jnp.float32


@pytest.mark.parametrize("impl", ["chunked", "sequential_vjp"])
@pytest.mark.parametrize("chunk_size", [1, 5, 16, 64, 1000])
def test_any_chunk_size(impl, chunk_size):
  args = make_inputs(3, 1, 50, 4, 3, 2)
  y, h = run(impl, args, softplus=True, chunk_size=chunk_size)
  y_ref, h_ref = numpy_scan(**args, delta_softplus=True)
  np.testing.assert_allclose(np.asarray(y), y_ref, atol=2e-5 * np.abs(y_ref).max())
  np.testing.assert_allclose(np.asarray(h), h_ref, atol=2e-5 * np.abs(h_ref).max())


GRAD_ARGS = ("u", "delta", "A", "B", "C", "D", "z", "delta_bias", "initial_state")


def _loss_fn(impl, weights, **kwargs):
  def loss(args):
    y, h = selective_scan(**args, delta_softplus=True, return_final_state=True,
                          impl=impl, **kwargs)
    return jnp.sum(y * weights[0]) + jnp.sum(h * weights[1])
  return loss


def test_sequential_gradients_match_finite_differences():
  with x64():
    args = make_inputs(11, 2, 9, 4, 3, 2, with_state=True, dtype=np.float64)
    args = {k: jnp.asarray(v) for k, v in args.items()}
    rng = np.random.default_rng(0)
    weights = (jnp.asarray(rng.normal(size=args["u"].shape)),
               jnp.asarray(rng.normal(size=args["initial_state"].shape)))
    loss = jax.jit(_loss_fn("sequential", weights))
    grads = jax.grad(loss)(args)
    eps = 1e-6
    for name in GRAD_ARGS:
      direction = jnp.asarray(rng.normal(size=args[name].shape))
      plus = dict(args, **{name: args[name] + eps * direction})
      minus = dict(args, **{name: args[name] - eps * direction})
      numeric = (loss(plus) - loss(minus)) / (2 * eps)
      analytic = jnp.sum(grads[name] * direction)
      np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8,
                                 err_msg=f"d loss / d {name}")


@pytest.mark.parametrize("impl", ["associative", "chunked", "sequential_vjp"])
@pytest.mark.parametrize("groups", [1, 4])
def test_gradients_match_sequential(impl, groups):
  args = make_inputs(5, 2, 37, 8, 4, groups, with_state=True)
  args = {k: jnp.asarray(v) for k, v in args.items()}
  rng = np.random.default_rng(1)
  weights = (jnp.asarray(rng.normal(size=args["u"].shape), jnp.float32),
             jnp.asarray(rng.normal(size=args["initial_state"].shape), jnp.float32))
  kwargs = {"chunk_size": 8} if impl in ("chunked", "sequential_vjp") else {}
  grads = jax.jit(jax.grad(_loss_fn(impl, weights, **kwargs)))(args)
  ref = jax.jit(jax.grad(_loss_fn("sequential", weights)))(args)
  for name in GRAD_ARGS:
    scale = float(jnp.abs(ref[name]).max())
    np.testing.assert_allclose(grads[name], ref[name], atol=1e-4 * scale, rtol=0,
                               err_msg=f"d loss / d {name} ({impl})")


@pytest.mark.parametrize("impl", PURE_JAX_IMPLS)
def test_vmap_and_grad_under_vmap(impl):
  args = make_inputs(7, 3, 12, 4, 2, 2)
  u = jnp.asarray(args.pop("u"))
  rest = {k: jnp.asarray(v) for k, v in args.items()}
  # vmap over an extra leading axis of u only: each slice is its own batch of 3.
  us = jnp.stack([u, 2 * u])

  def f(u_):
    return selective_scan(u_, **rest, delta_softplus=True, impl=impl)

  batched = jax.jit(jax.vmap(f))(us)
  np.testing.assert_allclose(batched[1], f(2 * u), rtol=1e-5, atol=1e-5)
  g = jax.jit(jax.vmap(jax.grad(lambda u_: jnp.sum(f(u_) ** 2))))(us)
  np.testing.assert_allclose(g[0], jax.grad(lambda u_: jnp.sum(f(u_) ** 2))(u),
                             rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("impl", PURE_JAX_IMPLS)
def test_bfloat16_inputs(impl):
  args = make_inputs(9, 2, 64, 8, 4, 4)
  bf16 = {k: jnp.asarray(v, jnp.bfloat16) for k, v in args.items()}
  y, h = run(impl, bf16, softplus=True)
  assert y.dtype == jnp.bfloat16 and h.dtype == jnp.float32
  # The reference sees exactly the bf16-rounded inputs; the only error left is the
  # final rounding of y to bf16 (float32 accumulation inside).
  y_ref, h_ref = numpy_scan(**{k: np.asarray(v, np.float32) for k, v in bf16.items()},
                            delta_softplus=True)
  np.testing.assert_allclose(np.asarray(y, np.float32), y_ref,
                             atol=1e-2 * np.abs(y_ref).max(), rtol=0)
  np.testing.assert_allclose(np.asarray(h), h_ref, atol=1e-4 * np.abs(h_ref).max())
  g = jax.grad(lambda u: jnp.sum(selective_scan(
      u, bf16["delta"], bf16["A"], bf16["B"], bf16["C"], impl=impl,
      delta_softplus=True).astype(jnp.float32)))(bf16["u"])
  assert g.dtype == jnp.bfloat16 and bool(jnp.all(jnp.isfinite(g.astype(jnp.float32))))


@pytest.mark.parametrize("impl", ["sequential", "chunked", "sequential_vjp"])
def test_long_sequence_is_finite(impl):
  length = 100_000
  args = make_inputs(13, 1, length, 4, 4, 1)
  # Large steps and strong decay push exp(delta * A) towards 0 and the state towards
  # its fixed point: a cumsum-of-logs formulation would overflow here.
  args["delta"] = np.abs(args["delta"]) * 20
  y, h = run(impl, args, softplus=True)
  assert np.all(np.isfinite(np.asarray(y))) and np.all(np.isfinite(np.asarray(h)))
  y_ref, _ = numpy_scan(**{k: v[:, -300:] if k in ("u", "delta", "B", "C", "z") else v
                           for k, v in args.items()}, delta_softplus=True)
  # Decay forgets the distant past: the last steps match a scan of the tail alone.
  np.testing.assert_allclose(np.asarray(y)[:, -50:], y_ref[:, -50:], atol=1e-3,
                             rtol=1e-3)


def test_associative_long_sequence_is_finite():
  args = make_inputs(17, 1, 100_000, 2, 2, 1, with_z=False)
  args["delta"] = np.abs(args["delta"]) * 20
  y, h = run("associative", args, softplus=True)
  assert np.all(np.isfinite(np.asarray(y))) and np.all(np.isfinite(np.asarray(h)))


@pytest.mark.parametrize("impl", PURE_JAX_IMPLS)
def test_chaining_through_state_equals_one_call(impl):
  args = make_inputs(21, 2, 40, 8, 4, 2, with_state=True)
  y_full, h_full = run(impl, args, softplus=True)
  cut = 17
  first = {k: (v[:, :cut] if k in ("u", "delta", "B", "C", "z") else v)
           for k, v in args.items()}
  y1, h1 = run(impl, first, softplus=True)
  second = {k: (v[:, cut:] if k in ("u", "delta", "B", "C", "z") else v)
            for k, v in args.items()}
  second["initial_state"] = np.asarray(h1)
  y2, h2 = run(impl, second, softplus=True)
  np.testing.assert_allclose(np.concatenate([y1, y2], 1), y_full, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(h2, h_full, rtol=1e-5, atol=1e-5)


def test_return_value_without_final_state():
  args = make_inputs(1, 1, 5, 4, 2, 1)
  y = selective_scan(**args, impl="sequential")
  assert isinstance(y, jax.Array) and y.shape == (1, 5, 4)


@pytest.mark.parametrize("change,message", [
    (lambda a: a.update(u=a["u"][0]), r"u must have shape \(batch, L, channels\)"),
    (lambda a: a.update(delta=a["delta"][:, :3]), r"delta must have shape"),
    (lambda a: a.update(A=a["A"][:3]), r"A must have shape \(channels, N\) = \(8, N\)"),
    (lambda a: a.update(B=a["B"][:, :, 0]), r"B must have shape \(batch, L, G, N\)"),
    (lambda a: a.update(C=a["C"][..., :2]), r"C must have shape"),
    (lambda a: a.update(B=np.zeros((2, 6, 3, 4), np.float32),
                        C=np.zeros((2, 6, 3, 4), np.float32)),
     r"G = 3 of B and C must divide channels = 8"),
    (lambda a: a.update(C=np.zeros((2, 6, 4, 4), np.float32)),
     r"B and C must have the same number of groups"),
    (lambda a: a.update(D=np.zeros((7,), np.float32)), r"D must have shape \(channels,\)"),
    (lambda a: a.update(delta_bias=np.zeros((2, 8), np.float32)), r"delta_bias must"),
    (lambda a: a.update(z=a["z"][:, :, :4]), r"z must have shape"),
    (lambda a: a.update(initial_state=np.zeros((2, 8, 3), np.float32)),
     r"initial_state must have shape \(batch, channels, N\) = \(2, 8, 4\)"),
    (lambda a: a.update(u=a["u"].astype(np.int32)), r"u must be a floating-point"),
])
def test_shape_errors(change, message):
  args = make_inputs(0, 2, 6, 8, 4, 2)
  change(args)
  with pytest.raises((ValueError, TypeError), match=message):
    selective_scan(**args)


def test_auto_rule_on_cpu():
  if jax.default_backend() != "cpu":
    pytest.skip("the rule under test is the CPU one")
  assert dispatch.resolve_impl("auto") == "sequential_vjp"


def test_unknown_impl_and_bad_chunk_size():
  args = make_inputs(0, 1, 4, 4, 2, 1)
  with pytest.raises(ValueError, match=r"unknown impl 'fast'; choose one of auto, "):
    selective_scan(**args, impl="fast")
  with pytest.raises(ValueError, match="chunk_size must be a positive int"):
    selective_scan(**args, impl="chunked", chunk_size=0)
