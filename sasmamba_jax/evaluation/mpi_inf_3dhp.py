"""MPI-INF-3DHP test protocol as the official MATLAB evaluation script defines it.

P-STMO / MotionAGFormer evaluation, followed by SasMamba and PoseMamba:

* the predicted root (pelvis, joint 14 of the 3DHP-17 layout) is zeroed, the
  prediction denormalised with the sequence's resolution (2048 x 2048, TS5/TS6
  1920 x 1080) and made root-relative; the ground truth (``univ_annot3``, mm) is
  made root-relative;
* only frames marked valid count; officially each valid frame is the centre of its
  own window (edge padding), see ``windows.centre_frame_predict``;
* per joint Euclidean errors; MPJPE over all 17 joints; PCK at 150 mm (strict
  ``error < 150``) and AUC (mean PCK over 0:5:150 mm, 31 thresholds) over the 14
  joints without pelvis, spine and head;
* per sequence, and overall over all valid frames pooled (the frame-weighted mean of
  the sequences, the MATLAB script's "All" row).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from sasmamba_jax import metrics
from sasmamba_jax.evaluation import _common

Array = Any

REQUIRED_FEATURES: tuple[str, ...] = (
    "frame_index", "source", "camera_resolution", "gt_3d_mm", "valid")
OPTIONAL_FEATURES: tuple[str, ...] = ("factor_2_5d",)

ROOT = 14  # pelvis in skeletons.MPI_INF_3DHP
_PROTOCOL = "evaluate_mpi_inf_3dhp"


class MPIInf3DHPEvaluator:
  """Streaming form of ``evaluate_mpi_inf_3dhp``: ``update`` per batch, then ``result``.

  Keeps, per sequence, the valid frames' root-relative predictions and ground truth
  in mm (what the protocol averages over repeated frames), not the examples.
  Updating clip by clip in split order gives exactly ``evaluate_mpi_inf_3dhp``'s
  numbers. Arguments as ``evaluate_mpi_inf_3dhp``.
  """

  metadata_keys = REQUIRED_FEATURES + OPTIONAL_FEATURES

  def __init__(self, *, root: int = ROOT, pck_threshold_mm: float = 150.0,
               auc_thresholds_mm: Sequence[float] = metrics.AUC_THRESHOLDS_MM,
               pck_joints: Sequence[int] = metrics.MPI_INF_3DHP_PCK_JOINTS):
    self.root = root
    self.pck_threshold_mm = pck_threshold_mm
    self.auc_thresholds_mm = tuple(auc_thresholds_mm)
    self.pck_joints = tuple(pck_joints)
    # source -> [(frame_index, pred_mm, gt_mm)], valid frames only, in arrival order.
    self._per_source: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
    self._num_joints: int | None = None
    self._num_clips = 0

  def update(self, predictions: Array | Sequence[Array],
             batch: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> None:
    """Folds in clips: (N, T, J, 3) normalised predictions and their examples."""
    clips = _common.clip_list(batch, REQUIRED_FEATURES, _PROTOCOL,
                              optional=OPTIONAL_FEATURES)
    preds = _common.clip_predictions(predictions, len(clips), _PROTOCOL)
    for clip, pred in zip(clips, preds):
      self._update_clip(pred, clip, self._num_clips)
      self._num_clips += 1

  def _update_clip(self, pred: np.ndarray, clip: Mapping[str, Any], i: int) -> None:
    root = self.root
    length, joints = pred.shape[:2]
    if self._num_joints is None:
      self._num_joints = joints
    elif joints != self._num_joints:
      raise ValueError(f"{_PROTOCOL}: prediction {i} has {joints} joints, earlier ones "
                       f"{self._num_joints}")
    if not 0 <= root < joints:
      raise ValueError(f"{_PROTOCOL}: root joint {root} is out of range for {joints} "
                       "joints")
    source = _common.as_text(clip["source"], f"{_PROTOCOL}: example {i} 'source'")
    frame_index = np.asarray(clip["frame_index"])
    if frame_index.shape != (length,) or frame_index.dtype.kind not in "iu":
      raise ValueError(f"{_PROTOCOL}: example {i} 'frame_index' must be ({length},) "
                       f"integers to match its prediction, got {frame_index.shape} "
                       f"{frame_index.dtype}")
    valid = _common.clip_array(clip, "valid", (length,), i, _PROTOCOL) != 0
    gt = _common.clip_array(clip, "gt_3d_mm", (length, joints, 3), i, _PROTOCOL)
    resolution = _common.clip_array(clip, "camera_resolution", (2,), i, _PROTOCOL)
    factor = (_common.clip_array(clip, "factor_2_5d", (length,), i, _PROTOCOL)
              if "factor_2_5d" in clip else 1.0)
    if not np.any(valid):
      return
    if not np.all(np.isfinite(gt[valid])):
      raise ValueError(f"{_PROTOCOL}: example {i} has NaN or infinite ground truth on "
                       "valid frames")
    pred_mm = _common.zero_root_to_mm(pred, resolution, factor, root)[valid]
    gt_mm = gt[valid] - gt[valid][:, root:root + 1, :]
    self._per_source.setdefault(source, []).append(
        (frame_index[valid].astype(np.int64), pred_mm, gt_mm))

  def state(self) -> dict[str, np.ndarray]:
    sources = sorted(self._per_source)
    records = [(s, r) for s in sources for r in self._per_source[s]]
    j = self._num_joints or 0
    cat = lambda i, shape: (np.concatenate([r[i] for _, r in records]) if records
                            else np.zeros(shape))
    return {
        "source_names": np.asarray(sources, dtype=np.str_),
        "source": np.concatenate([np.full(r[0].size, sources.index(s), np.int64)
                                  for s, r in records]) if records else
                  np.zeros(0, np.int64),
        "frame_index": cat(0, (0,)).astype(np.int64),
        "pred_mm": cat(1, (0, j, 3)), "gt_mm": cat(2, (0, j, 3)),
        "num_joints": np.asarray(-1 if self._num_joints is None else j),
        "num_clips": np.asarray(self._num_clips),
    }

  def merge(self, state: Mapping[str, np.ndarray]) -> None:
    joints = int(state["num_joints"])
    if joints >= 0:
      if self._num_joints is None:
        self._num_joints = joints
      elif joints != self._num_joints:
        raise ValueError(f"{_PROTOCOL}: merged predictions have {joints} joints, "
                         f"this evaluator's {self._num_joints}")
    self._num_clips += int(state["num_clips"])
    for code, source in enumerate(state["source_names"]):
      sel = state["source"] == code
      self._per_source.setdefault(str(source), []).append(
          (state["frame_index"][sel], state["pred_mm"][sel], state["gt_mm"][sel]))

  def result(self) -> dict[str, Any]:
    if not self._num_clips:
      raise ValueError(f"{_PROTOCOL}: no clips to evaluate")
    if not self._per_source:
      raise ValueError(f"{_PROTOCOL}: no valid frame in {self._num_clips} clips")

    def scores(pred_mm, gt_mm):
      return {
          "mpjpe_mm": float(np.mean(metrics.mpjpe(pred_mm, gt_mm))),
          "pck_pct": 100.0 * float(np.mean(metrics.pck(
              pred_mm, gt_mm, self.pck_threshold_mm, joints=self.pck_joints))),
          "auc_pct": 100.0 * float(np.mean(metrics.auc(
              pred_mm, gt_mm, self.auc_thresholds_mm, joints=self.pck_joints))),
          "num_frames": int(pred_mm.shape[0]),
      }

    per_sequence = {}
    all_pred, all_gt = [], []
    for source in sorted(self._per_source):
      records = self._per_source[source]
      frame_index = np.concatenate([p[0] for p in records])
      pred_mm = np.concatenate([p[1] for p in records])
      gt_mm = np.concatenate([p[2] for p in records])
      frames, first, inverse = np.unique(frame_index, return_index=True,
                                         return_inverse=True)
      # One prediction per frame, as the MATLAB script takes: average repeats.
      summed = np.zeros((frames.size,) + pred_mm.shape[1:])
      np.add.at(summed, inverse, pred_mm)
      pred_mm = summed / np.bincount(inverse, minlength=frames.size)[:, None, None]
      gt_first = gt_mm[first]
      tol = 1e-6 * max(1.0, float(np.abs(gt_mm).max()))
      mismatch = np.abs(gt_mm - gt_first[inverse]).max(axis=(1, 2)) > tol
      if np.any(mismatch):
        frame = int(frame_index[np.argmax(mismatch)])
        raise ValueError(f"{_PROTOCOL}: frame {frame} of sequence {source!r} has "
                         "different ground truth in different clips")
      per_sequence[source] = scores(pred_mm, gt_first)
      all_pred.append(pred_mm)
      all_gt.append(gt_first)

    overall = scores(np.concatenate(all_pred), np.concatenate(all_gt))
    return {
        "mpjpe_mm": overall["mpjpe_mm"],
        "pck_pct": overall["pck_pct"],
        "auc_pct": overall["auc_pct"],
        "per_sequence": per_sequence,
        "num_frames": overall["num_frames"],
        "num_sequences": len(per_sequence),
        "num_clips": self._num_clips,
        "pck_threshold_mm": float(self.pck_threshold_mm),
    }


def evaluate_mpi_inf_3dhp(
    predictions: Array | Sequence[Array],
    examples: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    *,
    root: int = ROOT,
    pck_threshold_mm: float = 150.0,
    auc_thresholds_mm: Sequence[float] = metrics.AUC_THRESHOLDS_MM,
    pck_joints: Sequence[int] = metrics.MPI_INF_3DHP_PCK_JOINTS,
) -> dict[str, Any]:
  """Official MPI-INF-3DHP evaluation of normalised predictions.

  Args:
    predictions: (N, T, J, 3) normalised model outputs aligned clip by clip with
      ``examples``, or a list of (T_i, J, 3) (e.g. one per whole sequence, from
      ``windows.centre_frame_predict``).
    examples: a dict of stacked features or a list of per-clip dicts with
      ``frame_index`` (T,) int, frame of the sequence; ``source`` str, the test
      sequence ('TS1'...'TS6'); ``camera_resolution`` (2,) width, height;
      ``gt_3d_mm`` (T, J, 3) ground truth in mm; ``valid`` (T,) nonzero for the
      frames that count; optionally ``factor_2_5d`` (T,) multiplying the
      denormalised prediction (absent means 1: 3DHP labels are mm already).
      A frame covered by several clips (overlapping or resampled clips) is
      evaluated once, with the average of its predictions.
    root: root joint index (pelvis, 14, in the 3DHP-17 layout).
    pck_threshold_mm: PCK threshold.
    auc_thresholds_mm: thresholds averaged by AUC.
    pck_joints: joints counted by PCK and AUC.

  Returns:
    A dict with ``mpjpe_mm``, ``pck_pct``, ``auc_pct`` (percent) over all valid
    frames; ``per_sequence``: {source: {mpjpe_mm, pck_pct, auc_pct, num_frames}},
    sources sorted; ``num_frames``, ``num_sequences``, ``num_clips``,
    ``pck_threshold_mm``.

  Raises:
    ValueError: missing features, shapes that disagree, one frame with different
      ground truth in different clips, or no valid frame.
  """
  evaluator = MPIInf3DHPEvaluator(root=root, pck_threshold_mm=pck_threshold_mm,
                                  auc_thresholds_mm=auc_thresholds_mm,
                                  pck_joints=pck_joints)
  evaluator.update(predictions, examples)
  return evaluator.result()
