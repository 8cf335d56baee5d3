"""Readers of 2D keypoint files: what detectors and pose estimators write.

``read_keypoints(path)`` detects the format and returns ``Detections``: per frame,
the people found, each with keypoints (K, 3) = x, y, score in the source image's
pixels and the source's joint layout (``skeletons.SOURCE_LAYOUTS``).

Formats (``--format`` of ``experiments.lift``):

* ``coco``: COCO keypoint results, a JSON list of ``{"image_id", "category_id",
  "keypoints": [x, y, v] * K, "score"}`` (+ optional ``"track_id"``);
* ``alphapose``: AlphaPose's ``alphapose-results.json``, the same list with
  ``"image_id": "12.jpg"``, ``"box"`` and, when tracking, ``"idx"`` (COCO-17,
  Halpe-26 or Halpe-136 keypoints);
* ``openpose``: a folder of OpenPose's per-frame ``*_keypoints.json`` files
  (``people[].pose_keypoints_2d``, BODY_25 or COCO-18) or one such file;
* ``mmpose``: mmpose predictions: ``{"meta_info", "instance_info"}`` of its demos'
  ``--save-predictions`` or the inferencer's list of frames ``[{"frame_id",
  "instances"}]`` / list of instances, each instance with ``"keypoints"``
  [[x, y], ...], ``"keypoint_scores"``, ``"bbox"`` [[x1, y1, x2, y2]] and optional
  ``"track_id"``;
* ``npy``: a (F, J, 2 | 3) or (P, F, J, 2 | 3) array in a .npy, or a .npz with
  ``keypoints`` and optional ``scores`` (F, J) / (P, F, J), ``image_size`` (2,),
  ``fps`` and ``layout``. NaN marks a missing joint. 17 joints are ambiguous (COCO
  or H36M order) unless the .npz has ``layout`` or ``layout=`` is given.

Frames: image ids / file names that hold a number are frame numbers (a frame with
no detection is an empty frame); otherwise frames follow the names' natural order.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import re
from typing import Any
import warnings

import numpy as np

from sasmamba_jax import skeletons

FORMATS = ("coco", "alphapose", "openpose", "mmpose", "npy")


class KeypointFileError(ValueError):
  """An input file that cannot be read as keypoints; the message says why."""


@dataclasses.dataclass
class Person:
  """One detected person in one frame."""

  keypoints: np.ndarray            # (K, 3) x, y, score; NaN x/y = missing
  score: float
  track_id: str | None = None
  box: np.ndarray | None = None    # (4,) x, y, w, h in pixels


@dataclasses.dataclass
class Detections:
  """People per frame, as read from a file."""

  format: str
  layout: str                       # a key of skeletons.SOURCE_LAYOUTS
  frames: list[list[Person]]        # frames[i]: the people of frame i
  frame_names: list[str]
  image_size: tuple[int, int] | None = None
  fps: float | None = None

  @property
  def num_people(self) -> int:
    return sum(len(f) for f in self.frames)


_LAYOUT_BY_COUNT = {17: "coco", 26: "halpe26", 136: "halpe136", 133: "coco_wholebody",
                    25: "body25", 18: "coco18"}


def _layout(count: int, path: pathlib.Path, layout: str | None,
            allowed: tuple[int, ...]) -> str:
  if layout is not None:
    if layout not in skeletons.SOURCE_LAYOUTS:
      raise KeypointFileError(f"unknown layout {layout!r}; known: "
                              f"{', '.join(skeletons.SOURCE_LAYOUTS)}")
    if skeletons.SOURCE_LAYOUTS[layout] != count:
      raise KeypointFileError(
          f"{path}: people have {count} keypoints, but layout {layout!r} has "
          f"{skeletons.SOURCE_LAYOUTS[layout]}")
    return layout
  if count not in allowed:
    raise KeypointFileError(
        f"{path}: people have {count} keypoints; expected one of "
        f"{', '.join(f'{n} ({_LAYOUT_BY_COUNT[n]})' for n in allowed)}")
  return _LAYOUT_BY_COUNT[count]


def _keypoints(flat: Any, path: pathlib.Path, where: str) -> np.ndarray:
  try:
    k = np.asarray(flat, dtype=np.float64).reshape(-1, 3)
  except (TypeError, ValueError):
    raise KeypointFileError(f"{path}: {where}: keypoints must be a flat list of "
                            "x, y, score triples") from None
  if not np.all(np.isfinite(k)):
    raise KeypointFileError(f"{path}: {where}: keypoints hold NaN or infinite "
                            "values; fix the detector output (missing joints are "
                            "written with score 0)")
  return k


def _number(value: Any, path: pathlib.Path, where: str) -> float:
  """A finite number of the file, or an error naming the file and the entry."""
  try:
    number = float(np.asarray(value, dtype=np.float64).reshape(-1)[0])
  except (TypeError, ValueError, IndexError):
    raise KeypointFileError(f"{path}: {where} must be a number, got "
                            f"{str(value)[:40]!r}") from None
  if not np.isfinite(number):
    raise KeypointFileError(f"{path}: {where} is {number}; fix the detector output")
  return number


def _box(value: Any, path: pathlib.Path, where: str) -> np.ndarray | None:
  """A person box [x, y, w, h] (None when absent)."""
  if value is None:
    return None
  try:
    box = np.asarray(value, dtype=np.float64).reshape(-1)[:4]
  except (TypeError, ValueError):
    box = np.zeros(0)
  if box.shape != (4,) or not np.all(np.isfinite(box)):
    raise KeypointFileError(f"{path}: {where}: a box must be 4 finite numbers "
                            f"[x, y, w, h], got {str(value)[:60]}")
  return box


def _image_id(value: Any, path: pathlib.Path, where: str) -> int | str:
  if isinstance(value, bool) or not isinstance(value, (int, str)):
    raise KeypointFileError(f"{path}: {where}: 'image_id' must be a frame number or "
                            f"a file name, got {str(value)[:40]!r}")
  return value


def _frame_number(name: Any) -> int | None:
  if isinstance(name, (int, np.integer)) and not isinstance(name, bool):
    return int(name)
  digits = re.findall(r"\d+", pathlib.PurePath(str(name)).stem)
  return int(digits[-1]) if digits else None


def natural_key(name: str) -> list[Any]:
  return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(name))]


def _frames_from_ids(ids: list[Any], people: list[Person], fmt: str, layout: str,
                     path: pathlib.Path) -> Detections:
  """Groups people by image id into frames (numbered ids keep their gaps)."""
  unique = sorted(set(ids), key=lambda v: natural_key(str(v)))
  numbers = [_frame_number(v) for v in unique]
  if all(n is not None for n in numbers) and len(set(numbers)) == len(unique):
    first = min(numbers)
    count = max(numbers) - first + 1
    index = {v: n - first for v, n in zip(unique, numbers)}
    names = [str(first + i) for i in range(count)]
    for v, n in zip(unique, numbers):
      names[n - first] = str(v)
  else:
    index = {v: i for i, v in enumerate(unique)}
    names = [str(v) for v in unique]
    count = len(unique)
  frames: list[list[Person]] = [[] for _ in range(count)]
  for i, p in zip(ids, people):
    frames[index[i]].append(p)
  return Detections(fmt, layout, frames, names)


def box_from_keypoints(k: np.ndarray) -> np.ndarray | None:
  """(x, y, w, h) around a person's scored joints (None if none is scored)."""
  valid = (k[:, 2] > 0) & np.isfinite(k[:, :2]).all(-1)
  if not valid.any():
    return None
  lo, hi = k[valid, :2].min(0), k[valid, :2].max(0)
  return np.array([lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]])


