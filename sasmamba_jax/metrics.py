"""3D pose error metrics, as the pose-lifting literature computes them.

Every function takes poses channels-last, ``(..., J, C)`` (or ``(..., T, J, C)`` for
the temporal metrics), batched over any leading axes, and reduces over joints (and
channels), returning one value per pose (or per time step). Inputs may be NumPy or
JAX arrays:

* all NumPy (or lists): computed with NumPy in float64, returning NumPy arrays, so
  that protocol evaluation does not lose precision when accumulating millions of
  frames;
* any JAX array (including tracers under ``jax.jit``): computed with ``jax.numpy`` in
  the input dtype, returning JAX arrays.

Units are those of the inputs (mm for the reported protocol numbers). PCK and AUC
are fractions in [0, 1]; multiply by 100 for the percentages papers print.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

Array = Any  # np.ndarray | jax.Array

# Thresholds of the MPI-INF-3DHP AUC: 0, 5, ..., 150 mm (31 values). Some Python ports
# use 0..200, which inflates nothing but is not the official curve.
AUC_THRESHOLDS_MM: tuple[float, ...] = tuple(float(t) for t in range(0, 151, 5))

# The 14 joints of the MPI-INF-3DHP-17 layout (skeletons.MPI_INF_3DHP) that PCK and
# AUC are computed over: everything except pelvis (14), spine (15) and head (16).
MPI_INF_3DHP_PCK_JOINTS: tuple[int, ...] = tuple(range(14))


def _namespace(*arrays: Array):
  """Returns (xp, arrays converted): jnp if any input is a JAX array, else np."""
  if any(isinstance(a, jax.Array) for a in arrays):
    return jnp, tuple(jnp.asarray(a) for a in arrays)
  return np, tuple(np.asarray(a, dtype=np.float64) for a in arrays)


def _check_pair(pred: Array, target: Array, fn: str, min_ndim: int = 2) -> None:
  p_shape = getattr(pred, "shape", None)
  t_shape = getattr(target, "shape", None)
  if p_shape != t_shape:
    raise ValueError(f"{fn}: predicted and target poses must have the same shape, got "
                     f"{p_shape} and {t_shape}")
  if len(p_shape) < min_ndim:
    layout = "(..., T, J, C)" if min_ndim == 3 else "(..., J, C)"
    raise ValueError(f"{fn}: expected poses of shape {layout}, got shape {p_shape}")


def _as_arrays(pred: Array, target: Array) -> tuple[Array, Array]:
  # Lists and scalars have no .shape: make them NumPy before the shape check.
  if not isinstance(pred, (np.ndarray, jax.Array)):
    pred = np.asarray(pred)
  if not isinstance(target, (np.ndarray, jax.Array)):
    target = np.asarray(target)
  return pred, target


def _joint_subset(joints: Sequence[int] | None, num_joints: int, fn: str) -> np.ndarray:
  if joints is None:
    return np.arange(num_joints)
  idx = np.asarray(joints, dtype=np.int64).reshape(-1)
  if idx.size == 0:
    raise ValueError(f"{fn}: the joint subset is empty")
  if idx.min() < 0 or idx.max() >= num_joints:
    raise ValueError(f"{fn}: joint subset {idx.tolist()} is out of range for poses with "
                     f"{num_joints} joints")
  return idx


def joint_errors(pred: Array, target: Array) -> Array:
  """Euclidean distance per joint.

  Args:
    pred: (..., J, C) predicted poses.
    target: (..., J, C) ground-truth poses.

  Returns:
    (..., J) distances.
  """
  pred, target = _as_arrays(pred, target)
  _check_pair(pred, target, "joint_errors")
  xp, (pred, target) = _namespace(pred, target)
  return xp.sqrt(xp.sum((pred - target) ** 2, axis=-1))


def mpjpe(pred: Array, target: Array) -> Array:
  """Mean per-joint position error (protocol #1 when both are root-relative).

  Args:
    pred: (..., J, C) predicted poses.
    target: (..., J, C) ground-truth poses.

  Returns:
    (...) mean over joints of the Euclidean distance.
  """
  return joint_errors(pred, target).mean(axis=-1)


def procrustes(pred: Array, target: Array) -> tuple[Array, Array, Array]:
  """Similarity transform that best maps ``pred`` onto ``target`` (least squares).

  Solves ``min_{s, R, t} || s * pred @ R + t - target ||`` per pose with ``R`` a proper
  rotation (det +1): when the best orthogonal matrix is a reflection, the direction
  of the smallest singular value is flipped instead, so a mirrored pose is never
  "aligned" by mirroring it back.

  Args:
    pred: (..., J, C) poses to align.
    target: (..., J, C) reference poses.

  Returns:
    scale (...), rotation (..., C, C) acting on row vectors, translation (..., C).
    A pose whose joints all coincide gets scale 0 (aligned to the target's centroid).
  """
  pred, target = _as_arrays(pred, target)
  _check_pair(pred, target, "procrustes")
  xp, (pred, target) = _namespace(pred, target)
  mu_p = pred.mean(axis=-2, keepdims=True)
  mu_t = target.mean(axis=-2, keepdims=True)
  p0 = pred - mu_p
  t0 = target - mu_t
  # Cross-covariance M = p0^T t0 = U S V^T; R = U D V^T maximises tr(R^T M).
  m = xp.swapaxes(p0, -1, -2) @ t0
  u, s, vt = xp.linalg.svd(m)
  det = xp.linalg.det(u @ vt)
  sign = xp.where(det < 0, -1.0, 1.0).astype(s.dtype)
  d = xp.concatenate([xp.ones_like(s[..., :-1]), sign[..., None]], axis=-1)
  rotation = (u * d[..., None, :]) @ vt
  var_p = xp.sum(p0 ** 2, axis=(-2, -1))
  trace = xp.sum(s * d, axis=-1)
  safe_var = xp.where(var_p > 0, var_p, 1.0)
  scale = xp.where(var_p > 0, trace / safe_var, 0.0)
  translation = mu_t[..., 0, :] - scale[..., None] * (mu_p @ rotation)[..., 0, :]
  return scale, rotation, translation


def procrustes_align(pred: Array, target: Array) -> Array:
  """``pred`` moved onto ``target`` by ``procrustes`` (scale, rotation, translation).

  Args:
    pred: (..., J, C) poses to align.
    target: (..., J, C) reference poses.

  Returns:
    (..., J, C) aligned predictions.
  """
  pred, target = _as_arrays(pred, target)
  _check_pair(pred, target, "procrustes_align")
  _, (pred, target) = _namespace(pred, target)
  scale, rotation, translation = procrustes(pred, target)
  return scale[..., None, None] * (pred @ rotation) + translation[..., None, :]


def p_mpjpe(pred: Array, target: Array) -> Array:
  """MPJPE after per-pose Procrustes alignment (protocol #2, "PA-MPJPE").

  Args:
    pred: (..., J, C) predicted poses.
    target: (..., J, C) ground-truth poses.

  Returns:
    (...) mean per-joint error of ``procrustes_align(pred, target)``.
  """
  return mpjpe(procrustes_align(pred, target), target)


def n_mpjpe(pred: Array, target: Array) -> Array:
  """MPJPE after the least-squares scaling of ``pred`` (no rotation or translation).

  The scale is ``<target, pred> / <pred, pred>`` per pose, as in VideoPose3D and
  MotionBERT ("N-MPJPE", scale-normalised).

  Args:
    pred: (..., J, C) predicted poses.
    target: (..., J, C) ground-truth poses.

  Returns:
    (...) mean per-joint error of the scaled prediction; 0 scale for an all-zero pose.
  """
  pred, target = _as_arrays(pred, target)
  _check_pair(pred, target, "n_mpjpe")
  xp, (pred, target) = _namespace(pred, target)
  num = xp.sum(pred * target, axis=(-2, -1))
  den = xp.sum(pred * pred, axis=(-2, -1))
  scale = xp.where(den > 0, num / xp.where(den > 0, den, 1.0), 0.0)
  return mpjpe(scale[..., None, None] * pred, target)


def _check_time(pred: Array, fn: str, min_frames: int) -> None:
  if pred.shape[-3] < min_frames:
    raise ValueError(f"{fn}: needs at least {min_frames} frames along the time axis "
                     f"(axis -3 of (..., T, J, C)), got shape {pred.shape}")


def mpjve(pred: Array, target: Array) -> Array:
  """Mean per-joint velocity error: MPJPE of the frame-to-frame differences.

  Args:
    pred: (..., T, J, C) predicted pose sequences, T >= 2.
    target: (..., T, J, C) ground-truth pose sequences.

  Returns:
    (..., T - 1) per-step errors, in input units per frame.
  """
  pred, target = _as_arrays(pred, target)
  _check_pair(pred, target, "mpjve", min_ndim=3)
  _check_time(pred, "mpjve", 2)
  xp, (pred, target) = _namespace(pred, target)
  return mpjpe(xp.diff(pred, axis=-3), xp.diff(target, axis=-3))


def acceleration_error(pred: Array, target: Array) -> Array:
  """Mean per-joint acceleration error (second differences, as in HMR/VIBE).

  Args:
    pred: (..., T, J, C) predicted pose sequences, T >= 3.
    target: (..., T, J, C) ground-truth pose sequences.

  Returns:
    (..., T - 2) errors of ``x[t+1] - 2 x[t] + x[t-1]``, in input units per frame^2.
  """
  pred, target = _as_arrays(pred, target)
  _check_pair(pred, target, "acceleration_error", min_ndim=3)
  _check_time(pred, "acceleration_error", 3)
  xp, (pred, target) = _namespace(pred, target)

  def accel(x):
    return x[..., 2:, :, :] - 2 * x[..., 1:-1, :, :] + x[..., :-2, :, :]

  return mpjpe(accel(pred), accel(target))


def pck(pred: Array, target: Array, threshold: float = 150.0,
        joints: Sequence[int] | None = MPI_INF_3DHP_PCK_JOINTS) -> Array:
  """Percentage of correct keypoints, as a fraction: joints with error < threshold.

  The comparison is strict (``error < threshold``), as in the MPI-INF-3DHP MATLAB
  evaluation.

  Args:
    pred: (..., J, C) predicted poses (root-relative for the 3DHP protocol).
    target: (..., J, C) ground-truth poses.
    threshold: distance in input units (mm for the protocol's 150 mm).
    joints: indices of the joints counted; default the 14 MPI-INF-3DHP joints
      without pelvis, spine and head. None counts all joints.

  Returns:
    (...) fraction in [0, 1] of the counted joints within the threshold.
  """
  pred, target = _as_arrays(pred, target)
  _check_pair(pred, target, "pck")
  idx = _joint_subset(joints, pred.shape[-2], "pck")
  err = joint_errors(pred, target)[..., idx]
  return (err < threshold).mean(axis=-1)


def auc(pred: Array, target: Array,
        thresholds: Sequence[float] = AUC_THRESHOLDS_MM,
        joints: Sequence[int] | None = MPI_INF_3DHP_PCK_JOINTS) -> Array:
  """Area under the PCK curve: mean PCK over ``thresholds`` (default 0:5:150 mm).

  Args:
    pred: (..., J, C) predicted poses.
    target: (..., J, C) ground-truth poses.
    thresholds: the PCK thresholds, in input units.
    joints: indices of the joints counted (see ``pck``).

  Returns:
    (...) fraction in [0, 1].
  """
  pred, target = _as_arrays(pred, target)
  _check_pair(pred, target, "auc")
  thr = np.asarray(thresholds, dtype=np.float64).reshape(-1)
  if thr.size == 0:
    raise ValueError("auc: no thresholds given")
  idx = _joint_subset(joints, pred.shape[-2], "auc")
  err = joint_errors(pred, target)[..., idx]
  xp = jnp if isinstance(err, jax.Array) else np
  thr = xp.asarray(thr, dtype=err.dtype)
  return (err[..., None, :] < thr[:, None]).mean(axis=(-2, -1))
