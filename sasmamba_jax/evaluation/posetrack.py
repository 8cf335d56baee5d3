"""PoseTrack multi-person pose mAP exactly as the official ``poseval`` computes it.

poseval (leonid-pishchulin/poseval at 4258a15, ``evaluateAP``), reimplemented from
its documented rules (docs/reference.md, PoseTrack; the tests hold it against
poseval's own outputs on synthetic files):

1. Ground-truth files are the ``*.json`` of ``gt_dir``; each has a prediction file
   of the same name in ``pred_dir``. PoseTrack18 files (COCO-style ``images`` /
   ``annotations``) and PoseTrack17 files (``annolist``) are both read; only the
   first video of a file counts (a video = the folder of ``file_name``).
2. Frames pair by position (the i-th prediction image with the i-th GT image), so
   both files list the same number of images. A frame counts when its GT has at
   least one person; ``is_labeled`` is never read.
3. 17 PoseTrack18 keypoints -> poseval's 15 joints by the names in
   ``categories[0].keypoints`` (ears dropped, ``head_bottom`` is poseval's neck).
   A keypoint is absent when x == y == v == 0; otherwise visibility is ignored.
   Joint scores are the ``scores`` list (17 entries); without it -9999.
4. Ignore regions (polygons of the GT image): every GT and predicted point strictly
   inside one is removed (a point on the boundary stays) and persons left with no
   point are removed. The test is a small exact even-odd ray-crossing test
   (``point_in_polygon``) with an exact orientation predicate: poseval uses
   shapely's ``Polygon.contains``, which is not a kept dependency here.
5. Per frame: ``pck[p, g]`` = joints of prediction p within 0.5 head sizes of GT g
   (head size = 0.6 x the diagonal of the GT head box) over g's annotated joints;
   each prediction keeps its best GT (first index on ties); each GT then takes the
   prediction with the highest remaining value (none if 0). Joints of a matched
   prediction are true positives when within the threshold; every joint of an
   unmatched prediction is a false positive.
6. Per joint, pooled over all frames of all videos: rank by score, precision and
   recall (positives = annotated GT joints), VOC AP with the precision envelope
   summed where recall changes, x 100. No prediction: AP 0; no GT joint: NaN,
   left out of the mean. Total = mean of the 15 joint APs; the groups are Head =
   mean(head_top, neck, nose) and the left / right means.

Ties in scores are ranked by a stable sort (poseval's ``argsort`` is a quicksort,
whose order of tied scores depends on the platform).
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction
import json
import os
import pathlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from sasmamba_jax import skeletons
from sasmamba_jax.evaluation.report import markdown_table

PathLike = str | os.PathLike

#: poseval's 15 joints in its order (its "neck" is PoseTrack18's head_bottom).
POSEVAL_JOINTS: tuple[str, ...] = (
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
    "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow",
    "left_wrist", "neck", "nose", "head_top")

# The same 15 joints under their PoseTrack18 names (used to read files).
_POSEVAL_NAMES_18 = POSEVAL_JOINTS[:12] + ("head_bottom", "nose", "head_top")

#: Group -> poseval joint indices, in the order poseval averages them.
GROUPS: dict[str, tuple[int, ...]] = {
    "Head": (14, 12, 13), "Shoulder": (8, 9), "Elbow": (7, 10), "Wrist": (6, 11),
    "Hip": (2, 3), "Knee": (1, 4), "Ankle": (0, 5)}

MIN_SCORE = -9999.0
DIST_THRESHOLD = 0.5
NUM_JOINTS = 15

#: poseval joint j <- PoseTrack18 slot SLOTS_17_TO_15[j].
SLOTS_17_TO_15 = np.asarray([skeletons.POSETRACK.index(n) for n in _POSEVAL_NAMES_18])

_PROTOCOL = "evaluate_posetrack"


# ---------------------------------------------------------------------------------
# Frames


@dataclasses.dataclass
class Persons:
  """The persons of one frame in poseval's 15-joint layout.

  Attributes:
    points: (P, 15, 2) float64 x, y.
    present: (P, 15) bool, the joint is annotated / predicted.
    scores: (P, 15) float64 joint scores (predictions; -9999 when missing).
    head: (P, 4) float64 head box x1, y1, x2, y2; NaN when the person has none.
    has_points: (P,) bool, poseval's ``rectHasPoints`` (always True for
      PoseTrack18 files; PoseTrack17 persons may lack ``annopoints``).
  """

  points: np.ndarray
  present: np.ndarray
  scores: np.ndarray
  head: np.ndarray
  has_points: np.ndarray

  @classmethod
  def empty(cls) -> "Persons":
    return cls(np.zeros((0, NUM_JOINTS, 2)), np.zeros((0, NUM_JOINTS), bool),
               np.zeros((0, NUM_JOINTS)), np.zeros((0, 4)), np.zeros(0, bool))

  @classmethod
  def stack(cls, persons: Sequence[dict]) -> "Persons":
    if not persons:
      return cls.empty()
    return cls(*(np.asarray([p[k] for p in persons], dtype=d) for k, d in (
        ("points", np.float64), ("present", bool), ("scores", np.float64),
        ("head", np.float64), ("has_points", bool))))

  def __len__(self) -> int:
    return len(self.points)

  def select(self, keep: np.ndarray) -> "Persons":
    return Persons(self.points[keep], self.present[keep], self.scores[keep],
                   self.head[keep], self.has_points[keep])


@dataclasses.dataclass
class Frame:
  """One image of a video as poseval reads it.

  Attributes:
    name: the image's ``file_name`` (``image[0].name`` in PoseTrack17 files).
    image_id: PoseTrack18 ``images[].id``; for PoseTrack17 files the id poseval's
      converter derives from the name (``posetrack_image_id``).
    persons: ``Persons``.
    ignore_regions: list of (K, 2) float64 polygons.
    image: the raw PoseTrack18 ``images`` entry (to write prediction files).
  """

  name: str
  image_id: int
  persons: Persons
  ignore_regions: list[np.ndarray]
  image: dict


@dataclasses.dataclass
class Video:
  """The frames of one annotation file, in file order. ``name``: file stem."""

  name: str
  frames: list[Frame]


def posetrack_image_id(file_name: str) -> int:
  """poseval's image id of ``.../NNNNNN_{mpii|bonn|mpiinew}_x/FFFFFF.jpg``."""
  folder = os.path.basename(os.path.dirname(file_name)).split("_")
  kinds = {"mpii": 1, "bonn": 2, "mpiinew": 3}
  try:
    seq = int(folder[0])
    kind = kinds[folder[1]]
    frame = int(os.path.basename(file_name).split(".")[0].split("_")[0])
  except (ValueError, IndexError, KeyError):
    raise ValueError(
        f"image name {file_name!r} is not a PoseTrack name "
        "(.../NNNNNN_{mpii|bonn|mpiinew}_<anything>/<frame>.jpg)") from None
  if not 0 <= frame < 10000:
    raise ValueError(f"image name {file_name!r}: frame {frame} is not in [0, 10000)")
  return kind * 10_000_000_000 + seq * 10_000 + frame