def _read_results_list(data: list[Any], path: pathlib.Path, fmt: str,
                       layout: str | None) -> Detections:
  ids, people, count = [], [], None
  for n, item in enumerate(data):
    if not isinstance(item, dict) or "keypoints" not in item or "image_id" not in item:
      raise KeypointFileError(f"{path}: entry {n} is not a keypoint result (needs "
                              "'image_id' and 'keypoints')")
    k = _keypoints(item["keypoints"], path, f"entry {n}")
    if count is None:
      count = len(k)
    elif len(k) != count:
      raise KeypointFileError(f"{path}: entry {n} has {len(k)} keypoints, earlier "
                              f"entries {count}")
    track = item.get("track_id", item.get("idx"))
    if isinstance(track, list):  # AlphaPose's PoseFlow writes [id]
      track = track[0] if track else None
    box = _box(item.get("box", item.get("bbox")), path, f"entry {n}")
    people.append(Person(k, _number(item.get("score", 1.0), path, f"entry {n}: score"),
                         None if track is None else str(track),
                         box if box is not None else box_from_keypoints(k)))
    ids.append(_image_id(item["image_id"], path, f"entry {n}"))
  allowed = (17, 26, 136) if fmt == "alphapose" else (17, 26, 133, 136)
  lay = _layout(count, path, layout, allowed)
  return _frames_from_ids(ids, people, fmt, lay, path)


