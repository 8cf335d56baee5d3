"""People across frames: tracks, and the filling of what a detector missed.

``link_tracks`` groups the people of ``Detections`` into tracks: by the file's
track ids when every person has one, else by a greedy frame-to-frame linker on box
IoU (each new frame's people, best overlaps first, continue the track whose last
box they overlap most, if the IoU is at least ``iou_threshold`` and the track was
seen within ``max_gap`` frames; the others start tracks).

``fill_missing`` makes a track liftable: joints below the score threshold and frames
without a detection are interpolated linearly over time from the nearest frames
where the joint was seen, and held constant before the first / after the last
such frame (edge fill); a joint never seen in the track is placed on the mean of
the frame's seen joints. What was filled is returned as a mask.

``drop_nonphysical`` turns joints no image could hold (more than
``NONPHYSICAL_SIZES`` image sizes outside it, e.g. a detector's 1e30) into missing
joints before any of this, so that they are filled like the others.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from sasmamba_jax import skeletons
from sasmamba_jax.inference.formats import Detections
from sasmamba_jax.inference.formats import box_from_keypoints

#: A joint further than this many image sizes (the larger side) outside the image
#: is no detection of a person in it (a wrong --image_size is off by far less).
NONPHYSICAL_SIZES = 10


def nonphysical(xy: np.ndarray, size: tuple[float, float]) -> np.ndarray:
  """(..., 2) pixel positions -> (...) bool: beyond any plausible position in an
  image of ``size`` = (w, h). NaN (a missing joint) is not flagged."""
  xy = np.asarray(xy, dtype=np.float64)
  w, h = float(size[0]), float(size[1])
  reach = NONPHYSICAL_SIZES * max(w, h)
  with np.errstate(invalid="ignore"):
    return ((xy[..., 0] < -reach) | (xy[..., 0] > w + reach)
            | (xy[..., 1] < -reach) | (xy[..., 1] > h + reach))


def drop_nonphysical(det: Detections, size: tuple[float, float]
                     ) -> tuple[Detections, int, str]:
  """``det`` with non-physical joints made missing (NaN, score 0).

  Returns:
    (detections, how many joints were dropped, an example "x = ..., y = ... in
    frame N"). Boxes derived from such joints are derived again without them.
  """
  count, example, frames = 0, "", []
  for f, people in enumerate(det.frames):
    kept = []
    for p in people:
      bad = nonphysical(p.keypoints[:, :2], size)
      if not bad.any():
        kept.append(p)
        continue
      if not example:
        x, y = p.keypoints[np.flatnonzero(bad)[0], :2]
        example = f"x = {x:.4g}, y = {y:.4g} in frame {det.frame_names[f]}"
      count += int(bad.sum())
      k = p.keypoints.copy()
      k[bad, :2] = np.nan
      k[bad, 2] = 0.0
      box = p.box
      if box is not None and (not np.all(np.isfinite(box)) or nonphysical(
          np.asarray(box[:2]) + [[0, 0], box[2:4]], size).any()):
        box = box_from_keypoints(k)
      kept.append(dataclasses.replace(p, keypoints=k, box=box))
    frames.append(kept)
  return dataclasses.replace(det, frames=frames), count, example


@dataclasses.dataclass
class Track:
  """One person over a span of frames (source layout)."""

  track_id: str
  frames: np.ndarray        # (n,) sorted frame indices where the person was detected
  keypoints: np.ndarray     # (n, K, 3) x, y, score
  scores: np.ndarray        # (n,) person scores

  @property
  def span(self) -> tuple[int, int]:
    return int(self.frames[0]), int(self.frames[-1])


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
  """IoU of two (x, y, w, h) boxes."""
  x1, y1 = max(a[0], b[0]), max(a[1], b[1])
  x2, y2 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
  inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
  union = a[2] * a[3] + b[2] * b[3] - inter
  return float(inter / union) if union > 0 else 0.0


def _by_given_ids(det: Detections) -> dict[str, list[tuple[int, object]]]:
  tracks: dict[str, dict[int, object]] = {}
  for f, people in enumerate(det.frames):
    for p in people:
      seen = tracks.setdefault(p.track_id, {})
      # Two people with one id in a frame: keep the more confident one.
      if f not in seen or p.score > seen[f].score:
        seen[f] = p
  return {k: sorted(v.items()) for k, v in tracks.items()}


def _by_iou(det: Detections, iou_threshold: float, max_gap: int
            ) -> dict[str, list[tuple[int, object]]]:
  tracks: list[list[tuple[int, object]]] = []
  for f, people in enumerate(det.frames):
    live = [t for t in tracks if f - t[-1][0] <= max_gap + 1]
    pairs = []
    for i, p in enumerate(people):
      for j, t in enumerate(live):
        last = t[-1][1]
        if p.box is not None and last.box is not None:
          iou = box_iou(p.box, last.box)
          if iou >= iou_threshold:
            pairs.append((iou, i, j))
    used_p, used_t = set(), set()
    for _, i, j in sorted(pairs, key=lambda x: -x[0]):
      if i not in used_p and j not in used_t:
        live[j].append((f, people[i]))
        used_p.add(i)
        used_t.add(j)
    for i, p in enumerate(people):
      if i not in used_p:
        tracks.append([(f, p)])
  return {str(n): t for n, t in enumerate(tracks)}


def link_tracks(det: Detections, *, iou_threshold: float = 0.3,
                max_gap: int = 10) -> list[Track]:
  """Tracks of ``det``, longest first (see the module docstring)."""
  people = [p for frame in det.frames for p in frame]
  if people and all(p.track_id is not None for p in people):
    grouped = _by_given_ids(det)
  else:
    grouped = _by_iou(det, iou_threshold, max_gap)
  tracks = [Track(tid, np.array([f for f, _ in items]),
                  np.stack([p.keypoints for _, p in items]).astype(np.float64),
                  np.array([p.score for _, p in items]))
            for tid, items in grouped.items()]
  return sorted(tracks, key=lambda t: (-len(t.frames), t.span))


def _interpolate(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
  """(F, C) values filled where ``valid`` (F,) is False (linear, edges held)."""
  frames = np.arange(len(values))
  known = np.flatnonzero(valid)
  return np.stack([np.interp(frames, known, values[known, c])
                   for c in range(values.shape[1])], -1)


def fill_missing(keypoints: np.ndarray, missing: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
  """Fills missing joints of a (F, J, C) track over time.

  Args:
    keypoints: (F, J, C) x, y[, score]; values at missing joints are ignored.
    missing: (F, J) bool.

  Returns:
    ((F, J, C) filled float32 keypoints, (F, J) bool mask of the filled joints).
    Raises ``ValueError`` when no joint is seen in any frame.
  """
  keypoints = np.asarray(keypoints, dtype=np.float64)
  missing = np.asarray(missing, dtype=bool) | np.isnan(keypoints).any(-1)
  if missing.all():
    raise ValueError("fill_missing: no joint is visible in any frame of the track")
  out = np.where(missing[..., None], 0.0, keypoints)
  never = missing.all(0)
  for j in np.flatnonzero(~never):
    out[:, j] = _interpolate(out[:, j], ~missing[:, j])
  if never.any():
    seen = ~never
    centre = out[:, seen].mean(1)
    out[:, never] = centre[:, None]
  return out.astype(np.float32), missing


@dataclasses.dataclass
class LiftableTrack:
  """A track converted to H36M-17 over its whole span, gaps filled."""

  track_id: str
  frames: np.ndarray         # (F,) consecutive frame indices (first .. last detection)
  keypoints: np.ndarray      # (F, 17, 3) pixels + score, filled
  filled: np.ndarray         # (F, 17) bool: joint filled (undetected or low score)
  detected: np.ndarray       # (F,) bool: the person was detected in the frame
  scores: np.ndarray         # (F,) person score (0 where not detected)


def prepare_track(track: Track, layout: str, *, score_threshold: float = 0.3
                  ) -> LiftableTrack:
  """Converts a track to H36M-17 over its span and fills what is missing.

  Joints scored below ``score_threshold`` (or NaN) count as missing, before the
  layout conversion so that a joint built from a missing one is missing too.
  """
  first, last = track.span
  length = last - first + 1
  num_source = track.keypoints.shape[1]
  source = np.full((length, num_source, 3), np.nan)
  rows = track.frames - first
  k = track.keypoints.copy()
  low = ~(k[..., 2] >= score_threshold) | np.isnan(k[..., :2]).any(-1)
  k[low] = np.nan
  source[rows] = k
  h36m = skeletons.to_h36m(source, layout)
  filled_kp, filled = fill_missing(h36m, np.isnan(h36m).any(-1))
  detected = np.zeros(length, dtype=bool)
  detected[rows] = True
  scores = np.zeros(length, dtype=np.float32)
  scores[rows] = track.scores
  return LiftableTrack(track.track_id, np.arange(first, last + 1), filled_kp, filled,
                       detected, scores)
