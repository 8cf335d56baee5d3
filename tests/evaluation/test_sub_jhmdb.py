"""Sub-JHMDB PCK@0.2 by max(box w, h)."""

import numpy as np
import pytest

from sasmamba_jax import evaluation


def test_pck_counts_strictly_below_the_threshold_of_the_longer_side():
  gt = np.zeros((2, 15, 3))
  gt[..., 2] = 1
  gt[1, 0, 2] = 0  # neck of the second person not annotated
  boxes = np.asarray([[0, 0, 50, 100], [0, 0, 100, 10]], float)  # both max side 100
  pred = gt[..., :2].copy()
  pred[0, 2, 0] = 19.9   # head of person 0: 0.199 -> correct
  pred[1, 2, 0] = 20.0   # head of person 1: 0.2 -> wrong (strict)
  pred[0, 3, 1] = 25.0   # right shoulder of person 0 wrong
  pred[1, 0, 0] = 99.0   # unannotated neck: not counted
  got = evaluation.evaluate_sub_jhmdb(pred, gt, boxes)
  assert got["Head"] == 50.0
  assert got["Shoulder"] == 75.0
  assert got["per_joint"]["neck"] == 100.0
  assert got["Mean"] == pytest.approx((50 + 50 + 13 * 100) / 15)
  assert got["num_joints"] == 29


def test_streaming_merge_and_split_average():
  rng = np.random.default_rng(0)
  gt = np.concatenate([rng.uniform(0, 100, (6, 15, 2)), np.ones((6, 15, 1))], -1)
  boxes = np.tile([0, 0, 80.0, 100.0], (6, 1))
  pred = gt[..., :2] + rng.normal(0, 15, (6, 15, 2))
  a, b = evaluation.SubJHMDBEvaluator(), evaluation.SubJHMDBEvaluator()
  a.update(pred[:3], {"keypoints": gt[:3], "bbox": boxes[:3]})
  b.update(pred[3:], {"keypoints": gt[3:], "bbox": boxes[3:]})
  a.merge(b.state())
  whole = evaluation.evaluate_sub_jhmdb(pred, gt, boxes)
  assert a.result() == whole
  avg = evaluation.average_sub_jhmdb_splits([whole, {**whole, "Mean": 0.0}])
  assert avg["Mean"] == pytest.approx(whole["Mean"] / 2)
  with pytest.raises(ValueError, match="predictions must be"):
    a.update(pred[:, :14], {"keypoints": gt, "bbox": boxes})