def _video_of(file_name: str) -> str:
  return os.path.basename(os.path.dirname(file_name)).split("_")[0]


def _person_18(ann: Mapping[str, Any], table: Sequence[int | None],
               what: str) -> dict:
  """A PoseTrack18 annotation -> poseval's person (convert.py semantics)."""
  keypoints = np.asarray(ann["keypoints"], dtype=np.float64)
  if keypoints.size != 3 * len(table):
    raise ValueError(f"{what}: 'keypoints' has {keypoints.size} numbers, expected "
                     f"{3 * len(table)} ({len(table)} keypoints x 3)")
  keypoints = keypoints.reshape(len(table), 3)
  scores = ann.get("scores") or None  # an empty list counts as no scores
  if scores is not None and len(scores) < len(table):
    raise ValueError(f"{what}: 'scores' has {len(scores)} entries, expected "
                     f"{len(table)}")
  points = np.zeros((NUM_JOINTS, 2))
  present = np.zeros(NUM_JOINTS, bool)
  score = np.full(NUM_JOINTS, np.nan)
  for slot, joint in enumerate(table):
    if joint is None:
      continue
    x, y, v = keypoints[slot]
    points[joint] = x, y
    present[joint] = not (x == 0 and y == 0 and v == 0)
    score[joint] = MIN_SCORE if scores is None else float(scores[slot])
  head = np.full(4, np.nan)
  if "bbox_head" in ann:
    x, y, w, h = (float(v) for v in ann["bbox_head"])
    head = np.asarray([x, y, x + w, y + h])
  return dict(points=points, present=present, scores=score, head=head,
              has_points=True)


