"""The spatio-temporal SSM mixer: layout, gathers, gradient conventions, dtypes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from sasmamba_jax import skeletons
from sasmamba_jax.nn import BiSTSSM
from sasmamba_jax.nn import SSMConfig

GATHERS = skeletons.sasmamba_gathers(5)


def _mixer(**kwargs):
  cfg = SSMConfig(**{"joint_gathers": GATHERS, "conv_type": "deform", **kwargs})
  return BiSTSSM(8, cfg, rngs=nnx.Rngs(0))


@nnx.jit
def _apply(m, x):
  return m(x)


def _x(shape=(2, 4, 5, 8), seed=1):
  return jax.random.normal(jax.random.key(seed), shape)


def test_parameter_layout_and_init():
  m = _mixer(d_state=4)
  d_inner, rank, k = 16, 1, 4
  assert m.x_proj_weight.shape == (k, rank + 2 * 4, d_inner)
  assert m.dt_projs_weight.shape == (k, d_inner, rank)
  assert m.dt_projs_bias.shape == (k, d_inner)
  s4d_real = np.tile(np.log(np.arange(1, 5)), (k * d_inner, 1))
  np.testing.assert_allclose(m.A_logs[...], s4d_real, rtol=1e-6)
  np.testing.assert_array_equal(m.Ds[...], np.ones(k * d_inner))
  dt = jax.nn.softplus(m.dt_projs_bias[...])  # Initial steps in [dt_min, dt_max].
  assert float(dt.min()) >= 1e-3 * 0.999 and float(dt.max()) <= 0.1 * 1.001
  assert float(jnp.abs(m.dt_projs_weight[...]).max()) <= rank ** -0.5
  assert float(jnp.abs(m.x_proj_weight[...]).max()) <= d_inner ** -0.5


def test_output_shape_and_dtype_policy():
  x = _x()
  m = _mixer()
  y = _apply(m, x)
  assert y.shape == x.shape and y.dtype == jnp.float32
  half = BiSTSSM(8, SSMConfig(joint_gathers=GATHERS, conv_type="deform"),
                 dtype=jnp.bfloat16, rngs=nnx.Rngs(0))
  yh = _apply(half, x.astype(jnp.bfloat16))
  assert yh.dtype == jnp.bfloat16
  assert all(v.dtype == jnp.float32 for v in jax.tree.leaves(nnx.state(half, nnx.Param)))
  np.testing.assert_allclose(yh.astype(jnp.float32), y,
                             atol=0.05 * float(jnp.abs(y).max()))


def test_gathers_enter_direction_zero_only_as_sums():
  x = _x()
  plain = _mixer(joint_gathers=())
  gathered = _mixer()
  assert not np.allclose(_apply(plain, x), _apply(gathered, x))
  # pylint: disable=protected-access
  identity = _mixer(joint_gathers=((0, 1, 2, 3, 4),))  # x + x[..., j] = 2x on k = 0.
  doubled = _mixer(joint_gathers=())._direction0(x) * 2
  np.testing.assert_allclose(identity._direction0(x), doubled)


def test_scan_impls_agree():
  x = _x()
  ys = [_apply(_mixer(impl=impl), x) for impl in ("sequential", "chunked", "associative")]
  for y in ys[1:]:
    np.testing.assert_allclose(y, ys[0], rtol=1e-4, atol=1e-5)


def test_official_gradients_drop_only_the_gathered_terms():
  """official=False is the true gradient (checked by finite differences); official=True
  is not, and the forward pass is the same either way."""
  x = _x(seed=3)
  w = _x(seed=4)
  official = _mixer(conv_type="conv")  # The conv type plays no part here.
  true = _mixer(conv_type="conv", official_gradients=False)
  loss = nnx.jit(lambda m, x: jnp.sum(m(x) * w))
  grad = nnx.jit(nnx.grad(lambda m, x: jnp.sum(m(x) * w), argnums=1))
  np.testing.assert_array_equal(_apply(official, x), _apply(true, x))
  g_official = grad(official, x)
  g_true = grad(true, x)
  rng = np.random.RandomState(0)
  norm = float(jnp.linalg.norm(g_true))
  err_true, err_official = [], []
  for _ in range(3):
    v = rng.randn(*x.shape)
    v = jnp.asarray(v / np.linalg.norm(v), jnp.float32)  # Unit direction.
    eps = 1e-2
    fd = float((loss(true, x + eps * v) - loss(true, x - eps * v)) / (2 * eps))
    err_true.append(abs(float(jnp.sum(g_true * v)) - fd))
    err_official.append(abs(float(jnp.sum(g_official * v)) - fd))
  assert max(err_true) < 5e-3 * norm, (err_true, norm)
  assert max(err_official) > 10 * max(err_true), (err_official, err_true)
  assert float(jnp.abs(g_official - g_true).max()) > 0.05 * float(jnp.abs(g_true).max())
  # Without gathers both conventions are the same function.
  a = grad(_mixer(conv_type="conv", joint_gathers=()), x)
  b = grad(_mixer(conv_type="conv", joint_gathers=(), official_gradients=False), x)
  np.testing.assert_array_equal(a, b)


def test_errors():
  with pytest.raises(ValueError, match="joint indices"):
    _mixer()(_x((1, 2, 6, 8)))  # Gathers are for 5 joints.
  with pytest.raises(ValueError, match="expected"):
    _mixer()(_x((1, 2, 5, 7)))
  with pytest.raises(ValueError, match="conv_type"):
    SSMConfig(conv_type="dcn")
  with pytest.raises(ValueError, match="odd"):
    SSMConfig(conv_kernel=4)
