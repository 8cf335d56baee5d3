"""Human3.6M protocol #1 / #2 exactly as MotionBERT's ``evaluate()`` computes them.

The official evaluation (MotionBERT, PoseMamba, SasMamba, MotionAGFormer) is:

1. zero the predicted root joint (models predict root-relative poses);
2. denormalise with the clip's camera resolution and multiply by the per-frame
   ``2.5d_factor`` (pixel scale -> mm);
3. make prediction and ``joints_2.5d_image`` (our ``gt_3d_mm``) root-relative;
4. per-frame MPJPE and P-MPJPE;
5. accumulate per original test frame with NumPy fancy-index addition
   (``acc[frame_index] += err``; a frame index repeated within a clip, as in
   resampled short sequences, receives only its last value and counts once),
   average each frame over the clips that cover it, skip frames whose accumulated
   error is 0, average per action, then take the mean over actions;
6. skip every clip whose first frame's source, without the trailing ``_ca_NN``,
   is one of three S9 sequences with broken ground truth.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
import re
from typing import Any

import numpy as np

from sasmamba_jax import metrics
from sasmamba_jax.evaluation import _common

Array = Any

# Sequences the official evaluate() leaves out (S9 ground truth is misaligned there).
EXCLUDED_SEQUENCES: tuple[str, ...] = (
    "s_09_act_05_subact_02",
    "s_09_act_10_subact_02",
    "s_09_act_13_subact_01",
)

REQUIRED_FEATURES: tuple[str, ...] = (
    "frame_index", "source", "action", "camera_resolution", "factor_2_5d", "gt_3d_mm")

_PROTOCOL = "evaluate_h36m"
_CAMERA_SUFFIX = re.compile(r"_ca_\d+$")


def sequence_name(source: str) -> str:
  """``'s_09_act_05_subact_02_ca_01'`` -> ``'s_09_act_05_subact_02'``."""
  return _CAMERA_SUFFIX.sub("", source)


def _frame_index(clip: Mapping[str, Any], length: int, index: int) -> np.ndarray:
  fi = np.asarray(clip["frame_index"])
  if fi.shape != (length,):
    raise ValueError(f"{_PROTOCOL}: example {index} feature 'frame_index' has shape "
                     f"{fi.shape}, expected ({length},) to match its prediction")
  if fi.dtype.kind not in "iu":
    raise ValueError(f"{_PROTOCOL}: example {index} 'frame_index' must be integers, got "
                     f"dtype {fi.dtype}")
  if fi.size and fi.min() < 0:
    raise ValueError(f"{_PROTOCOL}: example {index} 'frame_index' has negative entries")
  return fi.astype(np.int64)


def evaluate_h36m(predictions: Array | Sequence[Array],
                  examples: Mapping[str, Any] | Sequence[Mapping[str, Any]],
                  *,
                  excluded_sequences: Sequence[str] = EXCLUDED_SEQUENCES,
                  root: int = 0) -> dict[str, Any]:
  """Official Human3.6M evaluation of normalised predictions.

  Args:
    predictions: (N, T, J, 3) normalised model outputs (root-relative training
      targets), aligned clip by clip with ``examples``; or a list of (T_i, J, 3).
    examples: the test clips, either a dict of stacked features or a list of
      per-clip dicts, with at least
      ``frame_index`` (T,) int, index of each clip frame in the whole test split
      (a frame index means the same frame in every clip);
      ``source`` str, clip id such as ``'s_09_act_02_subact_01_ca_01'``;
      ``action`` str; ``camera_resolution`` (2,) width, height;
      ``factor_2_5d`` (T,); ``gt_3d_mm`` (T, J, 3) (``joints_2.5d_image``).
      Strings may be bytes (as TFDS returns them).
    excluded_sequences: sequence names (source without ``_ca_NN``) whose clips are
      skipped; the default is the official list, ``()`` evaluates everything.
    root: root joint index.

  Returns:
    A dict with
    ``p1_mm`` / ``p2_mm``: mean over actions of the per-action MPJPE / P-MPJPE;
    ``per_action``: {action: {p1_mm, p2_mm, num_frames}}, actions sorted (an
    action whose clips are all excluded does not appear: the official code would
    report NaN for it);
    ``accel_mm`` / ``mpjve_mm``: acceleration (mm/frame^2) and velocity (mm/frame)
    errors over the evaluated clips whose frame indices are consecutive (resampled
    clips repeat frames and are left out of these two), or None if there is none;
    ``num_clips``, ``num_clips_evaluated``, ``num_clips_excluded``, ``num_frames``
    (test frames averaged), ``num_frames_skipped_zero_error``, ``num_actions``,
    ``num_clips_temporal`` (clips behind ``accel_mm`` / ``mpjve_mm``).

  Raises:
    ValueError: missing features, shapes that disagree, a frame index shared by
      clips of different sources or actions, or nothing left to evaluate.
  """
  clips = _common.clip_list(examples, REQUIRED_FEATURES, _PROTOCOL)
  preds = _common.clip_predictions(predictions, len(clips), _PROTOCOL)
  if not clips:
    raise ValueError(f"{_PROTOCOL}: no clips to evaluate")
  excluded = set(excluded_sequences)

  evaluated = []  # (frame_index, e1, e2, source, action) per evaluated clip
  num_excluded = 0
  accel_sum = vel_sum = 0.0
  accel_count = vel_count = 0
  temporal_clips = 0
  for i, (clip, pred) in enumerate(zip(clips, preds)):
    length, num_joints = pred.shape[:2]
    if not 0 <= root < num_joints:
      raise ValueError(f"{_PROTOCOL}: root joint {root} is out of range for "
                       f"{num_joints} joints")
    source = _common.as_text(clip["source"], f"{_PROTOCOL}: example {i} 'source'")
    action = _common.as_text(clip["action"], f"{_PROTOCOL}: example {i} 'action'")
    frame_index = _frame_index(clip, length, i)
    gt = _common.clip_array(clip, "gt_3d_mm", (length, num_joints, 3), i, _PROTOCOL)
    factor = _common.clip_array(clip, "factor_2_5d", (length,), i, _PROTOCOL)
    resolution = _common.clip_array(clip, "camera_resolution", (2,), i, _PROTOCOL)
    if sequence_name(source) in excluded:
      num_excluded += 1
      continue
    if not (np.all(np.isfinite(gt)) and np.all(np.isfinite(factor))):
      raise ValueError(f"{_PROTOCOL}: example {i} has NaN or infinite ground truth")

    pred_mm = _common.zero_root_to_mm(pred, resolution, factor, root)
    gt_mm = gt - gt[:, root:root + 1, :]
    evaluated.append((frame_index, metrics.mpjpe(pred_mm, gt_mm),
                      metrics.p_mpjpe(pred_mm, gt_mm), source, action))
    if length >= 3 and np.all(np.diff(frame_index) == 1):
      temporal_clips += 1
      accel = metrics.acceleration_error(pred_mm, gt_mm)
      vel = metrics.mpjve(pred_mm, gt_mm)
      accel_sum += float(accel.sum())
      accel_count += accel.size
      vel_sum += float(vel.sum())
      vel_count += vel.size

  if not evaluated:
    raise ValueError(f"{_PROTOCOL}: all {len(clips)} clips belong to excluded sequences "
                     f"{sorted(excluded)}; nothing left to evaluate")

  frames = np.unique(np.concatenate([c[0] for c in evaluated]))
  e1_acc = np.zeros(frames.size)
  e2_acc = np.zeros(frames.size)
  count = np.zeros(frames.size)
  action_code = np.full(frames.size, -1)
  source_code = np.full(frames.size, -1)
  action_names: dict[str, int] = {}
  source_names: dict[str, int] = {}
  for frame_index, e1, e2, source, action in evaluated:
    pos = np.searchsorted(frames, frame_index)
    a = action_names.setdefault(action, len(action_names))
    s = source_names.setdefault(source, len(source_names))
    for codes, code, what, name in ((action_code, a, "action", action),
                                    (source_code, s, "source", source)):
      clash = (codes[pos] >= 0) & (codes[pos] != code)
      if np.any(clash):
        frame = int(frame_index[np.argmax(clash)])
        raise ValueError(
            f"{_PROTOCOL}: test frame {frame} appears in clips of different {what}s "
            f"(one is {name!r}); frame_index must index the whole test split")
      codes[pos] = code
    # Buffered fancy-index addition on purpose: duplicates within a clip keep
    # only their last value and add 1 to the count once, as the official code.
    e1_acc[pos] += e1
    e2_acc[pos] += e2
    count[pos] += 1

  keep = e1_acc > 0
  per_action = {}
  for action in sorted(action_names):
    sel = keep & (action_code == action_names[action])
    if not np.any(sel):
      continue
    per_action[action] = {
        "p1_mm": float(np.mean(e1_acc[sel] / count[sel])),
        "p2_mm": float(np.mean(e2_acc[sel] / count[sel])),
        "num_frames": int(sel.sum()),
    }
  if not per_action:
    raise ValueError(f"{_PROTOCOL}: every evaluated frame has zero error; the official "
                     "protocol skips such frames, so there is nothing to average")
  return {
      "p1_mm": float(np.mean([v["p1_mm"] for v in per_action.values()])),
      "p2_mm": float(np.mean([v["p2_mm"] for v in per_action.values()])),
      "per_action": per_action,
      "accel_mm": accel_sum / accel_count if accel_count else None,
      "mpjve_mm": vel_sum / vel_count if vel_count else None,
      "num_clips": len(clips),
      "num_clips_evaluated": len(evaluated),
      "num_clips_excluded": num_excluded,
      "num_frames": int(keep.sum()),
      "num_frames_skipped_zero_error": int((~keep).sum()),
      "num_actions": len(per_action),
      "num_clips_temporal": temporal_clips,
  }
