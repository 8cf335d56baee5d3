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


class _Growing:
  """A float/int array indexed by test-frame index that grows as frames arrive."""

  def __init__(self, dtype, fill):
    self.dtype, self.fill = dtype, fill
    self.data = np.full(0, fill, dtype)

  def reserve(self, size: int) -> np.ndarray:
    if size > self.data.size:
      grown = np.full(max(size, 2 * self.data.size), self.fill, self.dtype)
      grown[:self.data.size] = self.data
      self.data = grown
    return self.data


class H36MEvaluator:
  """Streaming form of ``evaluate_h36m``: ``update`` per batch, ``result`` at the end.

  Per test frame it keeps the accumulated P1 / P2 errors, a count and the frame's
  action and source (a few numbers per frame), never the predictions or examples.
  Updating clip by clip in split order gives exactly ``evaluate_h36m``'s numbers.

  Args:
    excluded_sequences: sequence names (source without ``_ca_NN``) whose clips are
      skipped; the default is the official list, ``()`` evaluates everything.
    root: root joint index.
  """

  metadata_keys = REQUIRED_FEATURES

  def __init__(self, *, excluded_sequences: Sequence[str] = EXCLUDED_SEQUENCES,
               root: int = 0):
    self.excluded = frozenset(excluded_sequences)
    self.root = root
    self._e1 = _Growing(np.float64, 0.0)
    self._e2 = _Growing(np.float64, 0.0)
    self._count = _Growing(np.float64, 0.0)
    self._action = _Growing(np.int64, -1)
    self._source = _Growing(np.int64, -1)
    self._action_names: dict[str, int] = {}
    self._source_names: dict[str, int] = {}
    self._scalars = dict(num_clips=0, num_clips_evaluated=0, num_clips_excluded=0,
                         num_clips_temporal=0, accel_sum=0.0, accel_count=0,
                         vel_sum=0.0, vel_count=0)

  def update(self, predictions: Array | Sequence[Array],
             batch: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> None:
    """Folds in clips: (N, T, J, 3) normalised predictions and their examples.

    ``batch`` is a dict of stacked features or a list of per-clip dicts (see
    ``evaluate_h36m`` for the features).
    """
    clips = _common.clip_list(batch, REQUIRED_FEATURES, _PROTOCOL)
    preds = _common.clip_predictions(predictions, len(clips), _PROTOCOL)
    for clip, pred in zip(clips, preds):
      self._update_clip(pred, clip, self._scalars["num_clips"])
      self._scalars["num_clips"] += 1

  def _update_clip(self, pred: np.ndarray, clip: Mapping[str, Any], i: int) -> None:
    root, sc = self.root, self._scalars
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
    if sequence_name(source) in self.excluded:
      sc["num_clips_excluded"] += 1
      return
    if not (np.all(np.isfinite(gt)) and np.all(np.isfinite(factor))):
      raise ValueError(f"{_PROTOCOL}: example {i} has NaN or infinite ground truth")

    pred_mm = _common.zero_root_to_mm(pred, resolution, factor, root)
    gt_mm = gt - gt[:, root:root + 1, :]
    e1, e2 = metrics.mpjpe(pred_mm, gt_mm), metrics.p_mpjpe(pred_mm, gt_mm)
    a = self._action_names.setdefault(action, len(self._action_names))
    s = self._source_names.setdefault(source, len(self._source_names))
    self._add(frame_index, e1, e2, np.ones(length), a, s, action, source)
    sc["num_clips_evaluated"] += 1
    if length >= 3 and np.all(np.diff(frame_index) == 1):
      sc["num_clips_temporal"] += 1
      accel = metrics.acceleration_error(pred_mm, gt_mm)
      vel = metrics.mpjve(pred_mm, gt_mm)
      sc["accel_sum"] += float(accel.sum())
      sc["accel_count"] += accel.size
      sc["vel_sum"] += float(vel.sum())
      sc["vel_count"] += vel.size

  def _add(self, frames, e1, e2, count, action_code, source_code, action, source):
    """Accumulates per-frame errors; codes are scalars or per-frame arrays."""
    size = int(frames.max()) + 1 if frames.size else 0
    for acc in (self._e1, self._e2, self._count, self._action, self._source):
      acc.reserve(size)
    for arr, code, what, name in ((self._action.data, action_code, "action", action),
                                  (self._source.data, source_code, "source", source)):
      current = arr[frames]
      clash = (current >= 0) & (current != code)
      if np.any(clash):
        frame = int(frames[np.argmax(clash)])
        if not isinstance(name, str):
          name = name[int(np.argmax(clash))]
        raise ValueError(
            f"{_PROTOCOL}: test frame {frame} appears in clips of different {what}s "
            f"(one is {name!r}); frame_index must index the whole test split")
      arr[frames] = code
    # Buffered fancy-index addition on purpose: duplicates within a clip keep
    # only their last value and add 1 to the count once, as the official code.
    self._e1.data[frames] += e1
    self._e2.data[frames] += e2
    self._count.data[frames] += count

  def state(self) -> dict[str, np.ndarray]:
    frames = np.flatnonzero(self._count.data > 0)
    names = lambda d: np.asarray(sorted(d, key=d.get), dtype=np.str_)
    return {
        "frames": frames, "e1": self._e1.data[frames], "e2": self._e2.data[frames],
        "count": self._count.data[frames], "action": self._action.data[frames],
        "source": self._source.data[frames],
        "action_names": names(self._action_names),
        "source_names": names(self._source_names),
        **{k: np.asarray(v) for k, v in self._scalars.items()},
    }

  def merge(self, state: Mapping[str, np.ndarray]) -> None:
    remap = {}
    for what, table in (("action", self._action_names), ("source", self._source_names)):
      names = [str(n) for n in state[f"{what}_names"]]
      remap[what] = np.asarray([table.setdefault(n, len(table)) for n in names]
                               + [-1], np.int64)
      remap[what + "_names"] = np.asarray(names + ["?"])
    frames = np.asarray(state["frames"], np.int64)
    action = remap["action"][state["action"]]
    source = remap["source"][state["source"]]
    self._add(frames, state["e1"], state["e2"], state["count"], action, source,
              remap["action_names"][state["action"]],
              remap["source_names"][state["source"]])
    for k in self._scalars:
      self._scalars[k] += type(self._scalars[k])(state[k])

  def result(self) -> dict[str, Any]:
    sc = self._scalars
    if not sc["num_clips"]:
      raise ValueError(f"{_PROTOCOL}: no clips to evaluate")
    if not sc["num_clips_evaluated"]:
      raise ValueError(f"{_PROTOCOL}: all {sc['num_clips']} clips belong to excluded "
                       f"sequences {sorted(self.excluded)}; nothing left to evaluate")
    frames = np.flatnonzero(self._count.data > 0)
    e1_acc, e2_acc = self._e1.data[frames], self._e2.data[frames]
    count, action_code = self._count.data[frames], self._action.data[frames]
    keep = e1_acc > 0
    per_action = {}
    for action in sorted(self._action_names):
      sel = keep & (action_code == self._action_names[action])
      if not np.any(sel):
        continue
      per_action[action] = {
          "p1_mm": float(np.mean(e1_acc[sel] / count[sel])),
          "p2_mm": float(np.mean(e2_acc[sel] / count[sel])),
          "num_frames": int(sel.sum()),
      }
    if not per_action:
      raise ValueError(f"{_PROTOCOL}: every evaluated frame has zero error; the "
                       "official protocol skips such frames, so there is nothing to "
                       "average")
    return {
        "p1_mm": float(np.mean([v["p1_mm"] for v in per_action.values()])),
        "p2_mm": float(np.mean([v["p2_mm"] for v in per_action.values()])),
        "per_action": per_action,
        "accel_mm": (sc["accel_sum"] / sc["accel_count"] if sc["accel_count"]
                     else None),
        "mpjve_mm": sc["vel_sum"] / sc["vel_count"] if sc["vel_count"] else None,
        "num_clips": sc["num_clips"],
        "num_clips_evaluated": sc["num_clips_evaluated"],
        "num_clips_excluded": sc["num_clips_excluded"],
        "num_frames": int(keep.sum()),
        "num_frames_skipped_zero_error": int((~keep).sum()),
        "num_actions": len(per_action),
        "num_clips_temporal": sc["num_clips_temporal"],
    }


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
  evaluator = H36MEvaluator(excluded_sequences=excluded_sequences, root=root)
  evaluator.update(predictions, examples)
  return evaluator.result()