def _openpose_people(data: Any, path: pathlib.Path) -> list[Person]:
  if not isinstance(data, dict) or not isinstance(data.get("people"), list):
    raise KeypointFileError(f"{path}: not an OpenPose keypoints file (no 'people' "
                            "list)")
  out = []
  for n, person in enumerate(data["people"]):
    if not isinstance(person, dict):
      raise KeypointFileError(f"{path}: person {n} is not an object")
    flat = person.get("pose_keypoints_2d")
    if flat is None:
      raise KeypointFileError(f"{path}: person {n} has no 'pose_keypoints_2d'")
    k = _keypoints(flat, path, f"person {n}")
    pid = person.get("person_id", -1)
    pid = pid[0] if isinstance(pid, list) and pid else pid
    valid = k[:, 2] > 0
    out.append(Person(k, float(k[valid, 2].mean()) if valid.any() else 0.0,
                      None if pid in (-1, None) else str(pid), box_from_keypoints(k)))
  return out


def _read_openpose(path: pathlib.Path, layout: str | None) -> Detections:
  files = ([path] if path.is_file() else
           sorted(path.glob("*_keypoints.json"), key=lambda p: natural_key(p.name)))
  if not files:
    raise KeypointFileError(f"{path}: no OpenPose '*_keypoints.json' files in it")
  ids, people = [], []
  for f in files:
    for p in _openpose_people(_load_json(f), f):
      ids.append(f.name)
      people.append(p)
  counts = {len(p.keypoints) for p in people}
  if len(counts) > 1:
    raise KeypointFileError(f"{path}: files mix keypoint counts {sorted(counts)}")
  lay = _layout(counts.pop() if counts else 25, path, layout, (25, 18))
  # Every file is a frame, also those without people.
  all_ids = [f.name for f in files]
  det = _frames_from_ids(all_ids + ids, [None] * len(all_ids) + people, "openpose",
                         lay, path)
  det.frames = [[p for p in f if p is not None] for f in det.frames]
  return det


def _mmpose_instance(inst: Any, path: pathlib.Path, where: str) -> Person:
  if not isinstance(inst, dict) or "keypoints" not in inst:
    raise KeypointFileError(f"{path}: {where} is not an mmpose instance (needs "
                            "'keypoints')")
  try:
    xy = np.asarray(inst["keypoints"], dtype=np.float64)
    scores = np.asarray(inst.get("keypoint_scores", np.ones(len(xy))), np.float64)
  except (TypeError, ValueError):
    raise KeypointFileError(f"{path}: {where}: 'keypoints' and 'keypoint_scores' "
                            "must hold numbers") from None
  if xy.ndim != 2 or xy.shape[1] != 2:
    raise KeypointFileError(f"{path}: {where}: 'keypoints' must be [[x, y], ...], "
                            f"got shape {xy.shape}")
  if scores.size != len(xy):
    raise KeypointFileError(f"{path}: {where}: {scores.size} keypoint_scores for "
                            f"{len(xy)} keypoints")
  k = _keypoints(np.concatenate([xy, scores.reshape(-1, 1)], 1), path, where)
  box = _box(inst.get("bbox"), path, where)
  if box is not None:
    box = np.array([box[0], box[1], box[2] - box[0], box[3] - box[1]])  # xyxy -> xywh
  score = inst.get("bbox_score", float(scores.mean()) if len(scores) else 0.0)
  score = _number(score, path, f"{where}: bbox_score")
  track = inst.get("track_id")
  return Person(k, score, None if track is None else str(track),
                box if box is not None else box_from_keypoints(k))


