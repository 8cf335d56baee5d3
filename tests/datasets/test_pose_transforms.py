"""The left/right mirror of pose clips (the lifting task's training transform)."""

from __future__ import annotations

import numpy as np
import pytest

from sasmamba_jax import datasets
from sasmamba_jax import skeletons
from sasmamba_jax.datasets import common


@pytest.fixture(scope="module")
def train(synthetic_tiny):
  return datasets.load(synthetic_tiny, "train")


def test_flip_example_invariants(train):
  example = train[5]
  flipped = datasets.flip_example(example, skeletons.H36M)
  twice = datasets.flip_example(flipped, skeletons.H36M)
  for key in ("input_2d", "label_3d", "gt_3d_mm"):
    np.testing.assert_allclose(twice[key], example[key], atol=1e-3)
  left, right = list(skeletons.H36M.left), list(skeletons.H36M.right)
  for key in ("input_2d", "label_3d"):
    np.testing.assert_array_equal(flipped[key][:, left, 0], -example[key][:, right, 0])
    np.testing.assert_array_equal(flipped[key][:, left, 1:], example[key][:, right, 1:])
    np.testing.assert_array_equal(flipped[key][:, 0, 0], -example[key][:, 0, 0])
  # The flipped label still decodes to the flipped gt_3d_mm.
  decoded = (common.denormalize_pixels(flipped["label_3d"],
                                       flipped["camera_resolution"])
             * flipped["factor_2_5d"][:, None, None])
  np.testing.assert_allclose(decoded, flipped["gt_3d_mm"], rtol=1e-5, atol=0.05)
  # Root-relative, the flipped gt is the mirrored pose (x negated, sides swapped).
  gt = example["gt_3d_mm"] - example["gt_3d_mm"][:, :1]
  mirrored = flipped["gt_3d_mm"] - flipped["gt_3d_mm"][:, :1]
  np.testing.assert_allclose(mirrored, skeletons.flip_poses(gt, skeletons.H36M),
                             atol=1e-2)
