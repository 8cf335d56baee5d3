"""Training losses of the 3D lifting recipes (MotionBERT lineage), in normalised units.

All take (B, T, J, 3) predictions and root-relative targets and return a scalar mean.
Euclidean norms use a floored square root: its gradient is 0, not NaN, where a
difference is exactly zero (repeated frames of resampled clips give zero velocity in
both prediction and target, e.g. for a per-frame model).
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp

# Joint weights of the temporal-consistency loss L_diff (H36M-17 order; PoseMamba).
H36M_DIFF_WEIGHTS: tuple[float, ...] = (1, 1, 2.5, 2.5, 1, 2.5, 2.5, 1, 1, 1, 1.5,
                                        1.5, 4, 4, 1.5, 4, 4)

_TINY = 1e-20
# The loss terms a config can weight (``task.loss.<term>``).
TERMS: tuple[str, ...] = ("mpjpe", "n_mpjpe", "velocity", "temporal_consistency",
                          "reprojection_2d")


def safe_norm(x: jax.Array, axis: int = -1) -> jax.Array:
  """sqrt(sum(x^2)) with a zero gradient at x = 0."""
  return jnp.sqrt(jnp.maximum(jnp.sum(jnp.square(x), axis=axis), _TINY))


def mpjpe(pred: jax.Array, target: jax.Array) -> jax.Array:
  """Mean per-joint position error."""
  return jnp.mean(safe_norm(pred - target))


def n_mpjpe(pred: jax.Array, target: jax.Array) -> jax.Array:
  """MPJPE after the per-frame least-squares scale of pred (MotionBERT's n_mpjpe)."""
  num = jnp.mean(jnp.sum(target * pred, -1, keepdims=True), -2, keepdims=True)
  den = jnp.mean(jnp.sum(pred * pred, -1, keepdims=True), -2, keepdims=True)
  return mpjpe(num / jnp.maximum(den, _TINY) * pred, target)


def velocity(pred: jax.Array, target: jax.Array) -> jax.Array:
  """Mean norm of the difference of frame-to-frame velocities (0 for one frame)."""
  if pred.shape[-3] < 2:
    return jnp.zeros((), pred.dtype)
  dp = pred[..., 1:, :, :] - pred[..., :-1, :, :]
  dt = target[..., 1:, :, :] - target[..., :-1, :, :]
  return jnp.mean(safe_norm(dp - dt))


def temporal_consistency(pred: jax.Array, joint_weights: Sequence[float]) -> jax.Array:
  """L_diff = mean(w_j * (pred_{t+1} - pred_t)^2) over batch, time, joints, xyz."""
  if pred.shape[-3] < 2:
    return jnp.zeros((), pred.dtype)
  w = jnp.asarray(joint_weights, pred.dtype)
  if w.shape != (pred.shape[-2],):
    raise ValueError(f"temporal_consistency: {w.shape[0]} joint weights for "
                     f"{pred.shape[-2]} joints")
  diff = pred[..., 1:, :, :] - pred[..., :-1, :, :]
  return jnp.mean(w[:, None] * jnp.square(diff))


def reprojection_2d(pred: jax.Array, input_2d: jax.Array, root: int = 0
                    ) -> jax.Array:
  """Confidence-weighted 2D error of the predicted x, y placed at the input's root.

  In the normalised 2.5D representation x, y of a 3D pose are image coordinates;
  the root-relative prediction is moved to the detected root and compared with the
  2D input (B, T, J, 3: x, y, confidence).
  """
  xy = pred[..., :2] - pred[..., root:root + 1, :2] + input_2d[..., root:root + 1, :2]
  conf = input_2d[..., 2]
  err = safe_norm(xy - input_2d[..., :2])
  return jnp.sum(conf * err) / jnp.maximum(jnp.sum(conf), _TINY)
