"""Training losses: values on constructed cases, and finite gradients at zero."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sasmamba_jax.tasks.lifting_3d import losses
from sasmamba_jax import metrics


def test_mpjpe_and_n_mpjpe_match_the_metrics():
  rng = np.random.default_rng(0)
  pred = rng.normal(size=(2, 5, 17, 3)).astype(np.float32)
  target = rng.normal(size=(2, 5, 17, 3)).astype(np.float32)
  np.testing.assert_allclose(losses.mpjpe(jnp.asarray(pred), jnp.asarray(target)),
                             metrics.mpjpe(pred, target).mean(), rtol=1e-5)
  np.testing.assert_allclose(losses.n_mpjpe(jnp.asarray(pred), jnp.asarray(target)),
                             metrics.n_mpjpe(pred, target).mean(), rtol=1e-5)
  # A scaled copy has zero scale-normalised error.
  assert float(losses.n_mpjpe(jnp.asarray(2 * target), jnp.asarray(target))) < 1e-5


def test_velocity_ignores_constant_offsets_and_sees_jitter():
  target = jnp.cumsum(jnp.ones((1, 6, 17, 3)), axis=1)
  assert float(losses.velocity(target + 5.0, target)) < 1e-5
  jitter = target.at[:, 3, 0, 0].add(1.0)
  # Frames 2->3 and 3->4 each differ by 1 on one of 17 joints: 2 / (5 * 17).
  np.testing.assert_allclose(losses.velocity(jitter, target), 2 / 85, rtol=1e-5)


def test_temporal_consistency_weights_joints():
  pred = jnp.zeros((1, 2, 17, 3)).at[:, 1, 12, 0].set(1.0)  # left elbow, weight 4
  np.testing.assert_allclose(
      losses.temporal_consistency(pred, losses.H36M_DIFF_WEIGHTS), 4 / (17 * 3))
  with pytest.raises(ValueError, match="17 joint weights for 16 joints"):
    losses.temporal_consistency(jnp.zeros((1, 2, 16, 3)), losses.H36M_DIFF_WEIGHTS)


def test_reprojection_uses_the_detected_root_and_confidence():
  input_2d = jnp.zeros((1, 1, 17, 3)).at[..., 2].set(1.0).at[..., 0, :2].set(0.3)
  pred = jnp.zeros((1, 1, 17, 3))
  # Everything at the root: every non-root joint is 0.3 * sqrt(2) off.
  expected = 16 * 0.3 * np.sqrt(2) / 17
  np.testing.assert_allclose(losses.reprojection_2d(pred, input_2d), expected, rtol=1e-5)
  unconfident = input_2d.at[..., 1:, 2].set(0.0)
  assert float(losses.reprojection_2d(pred, unconfident)) < 1e-6


def test_gradients_are_finite_when_prediction_equals_target():
  target = jnp.ones((1, 3, 17, 3))
  for fn in (losses.mpjpe, losses.n_mpjpe, losses.velocity):
    g = jax.grad(lambda p, fn=fn: fn(p, target))(target)
    assert bool(jnp.all(jnp.isfinite(g))), fn.__name__


def test_single_frame_temporal_losses_are_zero():
  x = jnp.ones((2, 1, 17, 3))
  assert float(losses.velocity(x, 2 * x)) == 0.0
  assert float(losses.temporal_consistency(x, losses.H36M_DIFF_WEIGHTS)) == 0.0
