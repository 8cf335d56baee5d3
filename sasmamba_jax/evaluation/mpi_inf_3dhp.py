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
  clips = _common.clip_list(examples, REQUIRED_FEATURES, _PROTOCOL,
                            optional=OPTIONAL_FEATURES)
  preds = _common.clip_predictions(predictions, len(clips), _PROTOCOL)
  if not clips:
    raise ValueError(f"{_PROTOCOL}: no clips to evaluate")

  per_source: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
  num_joints = None
  for i, (clip, pred) in enumerate(zip(clips, preds)):
    length, joints = pred.shape[:2]
    if num_joints is None:
      num_joints = joints
    elif joints != num_joints:
      raise ValueError(f"{_PROTOCOL}: prediction {i} has {joints} joints, earlier ones "
                       f"{num_joints}")
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
      continue
    if not np.all(np.isfinite(gt[valid])):
      raise ValueError(f"{_PROTOCOL}: example {i} has NaN or infinite ground truth on "
                       "valid frames")
    pred_mm = _common.zero_root_to_mm(pred, resolution, factor, root)[valid]
    gt_mm = gt[valid] - gt[valid][:, root:root + 1, :]
    per_source.setdefault(source, []).append(
        (frame_index[valid].astype(np.int64), pred_mm, gt_mm))

  if not per_source:
    raise ValueError(f"{_PROTOCOL}: no valid frame in {len(clips)} clips")

  def scores(pred_mm, gt_mm):
    return {
        "mpjpe_mm": float(np.mean(metrics.mpjpe(pred_mm, gt_mm))),
        "pck_pct": 100.0 * float(np.mean(metrics.pck(
            pred_mm, gt_mm, pck_threshold_mm, joints=pck_joints))),
        "auc_pct": 100.0 * float(np.mean(metrics.auc(
            pred_mm, gt_mm, auc_thresholds_mm, joints=pck_joints))),
        "num_frames": int(pred_mm.shape[0]),
    }

  per_sequence = {}
  all_pred, all_gt = [], []
  for source in sorted(per_source):
    frame_index = np.concatenate([p[0] for p in per_source[source]])
    pred_mm = np.concatenate([p[1] for p in per_source[source]])
    gt_mm = np.concatenate([p[2] for p in per_source[source]])
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
      raise ValueError(f"{_PROTOCOL}: frame {frame} of sequence {source!r} has different "
                       "ground truth in different clips")
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
      "num_clips": len(clips),
      "pck_threshold_mm": float(pck_threshold_mm),
  }