def _regions_18(image: Mapping[str, Any]) -> list[np.ndarray]:
  if "ignore_regions_x" not in image or "ignore_regions_y" not in image:
    return []
  return [np.asarray(list(zip(xs, ys)), np.float64).reshape(-1, 2)
          for xs, ys in zip(image["ignore_regions_x"], image["ignore_regions_y"])]


def _parse_18(data: Mapping[str, Any], what: str) -> list[Frame]:
  categories = data.get("categories")
  if not categories or "keypoints" not in categories[0]:
    raise ValueError(f"{what}: needs categories[0].keypoints (the 17 PoseTrack18 "
                     "keypoint names)")
  names = list(categories[0]["keypoints"])
  table = [_POSEVAL_NAMES_18.index(n) if n in _POSEVAL_NAMES_18 else None
           for n in names]
  missing = [n for n in _POSEVAL_NAMES_18 if n not in names]
  if missing:
    raise ValueError(f"{what}: categories[0].keypoints lacks {missing}")
  by_id: dict[Any, dict] = {}
  for image in data["images"]:
    by_id.setdefault(image["id"], image)
  persons: dict[Any, list] = {}
  for k, ann in enumerate(data.get("annotations") or []):
    persons.setdefault(ann["image_id"], []).append((k, ann))
  frames, video = [], None
  for image in data["images"]:
    image = by_id[image["id"]]  # poseval looks an image up by id (first wins)
    name = str(image["file_name"])
    if video is None:
      video = _video_of(name)
    elif _video_of(name) != video:
      continue  # poseval reads only the file's first video
    people = [_person_18(ann, table, f"{what}: annotations[{k}]")
              for k, ann in persons.get(image["id"], [])]
    frames.append(Frame(name, int(image["id"]), Persons.stack(people),
                        _regions_18(image), dict(image)))
  return frames


def _parse_17(data: Mapping[str, Any], what: str) -> list[Frame]:
  frames, video = [], None
  for i, entry in enumerate(data["annolist"]):
    name = str(entry["image"][0]["name"])
    if video is None:
      video = _video_of(name)
    people = []
    for k, rect in enumerate(entry.get("annorect") or []):
      ap = rect.get("annopoints")
      has_points = bool(ap) and len(ap[0]) > 0 and "point" in ap[0]
      points = np.zeros((NUM_JOINTS, 2))
      present = np.zeros(NUM_JOINTS, bool)
      score = np.full(NUM_JOINTS, np.nan)
      for point in (ap[0]["point"] if has_points else []):
        j = point.get("id")
        j = j[0] if isinstance(j, list) else j
        if j is None or not 0 <= int(j) < NUM_JOINTS or present[int(j)]:
          continue  # poseval takes the first point of each id
        j = int(j)
        points[j] = _first(point["x"]), _first(point["y"])
        present[j] = True
        score[j] = float(_first(point["score"])) if "score" in point else MIN_SCORE
      head = np.full(4, np.nan)
      if all(k in rect for k in ("x1", "y1", "x2", "y2")):
        head = np.asarray([_first(rect[k]) for k in ("x1", "y1", "x2", "y2")], float)
      people.append(dict(points=points, present=present, scores=score, head=head,
                         has_points=has_points))
    regions = [np.asarray([(_first(p["x"]), _first(p["y"])) for p in r["point"]],
                          np.float64).reshape(-1, 2)
               for r in entry.get("ignore_regions") or []]
    try:
      image_id = posetrack_image_id(name)
    except ValueError:
      image_id = i
    frames.append(Frame(name, image_id, Persons.stack(people), regions,
                        {"file_name": name, "id": image_id}))
  return frames


def _first(value: Any) -> Any:
  return value[0] if isinstance(value, list) else value


def _json_problem(error: BaseException) -> str:
  if isinstance(error, RecursionError):
    return "its JSON is nested too deeply to read"
  return str(error)


def load_video(path: PathLike) -> Video:
  """Reads one PoseTrack18 or PoseTrack17 annotation / prediction file.

  Raises:
    ValueError: unreadable JSON or a missing key, naming the file and the key.
  """
  path = pathlib.Path(path)
  try:
    data = json.loads(path.read_text())
  except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
    raise ValueError(f"{path}: not a readable JSON file ({_json_problem(e)})") from None
  what = str(path)
  try:
    if isinstance(data, Mapping) and "annolist" in data:
      frames = _parse_17(data, what)
    elif isinstance(data, Mapping) and "images" in data:
      frames = _parse_18(data, what)
    else:
      raise ValueError(f"{what}: neither PoseTrack18 ('images', 'annotations', "
                       "'categories') nor PoseTrack17 ('annolist') format")
  except KeyError as e:
    raise ValueError(f"{what}: missing key {e} in an image or annotation") from e
  except (TypeError, IndexError, AttributeError) as e:
    raise ValueError(f"{what}: malformed PoseTrack JSON ({type(e).__name__}: {e})"
                     ) from e
  return Video(path.stem, frames)


