"""Sub-JHMDB PCK@0.2 (normalised by max(box width, height)), per joint group.

The video-pose papers (LSTM-PM, DKD, FAMI-Pose, GLSMamba) report PCK on Sub-JHMDB
with the mmpose-style ``tPCK`` definition: a joint is correct when its distance to
the ground truth is strictly below ``0.2 x max(w, h)`` of the person's ground-truth
box; only annotated joints (visibility > 0) count. Per joint the fraction correct;
the groups are Head (head), Shoulder, Elbow, Wrist, Hip, Knee, Ankle (left / right
mean) and ``Mean`` is the mean of the per-joint PCK over the 15 joints (neck and
belly included). Each of the three splits is scored on its own; the papers report
the average of the three (``average_splits``). Numbers are percentages.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from sasmamba_jax import skeletons
from sasmamba_jax.evaluation.report import markdown_table

#: The 15 Sub-JHMDB joints.
JOINTS: tuple[str, ...] = skeletons.SUB_JHMDB.joint_names

GROUPS: dict[str, tuple[int, ...]] = {
    "Head": (2,), "Shoulder": (3, 4), "Elbow": (7, 8), "Wrist": (11, 12),
    "Hip": (5, 6), "Knee": (9, 10), "Ankle": (13, 14)}

THRESHOLD = 0.2
_PROTOCOL = "evaluate_sub_jhmdb"


def _correct(pred: np.ndarray, keypoints: np.ndarray, bbox: np.ndarray,
             threshold: float) -> tuple[np.ndarray, np.ndarray]:
  """(N, 15) correct and (N, 15) valid masks."""
  size = np.maximum(bbox[:, 2], bbox[:, 3])  # (N,)
  if np.any(size <= 0):
    raise ValueError(f"{_PROTOCOL}: a ground-truth box has no extent (w, h <= 0)")
  valid = keypoints[..., 2] > 0
  dist = np.linalg.norm(pred[..., :2] - keypoints[..., :2], axis=-1) / size[:, None]
  return (dist < threshold) & valid, valid


class SubJHMDBEvaluator:
  """Streaming PCK: per-joint counts of correct and annotated joints.

  ``update(predictions, batch)``: predictions (B, 15, 2 or 3) in the image's pixels;
  the batch holds ``keypoints`` (B, 15, 3) (x, y, visibility) and ``bbox`` (B, 4)
  x, y, w, h. The state is two (15,) count vectors, so hosts merge by addition.
  """

  metadata_keys = ("keypoints", "bbox")

  def __init__(self, threshold: float = THRESHOLD):
    self.threshold = threshold
    self._correct = np.zeros(len(JOINTS), np.int64)
    self._valid = np.zeros(len(JOINTS), np.int64)

  def update(self, predictions: Any, batch: Mapping[str, Any]) -> None:
    pred = np.asarray(predictions, np.float64)
    for key in self.metadata_keys:
      if key not in batch:
        raise ValueError(f"{_PROTOCOL}: the batch lacks {key!r}")
    kp = np.asarray(batch["keypoints"], np.float64)
    box = np.asarray(batch["bbox"], np.float64)
    n = len(JOINTS)
    if pred.ndim != 3 or pred.shape[1] != n or pred.shape[2] not in (2, 3):
      raise ValueError(f"{_PROTOCOL}: predictions must be (B, {n}, 2 or 3), got "
                       f"{pred.shape}")
    if kp.shape != (pred.shape[0], n, 3) or box.shape != (pred.shape[0], 4):
      raise ValueError(f"{_PROTOCOL}: keypoints {kp.shape} / bbox {box.shape} do not "
                       f"match {pred.shape[0]} predictions of {n} joints")
    if not np.all(np.isfinite(pred[..., :2])):
      raise ValueError(f"{_PROTOCOL}: predictions contain NaN or infinite values")
    correct, valid = _correct(pred, kp, box, self.threshold)
    self._correct += correct.sum(axis=0)
    self._valid += valid.sum(axis=0)

  def state(self) -> dict[str, np.ndarray]:
    return {"correct": self._correct.copy(), "valid": self._valid.copy()}

  def merge(self, state: Mapping[str, np.ndarray]) -> None:
    self._correct += np.asarray(state["correct"], np.int64)
    self._valid += np.asarray(state["valid"], np.int64)

  def result(self) -> dict[str, Any]:
    if not self._valid.any():
      raise ValueError(f"{_PROTOCOL}: no annotated joint seen")
    with np.errstate(invalid="ignore", divide="ignore"):
      pck = 100.0 * self._correct / self._valid  # NaN for a joint never annotated
    out = {g: float(np.nanmean(pck[list(idx)])) if np.isfinite(pck[list(idx)]).any()
           else float("nan") for g, idx in GROUPS.items()}
    out["Mean"] = float(np.nanmean(pck))
    out["per_joint"] = {name: float(pck[j]) for j, name in enumerate(JOINTS)}
    out["num_joints"] = int(self._valid.sum())
    return out


def format_sub_jhmdb_table(results: Mapping[str, Any]) -> str:
  """PCK per joint group and the mean (%), a markdown table."""
  keys = tuple(GROUPS) + ("Mean",)
  return markdown_table(["", *keys], [["PCK", *(f"{results[k]:.1f}" for k in keys)]])


def evaluate_sub_jhmdb(predictions: Any, keypoints: Any, bbox: Any, *,
                       threshold: float = THRESHOLD) -> dict[str, Any]:
  """PCK of one split: predictions (N, 15, 2+), keypoints (N, 15, 3), bbox (N, 4)."""
  ev = SubJHMDBEvaluator(threshold)
  ev.update(predictions, {"keypoints": keypoints, "bbox": bbox})
  return ev.result()


def average_splits(results: Sequence[Mapping[str, Any]]) -> dict[str, float]:
  """The papers' number: the mean over the splits of each group and of Mean."""
  if not results:
    raise ValueError(f"{_PROTOCOL}: no split results to average")
  keys = tuple(GROUPS) + ("Mean",)
  return {k: float(np.mean([r[k] for r in results])) for k in keys}
