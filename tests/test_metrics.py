"""Metrics against hand-computed cases and the official functions' outputs."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sasmamba_jax import metrics


def rotation(axis, angle):
  """Rodrigues' rotation matrix acting on column vectors."""
  axis = np.asarray(axis, np.float64) / np.linalg.norm(axis)
  k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
  return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


def random_poses(seed, shape=(17, 3), scale=300.0):
  return np.random.default_rng(seed).normal(size=shape) * scale


# ---------------------------------------------------------------- MPJPE family


def test_mpjpe_hand_case():
  target = np.zeros((4, 3))
  # 3-4-5 triangles and axis offsets: per-joint errors 5, 5, 2, 0.
  pred = np.array([[3.0, 4.0, 0.0], [0.0, 3.0, 4.0], [0.0, 0.0, -2.0], [0.0, 0.0, 0.0]])
  np.testing.assert_allclose(metrics.joint_errors(pred, target), [5, 5, 2, 0])
  assert metrics.mpjpe(pred, target) == pytest.approx(3.0)


def test_mpjpe_batched_over_leading_axes_and_jax_matches_numpy():
  pred = random_poses(0, (2, 5, 17, 3))
  target = random_poses(1, (2, 5, 17, 3))
  out = metrics.mpjpe(pred, target)
  assert isinstance(out, np.ndarray) and out.shape == (2, 5) and out.dtype == np.float64
  np.testing.assert_allclose(out[1, 3], metrics.mpjpe(pred[1, 3], target[1, 3]))
  out_jax = jax.jit(metrics.mpjpe)(jnp.asarray(pred, jnp.float32),
                                    jnp.asarray(target, jnp.float32))
  assert isinstance(out_jax, jax.Array) and out_jax.shape == (2, 5)
  np.testing.assert_allclose(np.asarray(out_jax), out, rtol=1e-5)


def test_n_mpjpe_hand_case():
  target = np.array([[1.0, 0, 0], [0, 1.0, 0]])
  pred = np.array([[2.0, 0, 0], [0, 0, 0]])
  # scale = <t, p> / <p, p> = 2 / 4; scaled pred = [(1,0,0), 0]: errors 0 and 1.
  assert metrics.n_mpjpe(pred, target) == pytest.approx(0.5)
  # Any positive rescaling of the prediction is undone.
  target = random_poses(2)
  assert metrics.n_mpjpe(3.7 * target, target) == pytest.approx(0.0, abs=1e-9)
  # An all-zero prediction gets scale 0 instead of NaN.
  assert metrics.n_mpjpe(np.zeros((17, 3)), target) == pytest.approx(
      metrics.mpjpe(np.zeros((17, 3)), target))


# ---------------------------------------------------------------- Procrustes


def test_procrustes_recovers_known_similarity_transform():
  target = random_poses(3)
  r0 = rotation([1.0, -2.0, 0.5], 1.1)
  pred = 2.5 * target @ r0 + np.array([10.0, -40.0, 7.0])
  scale, rot, trans = metrics.procrustes(pred, target)
  assert scale == pytest.approx(1 / 2.5)
  np.testing.assert_allclose(rot, r0.T, atol=1e-12)
  np.testing.assert_allclose(metrics.procrustes_align(pred, target), target, atol=1e-9)
  assert metrics.p_mpjpe(pred, target) == pytest.approx(0.0, abs=1e-9)
  np.testing.assert_allclose(scale * np.array([10.0, -40.0, 7.0]) @ rot + trans, 0,
                             atol=1e-9)


def test_procrustes_does_not_undo_a_reflection():
  # Points +-a e1, +-b e2, +-c e3 and their mirror image in z. With M = P^T X =
  # diag(2a^2, 2b^2, -2c^2) the best orthogonal map is the reflection (error 0), the
  # best rotation is I with scale s = (a^2 + b^2 - c^2) / (a^2 + b^2 + c^2) = 6/7 for
  # (a, b, c) = (3, 2, 1): errors a(1-s), b(1-s), c(1+s) twice each -> mean 6/7.
  a, b, c = 3.0, 2.0, 1.0
  target = np.array([[a, 0, 0], [-a, 0, 0], [0, b, 0], [0, -b, 0], [0, 0, c], [0, 0, -c]])
  mirrored = target * np.array([1.0, 1.0, -1.0])
  scale, rot, _ = metrics.procrustes(mirrored, target)
  assert np.linalg.det(rot) == pytest.approx(1.0)
  np.testing.assert_allclose(rot, np.eye(3), atol=1e-12)
  assert scale == pytest.approx(6 / 7)
  assert metrics.p_mpjpe(mirrored, target) == pytest.approx(6 / 7)
  # A similarity transform of the prediction changes nothing.
  moved = 0.3 * mirrored @ rotation([0.2, 1.0, -0.7], 2.0) + np.array([5.0, 1.0, -2.0])
  assert metrics.p_mpjpe(moved, target) == pytest.approx(6 / 7)
  assert np.linalg.det(metrics.procrustes(moved, target)[1]) == pytest.approx(1.0)