def load_videos(folder: PathLike) -> list[Video]:
  """Every ``*.json`` of ``folder`` (sorted by name), as ``Video``s."""
  folder = pathlib.Path(folder)
  if not folder.is_dir():
    raise FileNotFoundError(f"{_PROTOCOL}: {folder} is not a folder of PoseTrack "
                            "annotation files")
  files = sorted(folder.glob("*.json"))
  if not files:
    raise FileNotFoundError(f"{_PROTOCOL}: no *.json files in {folder}")
  return [load_video(f) for f in files]


# ---------------------------------------------------------------------------------
# Point in polygon (exact even-odd, boundary excluded: shapely ``contains``)


def _orientation(ax, ay, bx, by, cx, cy) -> int:
  """Sign of the cross product (b - a) x (c - a), exact for float inputs."""
  left = (bx - ax) * (cy - ay)
  right = (by - ay) * (cx - ax)
  det = left - right
  # Shewchuk's error bound for the float evaluation; below it, decide exactly.
  if abs(det) > 3.3306690738754716e-16 * (abs(left) + abs(right)) and np.isfinite(det):
    return 1 if det > 0 else -1
  fa = [Fraction(v) for v in (ax, ay, bx, by, cx, cy)]
  exact = (fa[2] - fa[0]) * (fa[5] - fa[1]) - (fa[3] - fa[1]) * (fa[4] - fa[0])
  return (exact > 0) - (exact < 0)


def point_in_polygon(x: float, y: float, polygon: np.ndarray) -> bool:
  """True when (x, y) lies strictly inside ``polygon`` (K, 2) (even-odd rule).

  A point on an edge or vertex is not inside (shapely's ``contains``). The ring is
  closed implicitly. Coordinates are compared exactly (no epsilon).
  """
  x, y = float(x), float(y)
  crossings = 0
  k = len(polygon)
  for i in range(k):
    ax, ay = float(polygon[i, 0]), float(polygon[i, 1])
    bx, by = float(polygon[(i + 1) % k, 0]), float(polygon[(i + 1) % k, 1])
    if ax == x and ay == y:
      return False  # a vertex
    if ay == by == y:  # horizontal edge on the ray's line
      if min(ax, bx) <= x <= max(ax, bx):
        return False
      continue
    if (ay > y) != (by > y):  # the edge straddles the horizontal line through y
      o = _orientation(ax, ay, bx, by, x, y)
      if o == 0:
        return False  # on the edge
      # Upward edge (by > ay): the point is left of it when o > 0; the ray to +x
      # crosses the edge exactly when the point is on the edge's left side.
      if (o > 0) == (by > ay):
        crossings += 1
    elif (ay == y or by == y) and min(ax, bx) <= x <= max(ax, bx):
      # An endpoint on the line, the other not straddling: on the edge only if
      # collinear (already excluded above for vertices), so check exactly.
      if _orientation(ax, ay, bx, by, x, y) == 0:
        return False
  return crossings % 2 == 1


def _inside_any(x: float, y: float, polygons: Sequence[np.ndarray]) -> bool:
  for poly in polygons:
    # Bounding-box rejection first: most points are far from most regions.
    if (len(poly) >= 3 and poly[:, 0].min() < x < poly[:, 0].max()
        and poly[:, 1].min() < y < poly[:, 1].max()
        and point_in_polygon(x, y, poly)):
      return True
  return False


def _remove_ignored(persons: Persons, polygons: Sequence[np.ndarray]) -> Persons:
  present = persons.present.copy()
  for p in range(len(persons)):
    for j in np.flatnonzero(present[p]):
      x, y = persons.points[p, j]
      if _inside_any(x, y, polygons):
        present[p, j] = False
  out = dataclasses.replace(persons, present=present)
  return out.select(present.any(axis=1))


# ---------------------------------------------------------------------------------
# Matching and AP


