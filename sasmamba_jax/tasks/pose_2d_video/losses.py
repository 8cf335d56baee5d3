"""Losses of video 2D pose estimation."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def heatmap_mse(pred: jax.Array, target: jax.Array,
                target_weight: jax.Array | None = None) -> jax.Array:
  """HRNet / ViTPose's ``JointsMSELoss``: 0.5 mean ((w (pred - target))^2).

  Args:
    pred, target: (B, h, w, K) heatmaps.
    target_weight: (B, K) per-joint weights (0 for unlabelled joints), or None.

  Returns:
    The scalar loss: the mean over batch, pixels and joints (so a joint of weight 0
    still counts in the denominator, as officially).
  """
  diff = pred.astype(jnp.float32) - target.astype(jnp.float32)
  if target_weight is not None:
    diff = diff * target_weight.astype(jnp.float32)[:, None, None, :]
  return 0.5 * jnp.mean(jnp.square(diff))