def _read_mmpose(data: Any, path: pathlib.Path, layout: str | None) -> Detections:
  frames = data["instance_info"] if isinstance(data, dict) else data
  if not isinstance(frames, list):
    raise KeypointFileError(f"{path}: mmpose 'instance_info' must be a list of frames")
  if frames and isinstance(frames[0], dict) and "instances" not in frames[0]:
    frames = [{"frame_id": 0, "instances": frames}]  # one image
  ids, people = [], []
  for n, frame in enumerate(frames):
    if not isinstance(frame, dict) or "instances" not in frame:
      raise KeypointFileError(f"{path}: frame {n} has no 'instances'")
    fid = frame.get("frame_id", n)
    ids.append(fid)
    people.append(None)
    for m, inst in enumerate(frame["instances"]):
      ids.append(fid)
      people.append(_mmpose_instance(inst, path, f"frame {fid} instance {m}"))
  counts = {len(p.keypoints) for p in people if p is not None}
  if len(counts) > 1:
    raise KeypointFileError(f"{path}: instances mix keypoint counts {sorted(counts)}")
  lay = _layout(counts.pop() if counts else 17, path, layout, (17, 26, 133, 136))
  det = _frames_from_ids(ids, people, "mmpose", lay, path)
  det.frames = [[p for p in f if p is not None] for f in det.frames]
  return det


def _read_array(path: pathlib.Path, layout: str | None) -> Detections:
  meta: dict[str, Any] = {}
  try:
    if path.suffix == ".npz":
      with np.load(path, allow_pickle=False) as z:
        if "keypoints" not in z:
          raise KeypointFileError(f"{path}: a .npz input needs a 'keypoints' array "
                                  f"(found {', '.join(z.files) or 'nothing'})")
        arr = z["keypoints"]
        meta = {k: z[k] for k in ("scores", "image_size", "fps", "layout") if k in z}
    else:
      arr = np.load(path, allow_pickle=False)
  except KeypointFileError:
    raise
  except Exception as e:  # pylint: disable=broad-except  # NumPy's parser raises many.
    raise KeypointFileError(f"{path}: cannot read the array ({type(e).__name__}: "
                            f"{e}); save it again with numpy.save") from None
  try:
    arr = np.asarray(arr, dtype=np.float64)
  except (TypeError, ValueError):
    raise KeypointFileError(f"{path}: keypoints must be numbers, got dtype "
                            f"{arr.dtype}") from None
  if arr.ndim == 3:
    arr = arr[None]
  if arr.ndim != 4 or arr.shape[-1] not in (2, 3):
    raise KeypointFileError(f"{path}: expected keypoints of shape (F, J, 2|3) or "
                            f"(P, F, J, 2|3), got {arr.shape}")
  if np.isinf(arr).any():
    raise KeypointFileError(f"{path}: keypoints hold infinite values")
  persons, num_frames, joints = arr.shape[:3]
  if num_frames == 0:
    raise KeypointFileError(f"{path}: the array has no frames")
  if arr.shape[-1] == 2:
    scores = meta.get("scores")
    if scores is None:
      scores = np.ones(arr.shape[:3])
    scores = np.asarray(scores, np.float64).reshape(arr.shape[:3])
    arr = np.concatenate([arr, scores[..., None]], -1)
  nan = np.isnan(arr[..., :2]).any(-1)
  if nan.any():
    warnings.warn(f"{path}: {int(nan.sum())} joint(s) are NaN: treated as missing "
                  "and filled over time", stacklevel=3)
    arr[..., 2] = np.where(nan, 0.0, arr[..., 2])
  if layout is None and "layout" in meta:
    layout = str(meta["layout"])
  if layout is None and joints == 17:
    raise KeypointFileError(f"{path}: 17 joints could be COCO or H36M order; say "
                            "which with --layout=coco or --layout=h36m (or a "
                            "'layout' entry in the .npz)")
  allowed = (17, 18, 25, 26, 133, 136)
  lay = _layout(joints, path, layout, allowed)
  frames = [[Person(arr[p, f], float(np.nanmean(arr[p, f, :, 2])), str(p),
                    box_from_keypoints(np.nan_to_num(arr[p, f])))
             for p in range(persons) if (arr[p, f, :, 2] > 0).any()]
            for f in range(num_frames)]
  size = meta.get("image_size")
  if size is not None:
    try:
      size = tuple(int(v) for v in np.ravel(size))
    except (TypeError, ValueError):
      size = ()
    if len(size) != 2 or min(size) <= 0:
      raise KeypointFileError(f"{path}: 'image_size' must be (width, height) in "
                              f"pixels, got {meta['image_size']!r:.60}")
  fps = meta.get("fps")
  if fps is not None:
    fps = _number(fps, path, "'fps'") if np.size(fps) == 1 else -1.0
    if not fps > 0:
      raise KeypointFileError(f"{path}: 'fps' must be one number > 0, got "
                              f"{meta['fps']!r:.60}")
  return Detections("npy", lay, frames, [str(i) for i in range(num_frames)],
                    size, fps)