@dataclasses.dataclass
class _Pool:
  """Scored predicted joints pooled over frames: what AP needs."""

  scores: list[np.ndarray] = dataclasses.field(default_factory=list)
  labels: list[np.ndarray] = dataclasses.field(default_factory=list)
  joints: list[np.ndarray] = dataclasses.field(default_factory=list)
  n_gt: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(NUM_JOINTS))

  def add(self, scores, labels, present):
    p, j = np.nonzero(present)
    self.scores.append(scores[p, j])
    self.labels.append(labels[p, j])
    self.joints.append(j)


def _check_regions(frame: Frame, what: str) -> list[np.ndarray]:
  """The frame's polygons; an empty one contains nothing (shapely), 1-2 points fail."""
  for k, poly in enumerate(frame.ignore_regions):
    if 0 < len(poly) < 3:
      raise ValueError(f"{what}: frame {frame.name!r} ignore region {k} has "
                       f"{len(poly)} points; a polygon needs at least 3")
  return [poly for poly in frame.ignore_regions if len(poly)]


def _score_frame(gt: Persons, pred: Persons, pool: _Pool, what: str) -> None:
  """poseval's ``assignGTmulti`` for one frame (after clean-up and ignore regions)."""
  num_gt, num_pred = len(gt), len(pred)
  pool.n_gt += gt.present.sum(axis=0)
  if num_pred == 0:
    return
  if num_gt == 0:
    pool.add(pred.scores, np.zeros(pred.present.shape, bool), pred.present)
    return
  if np.any(np.isnan(gt.head)):
    g = int(np.flatnonzero(np.isnan(gt.head).any(axis=1))[0])
    raise ValueError(f"{what}: ground-truth person {g} has no head box "
                     "('bbox_head'); poseval needs it to normalise distances")
  d = gt.head[:, 2:] - gt.head[:, :2]
  head_size = 0.6 * np.sqrt(d[:, 0] * d[:, 0] + d[:, 1] * d[:, 1])  # (G,)
  delta = gt.points[None] - pred.points[:, None]  # (P, G, 15, 2)
  both = pred.present[:, None] & gt.present[None]
  with np.errstate(divide="ignore", invalid="ignore"):
    norm = np.sqrt(delta[..., 0] * delta[..., 0] + delta[..., 1] * delta[..., 1])
    dist = np.where(both, norm / head_size[None, :, None], np.inf)
  match = dist <= DIST_THRESHOLD
  num_annotated = gt.present.sum(axis=1)
  pck = match.sum(axis=2).astype(np.float64)
  has = num_annotated > 0
  pck[:, has] = pck[:, has] / num_annotated[has]
  best = np.argmax(pck, axis=1)
  pck = np.where(np.arange(num_gt)[None] == best[:, None], pck, 0.0)
  pred_of_gt = np.argmax(pck, axis=0)
  pred_of_gt[np.max(pck, axis=0) == 0] = -1
  labels = np.zeros(pred.present.shape, bool)
  for g, p in enumerate(pred_of_gt):
    if p >= 0:
      labels[p] = match[p, g]
  pool.add(pred.scores, labels, pred.present)


def _average_precision(scores: np.ndarray, labels: np.ndarray, n_gt: float
                       ) -> tuple[float, float, float]:
  """poseval's computeRPC + VOCap (x 100): (AP, final precision, final recall)."""
  if scores.size == 0:
    return 0.0, 0.0, 0.0
  order = np.argsort(scores, kind="stable")[::-1]
  tp = np.cumsum(labels[order].astype(np.int64))
  with np.errstate(divide="ignore", invalid="ignore"):
    recall = 1.0 * tp / np.float64(n_gt)
    precision = 1.0 * tp / np.arange(1, tp.size + 1)
    mpre = np.concatenate([[0.0], precision, [0.0]])
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    i = np.flatnonzero(mrec[1:] != mrec[:-1]) + 1
    ap = np.sum((mrec[i] - mrec[i - 1]) * mpre[i])
  return float(ap * 100), float(precision[-1] * 100), float(recall[-1] * 100)


def _pair_frames(gt: Video, pred: Video, what: str) -> list[tuple[Frame, Frame]]:
  if len(gt.frames) != len(pred.frames):
    raise ValueError(f"{what}: the prediction file has {len(pred.frames)} images "
                     f"but the ground truth has {len(gt.frames)}; poseval pairs "
                     "frames by position, so both must list the same images")
  return list(zip(gt.frames, pred.frames))