def test_procrustes_mirrored_planar_pose_is_a_rotation():
  # A planar pose mirrored in x is the same pose turned 180 degrees about y.
  target = random_poses(4)
  target[:, 2] = 0.0
  mirrored = target * np.array([-1.0, 1.0, 1.0])
  assert metrics.p_mpjpe(mirrored, target) == pytest.approx(0.0, abs=1e-8)
  assert np.linalg.det(metrics.procrustes(mirrored, target)[1]) == pytest.approx(1.0)


def test_procrustes_degenerate_prediction_goes_to_target_centroid():
  target = random_poses(5)
  pred = np.ones((17, 3))
  aligned = metrics.procrustes_align(pred, target)
  np.testing.assert_allclose(aligned, np.broadcast_to(target.mean(0), (17, 3)))
  assert np.isfinite(metrics.p_mpjpe(pred, target))


def test_p_mpjpe_jax_batched_and_jitted_matches_numpy():
  target = random_poses(6, (3, 4, 17, 3))
  pred = target + random_poses(7, (3, 4, 17, 3), scale=30.0)
  pred[0, 0] = pred[0, 0] * np.array([1.0, 1.0, -1.0])  # an improper best fit
  ref = metrics.p_mpjpe(pred, target)
  assert ref.shape == (3, 4)
  out = jax.jit(metrics.p_mpjpe)(jnp.asarray(pred, jnp.float32),
                                  jnp.asarray(target, jnp.float32))
  np.testing.assert_allclose(np.asarray(out), ref, rtol=1e-4)
  # Mixed inputs go through JAX.
  assert isinstance(metrics.p_mpjpe(pred, jnp.asarray(target)), jax.Array)


def test_official_mpjpe_and_p_mpjpe(shared_fixtures):
  d = np.load(shared_fixtures / "h36m_format" / "metrics_direct.npz")
  # The official values are float32 computations of ~50 mm errors.
  np.testing.assert_allclose(metrics.mpjpe(d["pred"], d["gt"]), d["mpjpe"], atol=1e-4)
  np.testing.assert_allclose(metrics.p_mpjpe(d["pred"], d["gt"]), d["p_mpjpe"], atol=1e-4)


# ---------------------------------------------------------------- temporal


def test_velocity_and_acceleration_constant_velocity():
  t = np.arange(6.0)[:, None, None]
  v = np.array([3.0, 4.0, 0.0])
  target = np.broadcast_to(random_poses(8, (1, 5, 3)), (6, 5, 3))
  pred = target + t * v
  np.testing.assert_allclose(metrics.mpjve(pred, target), np.full(5, 5.0))
  np.testing.assert_allclose(metrics.acceleration_error(pred, target), np.zeros(4),
                             atol=1e-9)


def test_velocity_and_acceleration_constant_acceleration():
  # x_t = a t^2 / 2: x_{t+1} - x_t = a (t + 1/2), second difference = a.
  t = np.arange(7.0)[:, None, None]
  a = np.array([0.0, 6.0, 8.0])  # |a| = 10
  target = np.zeros((7, 2, 3))
  pred = 0.5 * a * t ** 2 + np.zeros((7, 2, 3))
  np.testing.assert_allclose(metrics.mpjve(pred, target), 10.0 * (np.arange(6) + 0.5))
  np.testing.assert_allclose(metrics.acceleration_error(pred, target), np.full(5, 10.0))


