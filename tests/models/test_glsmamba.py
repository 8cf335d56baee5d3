"""GLSMamba: route orders, route inversion, shapes, gradients, ablations, bad input."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from sasmamba_jax import models
from sasmamba_jax.models import glsmamba
from sasmamba_jax.nn import spacetime_scan as sts


def test_route_orders_on_a_small_grid():
  t, h, w = 2, 2, 3  # Flat grid index t * 6 + r * 3 + c.
  idx = lambda tt, r, c: tt * h * w + r * w + c
  unified = sts.route_order("unified", t, h, w)
  # Row 0 of the panorama h x (T w): frame 0's row 0, then frame 1's row 0, then row 1.
  assert list(unified[:6]) == [idx(0, 0, 0), idx(0, 0, 1), idx(0, 0, 2), idx(1, 0, 0),
                               idx(1, 0, 1), idx(1, 0, 2)]
  assert list(unified).index(idx(1, 1, 0)) == 9
  space = sts.route_order("space", t, h, w)
  # Frame by frame, each frame column-major.
  assert list(space[:6]) == [idx(0, 0, 0), idx(0, 1, 0), idx(0, 0, 1), idx(0, 1, 1),
                             idx(0, 0, 2), idx(0, 1, 2)]
  assert list(space).index(idx(1, 1, 2)) == 11
  time_route = sts.route_order("time", t, h, w)
  # Pixel by pixel (row-major), each pixel across the frames.
  assert list(time_route[:4]) == [idx(0, 0, 0), idx(1, 0, 0), idx(0, 0, 1),
                                  idx(1, 0, 1)]
  assert list(time_route).index(idx(1, 1, 2)) == 11
  for kind in sts.ROUTE_KINDS:
    order = sts.route_order(kind, t, h, w)
    assert sorted(order) == list(range(t * h * w))
    np.testing.assert_array_equal(sts.route_order(kind, t, h, w, reverse=True),
                                  order[::-1])
    # to_route lays the tokens out in exactly route_order.
    grid = jnp.arange(t * h * w, dtype=jnp.float32).reshape(1, t, h, w, 1)
    np.testing.assert_array_equal(sts.to_route(grid, kind)[0, :, 0], order)
  with pytest.raises(ValueError, match="unknown route kind"):
    sts.route_order("diagonal", t, h, w)


@pytest.mark.parametrize("restart", [False, True])
def test_reverse_then_invert_is_identity(restart):
  x = np.random.RandomState(0).randn(2, 3, 4, 6, 5).astype(np.float32)

  @jax.jit
  def round_trips(x):
    out = [sts.from_route(sts.to_route(x, kind, reverse, restart), kind, x.shape,
                          reverse)
           for kind in sts.ROUTE_KINDS for reverse in (False, True)]
    out += [sts.from_windows(sts.to_windows(x, (2, 3), reverse), (2, 3), x.shape,
                             reverse) for reverse in (False, True)]
    return out, sts.to_route(x, "time", False, True), sts.to_windows(x, (2, 3))

  back, per_pixel, windows = round_trips(x)
  for y in back:
    np.testing.assert_array_equal(y, x)
  assert per_pixel.shape == (2 * 4 * 6, 3, 5)  # Restarted: one segment per pixel.
  np.testing.assert_array_equal(per_pixel[1, :, 0], x[0, :, 0, 1, 0])
  assert windows.shape == (2 * 2 * 2, 3 * 2 * 3, 5)
  # A window is unrolled frame by frame, row-major inside a frame.
  np.testing.assert_array_equal(windows[1, :7, 0], np.concatenate(
      [x[0, 0, 0:2, 3:6, 0].reshape(-1), x[0, 1, 0, 3:4, 0]]))


def _loss_and_grads(model, x):
  def loss(m):
    y = m(x)
    return jnp.sum(y * jnp.cos(jnp.arange(y.size).reshape(y.shape))), y

  return nnx.jit(nnx.value_and_grad(loss, has_aux=True))(model)


@pytest.fixture(scope="module")
def tiny():
  """One glsmamba_tiny for the module (building a model compiles its initialisers)."""
  return models.create("glsmamba_tiny")


def test_forward_shapes_and_every_gradient(tiny):
  model = tiny
  cfg = model.config
  # STMM's offset/mask convs start at zero, so at the very first step nothing flows
  # into the guides (the space-wise and time-wise routes): give them the small
  # values one optimizer step would, then every parameter must get a gradient.
  for i, stage in enumerate(model.gsm_blocks[0].stmm.stages):
    kernel = stage.offset_mask.kernel
    kernel[...] = 1e-2 * jax.random.normal(jax.random.key(i), kernel.shape)
  x = jax.random.normal(jax.random.key(1), (2, cfg.num_frames, 4, 6, cfg.in_channels))
  (_, y), grads = _loss_and_grads(model, x)
  assert y.shape == (2, 4, 6, cfg.num_keypoints) and y.dtype == jnp.float32
  flat = nnx.to_flat_state(nnx.state(grads, nnx.Param))
  assert len(flat) > 50
  for path, g in flat:
    g = np.asarray(g[...])
    name = "/".join(str(p) for p in path)
    assert np.all(np.isfinite(g)), name
    assert np.abs(g).max() > 0, f"zero gradient for {name}"


def test_t1_without_lrm_runs_in_bfloat16_with_remat():
  model = models.create("glsmamba_tiny", num_frames=1, num_lrm=0, dtype="bfloat16",
                        remat=True)
  x = jax.random.normal(jax.random.key(3), (1, 1, 4, 6, 32))
  y = nnx.jit(lambda m, x: m(x))(model, x)
  assert y.shape == (1, 4, 6, 5) and y.dtype == jnp.float32
  assert np.all(np.isfinite(y))


def _params(**overrides):
  return models.count_parameters(models.create_abstract("glsmamba_tiny", **overrides))


def test_ablation_switches_change_the_parameters_as_expected():
  c = models.get_config("glsmamba_tiny", num_gsm=2)
  e, n, r, k = c.inner, c.d_state, -(-c.inner // 16), 3   # the STMM's 3 x 3 DCN
  route = e * (r + 2 * n) + e * r + e + e * n + e  # x_proj, dt_proj w + b, A, D.
  stage = 2 * e * k * k * 3 * k * k + 3 * k * k + k * k * e * e + e  # offsets + DCN.
  hidden = int(glsmamba.MLP_RATIO * c.dim)
  ffn = 2 * c.dim * hidden + hidden + c.dim
  lrm = (3 * c.dim * e + 2 * route + e * (glsmamba.GATE_KERNEL ** 2 + 1) + 4 * e
         + 4 * c.dim + ffn)
  hidden = lambda t: 2 * t
  ca = lambda t: t * hidden(t) + hidden(t) + hidden(t) * t + t  # Frame MLP of T.
  full = _params(num_gsm=2)
  counts = {
      "no STMM": (_params(num_gsm=2, stmm=False), 2 * 2 * stage),
      "unified only": (_params(num_gsm=2, routes=("unified",)), 2 * (2 * stage
                                                                     + 4 * route)),
      "unified + space": (_params(num_gsm=2, routes=("unified", "space")),
                          2 * (stage + 2 * route)),
      "no LRM": (_params(num_gsm=2, num_lrm=0), lrm),
      "T = 1": (_params(num_gsm=2, num_frames=1), 2 * c.dim + 2 * (ca(3) - ca(1))),
  }
  for what, (count, removed) in counts.items():
    assert full - count == removed, what
  assert models.get_config("glsmamba_h") == dataclasses.replace(
      models.get_config("glsmamba_b"), name="glsmamba_h", backbone="vitpose_h")


def test_bad_input_and_options_fail_clearly(tiny):
  model = tiny
  with pytest.raises(ValueError, match="expected features"):
    model(jnp.zeros((1, 3, 4, 32)))
  with pytest.raises(ValueError, match="built for T = 3"):
    model(jnp.zeros((1, 5, 4, 6, 32)))
  with pytest.raises(ValueError, match="feature channels"):
    model(jnp.zeros((1, 3, 4, 6, 16)))
  with pytest.raises(ValueError, match="not a multiple of the LRM window"):
    model(jnp.zeros((1, 3, 5, 6, 32)))
  x = np.zeros((1, 3, 4, 6, 32), np.float32)
  x[0, 1, 2, 3, 4] = np.nan
  with pytest.raises(ValueError, match="NaN"):
    model(x)
  with pytest.raises(ValueError, match="routes must be"):
    models.create("glsmamba_tiny", routes=("unified", "diagonal"))
  # Options of earlier versions: accepted at the value the model always uses.
  assert models.get_config("glsmamba_tiny", stmm_groups=1, stmm_grids=["frame", "frame"],
                           mlp_ratio=4.0) == models.get_config("glsmamba_tiny")
  with pytest.raises(ValueError, match="stmm_groups = 16 is no longer supported"):
    models.create("glsmamba_tiny", stmm_groups=16)
  with pytest.raises(ValueError, match="options:"):
    models.create("glsmamba_tiny", width=3)
  assert models.kind("glsmamba_b") == "video_pose2d"
  assert "glsmamba_b" not in models.names("lifter")
  assert dataclasses.replace(models.get_config("glsmamba_tiny"), stmm=False).stmm is False