def _score_video(gt: Video, pred: Video, pool: _Pool, what: str) -> int:
  """Cleans up, removes ignored points and scores every frame; returns #frames."""
  count = 0
  for g, p in _pair_frames(gt, pred, what):
    if len(g.persons) == 0:
      continue  # frames without GT persons are dropped with their predictions
    count += 1
    gp = g.persons.select(g.persons.has_points)
    pp = p.persons.select(p.persons.has_points)
    if g.ignore_regions:  # as poseval: also drops persons left without points
      regions = _check_regions(g, what)
      gp, pp = _remove_ignored(gp, regions), _remove_ignored(pp, regions)
    _score_frame(gp, pp, pool, f"{what} frame {g.name!r}")
  return count


def _results(pool: _Pool, num_frames: int) -> dict[str, Any]:
  scores = np.concatenate(pool.scores) if pool.scores else np.zeros(0)
  labels = np.concatenate(pool.labels) if pool.labels else np.zeros(0, bool)
  joints = np.concatenate(pool.joints) if pool.joints else np.zeros(0, np.int64)
  ap, pre, rec = np.zeros(NUM_JOINTS), np.zeros(NUM_JOINTS), np.zeros(NUM_JOINTS)
  counts = {}
  for j, name in enumerate(POSEVAL_JOINTS):
    sel = joints == j
    ap[j], pre[j], rec[j] = _average_precision(scores[sel], labels[sel], pool.n_gt[j])
    counts[name] = {"n_gt": int(pool.n_gt[j]), "n_pred": int(sel.sum()),
                    "n_tp": int(labels[sel].sum())}
  def mean(values):
    ok = ~np.isnan(values)
    return float(values[ok].mean()) if ok.any() else float("nan")
  out = {g: float(ap[list(idx)].mean()) for g, idx in GROUPS.items()}
  out["Total"] = mean(ap)
  out["per_joint"] = {n: float(ap[j]) for j, n in enumerate(POSEVAL_JOINTS)}
  out["per_joint_precision"] = {n: float(pre[j]) for j, n in enumerate(POSEVAL_JOINTS)}
  out["per_joint_recall"] = {n: float(rec[j]) for j, n in enumerate(POSEVAL_JOINTS)}
  out["mean_precision"] = mean(pre)
  out["mean_recall"] = mean(rec)
  out["per_joint_counts"] = counts
  out["num_frames"] = num_frames
  return out