def _load_json(path: pathlib.Path) -> Any:
  try:
    text = path.read_text()
  except (OSError, UnicodeDecodeError) as e:
    raise KeypointFileError(f"{path}: cannot read it ({e})") from None
  if not text.strip():
    raise KeypointFileError(f"{path}: the file is empty")
  try:
    return json.loads(text)
  except json.JSONDecodeError as e:
    raise KeypointFileError(f"{path}: not valid JSON ({e}); export the keypoints "
                            "again") from None
  except RecursionError:
    raise KeypointFileError(f"{path}: not a keypoint file (its JSON is nested too "
                            "deeply to read)") from None


def detect_format(path: str | pathlib.Path) -> str:
  """The format of a keypoint file or folder (one of ``FORMATS``)."""
  path = pathlib.Path(path)
  if path.is_dir():
    if any(path.glob("*_keypoints.json")):
      return "openpose"
    raise KeypointFileError(f"{path}: a folder input must hold OpenPose "
                            "'*_keypoints.json' files")
  if path.suffix in (".npy", ".npz"):
    return "npy"
  if path.suffix != ".json":
    raise KeypointFileError(f"{path}: unknown input type {path.suffix!r}; give a "
                            f"JSON, .npy/.npz or an OpenPose folder, or --format "
                            f"({'|'.join(FORMATS)})")
  data = _load_json(path)
  return _json_format(data, path)


def _json_format(data: Any, path: pathlib.Path) -> str:
  if isinstance(data, dict):
    if "instance_info" in data:
      return "mmpose"
    if "people" in data:
      return "openpose"
  if isinstance(data, list):
    if not data:
      raise KeypointFileError(f"{path}: the file holds no detections (an empty "
                              "list): nobody to lift")
    first = data[0]
    if isinstance(first, dict):
      if "instances" in first or ("keypoint_scores" in first):
        return "mmpose"
      if "keypoints" in first and "image_id" in first:
        alpha = "box" in first or "idx" in first or isinstance(first["image_id"], str)
        return "alphapose" if alpha else "coco"
  raise KeypointFileError(f"{path}: not a known keypoint format (COCO results, "
                          "AlphaPose, OpenPose, mmpose); pass --format to say which")


def read_keypoints(path: str | pathlib.Path, format: str = "auto",  # pylint: disable=redefined-builtin
                   layout: str | None = None) -> Detections:
  """Reads a keypoint file or folder (see the module docstring for formats).

  Args:
    path: the file or OpenPose folder.
    format: "auto" or one of ``FORMATS``.
    layout: the joint layout (a ``skeletons.SOURCE_LAYOUTS`` key), when the
      keypoint count does not tell it (17-joint arrays).

  Returns:
    ``Detections`` in the source layout (``layout``), with no person removed.
  """
  path = pathlib.Path(path)
  if not path.exists():
    raise KeypointFileError(f"{path} does not exist")
  if format not in ("auto",) + FORMATS:
    raise KeypointFileError(f"unknown format {format!r}; one of auto, "
                            f"{', '.join(FORMATS)}")
  fmt = detect_format(path) if format == "auto" else format
  if fmt == "npy":
    det = _read_array(path, layout)
  elif fmt == "openpose":
    det = _read_openpose(path, layout)
  else:
    data = _load_json(path)
    if fmt == "mmpose":
      if not isinstance(data, (dict, list)) or (isinstance(data, dict)
                                                and "instance_info" not in data):
        raise KeypointFileError(f"{path}: not mmpose predictions")
      det = _read_mmpose(data, path, layout)
    else:
      if not isinstance(data, list):
        raise KeypointFileError(f"{path}: {fmt} results must be a JSON list")
      if not data:
        raise KeypointFileError(f"{path}: the file holds no detections")
      det = _read_results_list(data, path, fmt, layout)
  if det.num_people == 0:
    raise KeypointFileError(f"{path}: no person was detected in any frame")
  return det