def test_temporal_metrics_batched_and_jax():
  pred = random_poses(9, (2, 8, 17, 3))
  target = random_poses(10, (2, 8, 17, 3))
  assert metrics.mpjve(pred, target).shape == (2, 7)
  accel = metrics.acceleration_error(pred, target)
  assert accel.shape == (2, 6)
  out = metrics.acceleration_error(jnp.asarray(pred, jnp.float32),
                                   jnp.asarray(target, jnp.float32))
  np.testing.assert_allclose(np.asarray(out), accel, rtol=1e-5)


# ---------------------------------------------------------------- PCK / AUC


def constructed_errors():
  """17 joints; the 14 counted ones have errors 0, 5, ..., 65 mm; pelvis, spine and
  head have 1000 mm (they must not count)."""
  target = random_poses(11)
  offsets = np.zeros((17, 3))
  offsets[:14, 0] = 5.0 * np.arange(14)
  offsets[14:, 1] = 1000.0
  return target + offsets, target


def test_auc_thresholds_are_the_official_31():
  assert len(metrics.AUC_THRESHOLDS_MM) == 31
  assert metrics.AUC_THRESHOLDS_MM[0] == 0 and metrics.AUC_THRESHOLDS_MM[-1] == 150
  assert metrics.MPI_INF_3DHP_PCK_JOINTS == tuple(range(14))


def test_pck_on_constructed_errors():
  pred, target = constructed_errors()
  assert metrics.pck(pred, target) == pytest.approx(1.0)
  # Strict: 10 mm counts the errors 0 and 5 only.
  assert metrics.pck(pred, target, threshold=10.0) == pytest.approx(2 / 14)
  assert metrics.pck(pred, target, threshold=10.0001) == pytest.approx(3 / 14)
  # All 17 joints: the three 1000 mm joints fail.
  assert metrics.pck(pred, target, joints=None) == pytest.approx(14 / 17)
  # An error of exactly 150 mm is not correct at 150 mm.
  exact = target.copy()
  exact[0, 0] += 150.0
  assert metrics.pck(exact, target, joints=[0]) == 0.0
  assert metrics.pck(exact, target, threshold=150.5, joints=[0]) == 1.0


def test_auc_on_constructed_errors():
  pred, target = constructed_errors()
  # Threshold 5k counts the errors 5m < 5k: min(k, 14) joints, k = 0..30.
  expected = sum(min(k, 14) for k in range(31)) / (31 * 14)
  assert expected == pytest.approx(329 / 434)
  assert metrics.auc(pred, target) == pytest.approx(expected)
  # float32: errors measured from the origin stay exact multiples of 5 mm (from a
  # random target they would land on either side of the thresholds).
  offsets = jnp.asarray(pred - target, jnp.float32)
  out = metrics.auc(offsets, jnp.zeros_like(offsets))
  assert float(out) == pytest.approx(expected)


def test_pck_auc_batched():
  pred, target = constructed_errors()
  stack_p = np.stack([pred, target])
  stack_t = np.stack([target, target])
  np.testing.assert_allclose(metrics.pck(stack_p, stack_t, threshold=10.0), [2 / 14, 1])
  np.testing.assert_allclose(metrics.auc(stack_p, stack_t), [329 / 434, 30 / 31])


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("fn", [metrics.mpjpe, metrics.p_mpjpe, metrics.n_mpjpe,
                                metrics.pck, metrics.auc, metrics.mpjve,
                                metrics.acceleration_error, metrics.procrustes])
def test_shape_mismatch_is_an_error(fn):
  with pytest.raises(ValueError, match="same shape"):
    fn(np.zeros((4, 17, 3)), np.zeros((4, 16, 3)))


def test_other_bad_inputs():
  with pytest.raises(ValueError, match="at least 2 frames"):
    metrics.mpjve(np.zeros((1, 17, 3)), np.zeros((1, 17, 3)))
  with pytest.raises(ValueError, match="at least 3 frames"):
    metrics.acceleration_error(np.zeros((2, 17, 3)), np.zeros((2, 17, 3)))
  with pytest.raises(ValueError, match=r"\(\.\.\., J, C\)"):
    metrics.mpjpe(np.zeros(3), np.zeros(3))
  with pytest.raises(ValueError, match="out of range"):
    metrics.pck(np.zeros((10, 3)), np.zeros((10, 3)))  # default subset needs 14
  with pytest.raises(ValueError, match="no thresholds"):
    metrics.auc(np.zeros((17, 3)), np.zeros((17, 3)), thresholds=())