TABLE_KEYS = ("Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "Total")


def format_posetrack_table(results: Mapping[str, Any], *, poseval: bool = False
                           ) -> str:
  """PoseTrack mAP per joint group and Total (%), a markdown table.

  ``poseval=True``: the two LaTeX-style lines poseval prints instead (``%1.1f``,
  right-aligned in 5 characters), for comparing with its output.
  """
  if poseval:
    header = ("& Head & Shou & Elb  & Wri  & Hip  & Knee & Ankl & Total\\\\")
    cells = ["{:>5}".format("%1.1f" % results[k]) for k in TABLE_KEYS]
    return header + "\n&" + " &".join(cells) + " \\\\"
  return markdown_table(["", *TABLE_KEYS],
                        [["mAP", *(f"{results[k]:.1f}" for k in TABLE_KEYS)]])


def format_posetrack_comparison(results: Mapping[str, Mapping[str, Any]]) -> str:
  """A markdown table of several models' PoseTrack mAPs: a row per model, a column
  per joint group and Total (%)."""
  return markdown_table(["model", *TABLE_KEYS],
                        [[name, *(f"{r[k]:.1f}" for k in TABLE_KEYS)]
                         for name, r in results.items()])


def evaluate_posetrack(gt_dir: PathLike, pred_dir: PathLike) -> dict[str, Any]:
  """PoseTrack pose mAP of a folder of prediction files, as poseval computes it.

  Args:
    gt_dir: folder of ground-truth files, one per video (PoseTrack18 or 17 JSON).
    pred_dir: folder with a prediction file of the same name for each of them.

  Returns:
    ``Head``, ``Shoulder``, ``Elbow``, ``Wrist``, ``Hip``, ``Knee``, ``Ankle``,
    ``Total`` (AP in percent), ``per_joint`` {poseval joint name: AP},
    ``per_joint_precision`` / ``per_joint_recall`` (at the end of the ranking, as
    poseval's ``pre`` / ``rec``), ``mean_precision``, ``mean_recall``,
    ``per_joint_counts`` {name: {n_gt, n_pred, n_tp}}, ``num_frames`` evaluated and
    ``per_video`` {file stem: Total AP of that video alone}.

  Raises:
    FileNotFoundError: a folder or a prediction file is missing.
    ValueError: a file is malformed, or frame counts disagree (naming the file).
  """
  gt_videos = load_videos(gt_dir)
  pred_dir = pathlib.Path(pred_dir)

  def pairs():
    for gt in gt_videos:
      path = pred_dir / f"{gt.name}.json"
      if not path.is_file():
        raise FileNotFoundError(f"{_PROTOCOL}: no prediction file {path} for the "
                                f"ground truth {gt.name}.json")
      yield gt, load_video(path), str(path)

  return _score_videos(pairs())


def _score_videos(pairs: Iterable[tuple[Video, Video, str]]) -> dict[str, Any]:
  """poseval's results pooled over (ground truth, prediction, source name) videos,
  plus the Total AP of each video under ``per_video``."""
  pool, num_frames, per_video = _Pool(), 0, {}
  for gt, pred, source in pairs:
    video_pool = _Pool()
    n = _score_video(gt, pred, video_pool, source)
    per_video[gt.name] = _results(video_pool, n)["Total"]
    pool.scores += video_pool.scores
    pool.labels += video_pool.labels
    pool.joints += video_pool.joints
    pool.n_gt += video_pool.n_gt
    num_frames += n
  out = _results(pool, num_frames)
  out["per_video"] = per_video
  return out


# ---------------------------------------------------------------------------------
# Streaming evaluation of predictions held in memory


def _as_int_ids(values: Any, what: str) -> np.ndarray:
  ids = np.asarray(values)
  if ids.dtype.kind not in "iu":
    raise ValueError(f"{what}: 'image_id' must be integers, got dtype {ids.dtype}")
  return ids.astype(np.int64).reshape(-1)


class PoseTrackEvaluator:
  """Streaming PoseTrack mAP: ``update`` per batch of top-down predictions.

  Each prediction row is one person: (17, 3) x, y in the original image's pixels
  (PoseTrack18 slots) and a joint score. The rows are kept (a few floats per
  person) and matched against the ground truth frame by frame in ``result()``,
  exactly as ``evaluate_posetrack`` scores the files ``write`` produces. A frame's
  persons are taken in the order they arrived.

  Args:
    ground_truth: a folder of PoseTrack ground-truth files (e.g.
      ``ROOT/annotations/val``) or the ``Video``s from ``load_videos``.
  """

  metadata_keys = ("image_id",)

  def __init__(self, ground_truth: PathLike | Sequence[Video]):
    if isinstance(ground_truth, (str, os.PathLike)):
      ground_truth = load_videos(ground_truth)
    self.videos = list(ground_truth)
    self._known = {f.image_id for v in self.videos for f in v.frames}
    self._ids: list[np.ndarray] = []
    self._keypoints: list[np.ndarray] = []

  def update(self, predictions: Any, batch: Mapping[str, Any]) -> None:
    """Adds (B, 17, 3) predictions (x, y, score) for ``batch['image_id']`` (B,)."""
    pred = np.asarray(predictions, dtype=np.float64)
    if pred.ndim != 3 or pred.shape[1:] != (17, 3):
      raise ValueError(f"PoseTrackEvaluator: predictions must be (B, 17, 3) x, y, "
                       f"score in image pixels, got shape {pred.shape}")
    if "image_id" not in batch:
      raise ValueError("PoseTrackEvaluator: the batch lacks 'image_id'")
    ids = _as_int_ids(batch["image_id"], "PoseTrackEvaluator")
    if ids.shape[0] != pred.shape[0]:
      raise ValueError(f"PoseTrackEvaluator: {pred.shape[0]} predictions for "
                       f"{ids.shape[0]} image ids")
    if not np.all(np.isfinite(pred)):
      raise ValueError("PoseTrackEvaluator: predictions contain NaN or infinite "
                       "values")
    unknown = [int(i) for i in ids if int(i) not in self._known]
    if unknown:
      raise ValueError(f"PoseTrackEvaluator: image id {unknown[0]} is not in the "
                       "ground truth; predictions must come from its images")
    self._ids.append(ids)
    self._keypoints.append(pred)

  def state(self) -> dict[str, np.ndarray]:
    return {"image_id": (np.concatenate(self._ids) if self._ids
                         else np.zeros(0, np.int64)),
            "keypoints": (np.concatenate(self._keypoints) if self._keypoints
                          else np.zeros((0, 17, 3)))}

  def merge(self, state: Mapping[str, np.ndarray]) -> None:
    if len(state["image_id"]):
      self.update(state["keypoints"], {"image_id": state["image_id"]})

  def _predicted_videos(self) -> list[Video]:
    state = self.state()
    order = np.argsort(state["image_id"], kind="stable")  # keeps arrival order
    ids, kps = state["image_id"][order], state["keypoints"][order]
    uniq, first = np.unique(ids, return_index=True)
    ends = np.append(first[1:], ids.size)
    rows = {int(i): kps[b:e] for i, b, e in zip(uniq, first, ends)}
    videos = []
    for video in self.videos:
      frames = []
      for f in video.frames:
        kp = rows.get(f.image_id, np.zeros((0, 17, 3)))
        frames.append(Frame(f.name, f.image_id, _persons_from_rows(kp), [], f.image))
      videos.append(Video(video.name, frames))
    return videos

  def result(self) -> dict[str, Any]:
    return _score_videos((gt, pred, f"{_PROTOCOL}: {gt.name}")
                         for gt, pred in zip(self.videos, self._predicted_videos()))

  def write(self, out_dir: PathLike) -> list[pathlib.Path]:
    """Writes the predictions as PoseTrack18 files (one per video) for poseval."""
    state = self.state()
    return write_posetrack_predictions(out_dir, self.videos, state["image_id"],
                                       state["keypoints"])


def _persons_from_rows(kp: np.ndarray) -> Persons:
  n = len(kp)
  return Persons(kp[:, SLOTS_17_TO_15, :2].astype(np.float64),
                 np.ones((n, NUM_JOINTS), bool), kp[:, SLOTS_17_TO_15, 2].astype(
                     np.float64), np.full((n, 4), np.nan), np.ones(n, bool))


def write_posetrack_predictions(out_dir: PathLike, videos: Sequence[Video],
                                image_ids: Any, keypoints: Any) -> list[pathlib.Path]:
  """Writes top-down predictions as PoseTrack18 prediction files.

  One file per ground-truth video, named like it, listing the same images in the
  same order (poseval pairs frames by position). Each person gets the 17
  keypoints ``[x, y, 1]``, ``scores`` (17), a ``track_id`` unique within its frame,
  ``score`` (mean joint score) and ``bbox`` (keypoint extent).

  Args:
    out_dir: folder to write (created).
    videos: the ground truth (``load_videos(gt_dir)``).
    image_ids: (N,) int image id of each person.
    keypoints: (N, 17, 3) x, y, score in the original image's pixels.

  Returns:
    The written paths.
  """
  out_dir = pathlib.Path(out_dir)
  out_dir.mkdir(parents=True, exist_ok=True)
  ids = _as_int_ids(image_ids, "write_posetrack_predictions")
  kps = np.asarray(keypoints, dtype=np.float64)
  if kps.shape != (ids.size, 17, 3):
    raise ValueError(f"write_posetrack_predictions: keypoints must be ({ids.size}, "
                     f"17, 3), got {kps.shape}")
  rows: dict[int, list[int]] = {}
  for n, i in enumerate(ids):
    rows.setdefault(int(i), []).append(n)
  paths = []
  for video in videos:
    images, annotations = [], []
    for f in video.frames:
      images.append(f.image)
      for track, n in enumerate(rows.get(f.image_id, [])):
        xy = kps[n, :, :2]
        flat = np.concatenate([xy, np.ones((17, 1))], axis=1).reshape(-1)
        x0, y0 = xy.min(axis=0)
        x1, y1 = xy.max(axis=0)
        annotations.append({
            "image_id": f.image["id"], "track_id": track, "category_id": 1,
            "id": len(annotations), "keypoints": [float(v) for v in flat],
            "scores": [float(s) for s in kps[n, :, 2]],
            "score": float(kps[n, :, 2].mean()),
            "bbox": [float(x0), float(y0), float(x1 - x0), float(y1 - y0)]})
    data = {"images": images, "annotations": annotations,
            "categories": [{"supercategory": "person", "id": 1, "name": "person",
                            "keypoints": list(skeletons.POSETRACK.joint_names),
                            "skeleton": []}]}
    path = out_dir / f"{video.name}.json"
    path.write_text(json.dumps(data))
    paths.append(path)
  return paths
