"""A 'model' that returns a batch's target heatmaps: the heatmap tasks' decoding,
flip test and evaluation must then score the ground truth perfectly."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from sasmamba_jax import imaging


class HeatmapOracle:
  """Gives ``batch["heatmaps"]`` for the batch's own crops (``images[:, 0]``) and
  their mirror image, joints swapped by ``permutation``, for the mirrored crops."""

  def __init__(self, permutation):
    self.permutation, self.batch = permutation, None

  def __call__(self, x, deterministic=None):
    del deterministic
    maps = jnp.asarray(self.batch["heatmaps"])
    if not np.array_equal(np.asarray(x), np.asarray(self.batch["images"][:, 0])):
      maps = imaging.flip_heatmaps(maps, self.permutation)   # a mirrored crop
    return maps
