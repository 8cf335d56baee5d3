"""PoseTrack 2017 (poseval JSON, ``annolist``) as top-down video-pose examples.

The dataset root holds the images where the annotations' ``image[0].name`` points
(relative to ROOT, e.g. ``images/bonn/000001_bonn/00000001.jpg``) and::

  ROOT/annotations/{train,val}/<video>.json      (poseval's PoseTrack17 format)
  ROOT/val_boxes.json                            (optional: detections)

Each ``annorect`` with ``annopoints`` is a person: poseval's 15 joint ids are put
into the PoseTrack18 slots (ears empty, poseval's neck = head_bottom), ``x1..y2``
is the head box and the person box is the keypoints' extent grown 1.3 times (as
poseval's converter does). Image ids follow poseval's converter (type, sequence
and frame number from the name). Examples: see ``posetrack_common``.
"""

from __future__ import annotations

import json
import os
import pathlib

import numpy as np

from sasmamba_jax.datasets import safe_io
from sasmamba_jax.datasets.posetrack import posetrack18_dataset_builder
from sasmamba_jax.datasets.posetrack import posetrack_common as pc

# poseval joint id -> PoseTrack18 slot.
_POSEVAL_TO_SLOT = (16, 14, 12, 11, 13, 15, 10, 8, 6, 5, 7, 9, 1, 0, 2)


def image_id(name: str, index: int) -> int:
  """poseval's converter id (T SSSSSS FFFF) of an image name, else ``index``."""
  folder = os.path.basename(os.path.dirname(name)).split("_")
  kinds = {"mpii": 1, "bonn": 2, "mpiinew": 3}
  try:
    frame = int(os.path.basename(name).split(".")[0].split("_")[0])
    if len(folder) > 1 and folder[1] in kinds and 0 <= frame < 10000:
      return kinds[folder[1]] * 10_000_000_000 + int(folder[0]) * 10_000 + frame
  except ValueError:
    pass
  return index


def _first(value):
  return value[0] if isinstance(value, list) else value


def read_video_17(path: pathlib.Path) -> pc.VideoInfo:
  """Reads a PoseTrack17 (``annolist``) file into the shared video structure."""
  try:
    data = json.loads(pathlib.Path(path).read_text())
  except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
    raise safe_io.DataFileError(f"{path}: not a readable JSON file "
                                f"({safe_io.json_problem(e)})") from None
  annolist = safe_io.require_key(data, "annolist", str(path))
  frames = []
  for k, entry in enumerate(annolist):
    w = f"{path}: annolist[{k}]"
    try:
      name = str(_first(safe_io.require_key(entry, "image", w))["name"])
      persons = []
      for r, rect in enumerate(entry.get("annorect") or []):
        points = (rect.get("annopoints") or [{}])[0].get("point") or []
        if not points:
          continue
        kp = np.zeros((17, 3))
        for point in points:
          j = int(_first(point["id"]))
          if not 0 <= j < 15:
            raise safe_io.DataFileError(f"{w}: annorect[{r}] has joint id {j}, "
                                        "expected 0..14")
          visible = _first(point.get("is_visible", 1))
          kp[_POSEVAL_TO_SLOT[j]] = (float(_first(point["x"])),
                                     float(_first(point["y"])),
                                     1.0 if visible in (None, "") else float(visible))
        head = np.zeros(4)
        if all(c in rect for c in ("x1", "y1", "x2", "y2")):
          x1, y1, x2, y2 = (float(_first(rect[c])) for c in ("x1", "y1", "x2", "y2"))
          head = np.asarray([x1, y1, x2 - x1, y2 - y1])
        present = kp[np.any(kp != 0, axis=1), :2]
        lo, hi = present.min(0), present.max(0)
        centre, half = (lo + hi) / 2, (hi - lo) * 0.65
        bbox = np.concatenate([centre - half, 2 * half])
        track = rect.get("track_id", -1)
        persons.append(pc.Person(kp, bbox, head, int(_first(track)), -1))
      regions = [np.asarray([(float(_first(p["x"])), float(_first(p["y"])))
                             for p in region["point"]]).reshape(-1, 2)
                 for region in entry.get("ignore_regions") or []]
    except (KeyError, TypeError, ValueError, IndexError) as e:
      if isinstance(e, safe_io.DataFileError):
        raise
      raise safe_io.DataFileError(f"{w}: malformed PoseTrack17 entry "
                                  f"({type(e).__name__}: {e})") from e
    labeled = bool(_first(entry.get("is_labeled", [bool(persons)])))
    frames.append(pc.FrameInfo(image_id(name, k), name, labeled, bool(persons),
                               regions, persons))
  if not frames:
    raise safe_io.DataFileError(f"{path}: 'annolist' is empty")
  return pc.VideoInfo(pathlib.Path(path).stem, frames)


class Builder(pc.VideoPoseBuilder):
  """PoseTrack 2017 from poseval-format annotations (see the module docstring)."""

  BUILDER_CONFIGS = posetrack18_dataset_builder._configs("posetrack17")  # pylint: disable=protected-access
  DESCRIPTION = __doc__
  HOMEPAGE = "https://posetrack.net"
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
      "Register at https://posetrack.net, download PoseTrack 2017 (images and the "
      "poseval-format annotations) and unpack them into one folder.")

  def read_video(self, path):
    return read_video_17(path)

  def _split_generators(self, dl_manager):
    dataset = f"{self.name}/{self.builder_config.name}"
    root = pc.manual_root(dl_manager, dataset)
    return self._examples_from_root(root, dataset, root / "val_boxes.json")
