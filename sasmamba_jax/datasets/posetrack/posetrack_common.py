"""Shared by the video-pose builders: reading PoseTrack files, features, examples.

Every video-pose example is one annotated person (at least one keypoint with
visibility > 0) in one labelled frame (``is_labeled``: the frames poseval scores;
people annotated in other frames make no example), or one detection box in a
labelled frame (``val_boxes`` configs), with what a top-down video model needs:

* ``frames`` (T,) bytes: the encoded JPEGs of frames t - delta .. t + delta of the
  video (clamped at its ends), T = 2 delta + 1, the centre frame at delta; empty
  when the config stores paths instead (``images="paths"``, see ``frame_paths``).
* ``frame_paths`` (T,) str: the same frames' ``file_name`` (relative to the dataset
  root, recorded in ``builder.info.metadata["image_root"]``).
* ``frame_ids`` (T,) int64: their image ids.
* ``image_id`` int64, ``video_id`` str, ``frame_index`` int64 (position of the
  centre frame in its video), ``image_size`` (2,) int32 width, height.
* ``bbox`` (4,) float32 x, y, w, h in pixels; ``box_score`` float32 (1 for
  ground-truth boxes, the detector's score otherwise).
* ``keypoints`` (17, 3) float32: x, y in the original image's pixels and the
  visibility, PoseTrack slots (``skeletons.POSETRACK``); zeros for a detection box.
* ``head_box`` (4,) float32 x, y, w, h (zeros when absent).
* ``track_id``, ``person_id`` int64 (-1 when absent); ``has_labeled_person`` bool
  (PoseTrack21's frame flag; elsewhere: the frame has annotated persons).
* ``ignore_regions`` (K, 2) float32: the vertices of the frame's ignore polygons,
  one after another, and ``ignore_region_sizes`` (R,) int32 their vertex counts.

The JSON files are checked as they are read: a missing key, a keypoint list of the
wrong length, a frame count that disagrees with ``nframes`` or with the image
folder, or an image that does not decode fails with the file and the problem named.
"""

from __future__ import annotations

import dataclasses
import io
import json
import pathlib
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import tensorflow_datasets as tfds

from sasmamba_jax import skeletons
from sasmamba_jax.datasets import safe_io

PathLike = str | pathlib.Path


@dataclasses.dataclass(eq=False)
class VideoPoseConfig(tfds.core.BuilderConfig):
  """What a video-pose example holds.

  Attributes:
    delta: neighbours on each side of the labelled frame (T = 2 delta + 1).
    images: "bytes" embeds the JPEGs in the examples; "paths" stores their
      ``file_name`` only and the pipeline reads them below the dataset root.
    val_boxes: "gt" (ground-truth boxes) or "detections" (``val_boxes.json``).
    box_score_threshold: detections below this score are dropped.
  """
  delta: int = 2
  images: str = "bytes"
  val_boxes: str = "gt"
  box_score_threshold: float = 0.2


def features(num_frames: int, num_joints: int = 17) -> tfds.features.FeaturesDict:
  """The feature spec of a video-pose example (see the module docstring)."""
  t = num_frames
  return tfds.features.FeaturesDict({
      "frames": tfds.features.Tensor(shape=(t,), dtype=np.object_),
      "frame_paths": tfds.features.Tensor(shape=(t,), dtype=np.object_),
      "frame_ids": tfds.features.Tensor(shape=(t,), dtype=np.int64),
      "image_id": tfds.features.Scalar(dtype=np.int64),
      "video_id": tfds.features.Text(),
      "frame_index": tfds.features.Scalar(dtype=np.int64),
      "image_size": tfds.features.Tensor(shape=(2,), dtype=np.int32),
      "bbox": tfds.features.Tensor(shape=(4,), dtype=np.float32),
      "box_score": tfds.features.Scalar(dtype=np.float32),
      "keypoints": tfds.features.Tensor(shape=(num_joints, 3), dtype=np.float32),
      "head_box": tfds.features.Tensor(shape=(4,), dtype=np.float32),
      "track_id": tfds.features.Scalar(dtype=np.int64),
      "person_id": tfds.features.Scalar(dtype=np.int64),
      "has_labeled_person": tfds.features.Scalar(dtype=np.bool_),
      "ignore_regions": tfds.features.Tensor(shape=(None, 2), dtype=np.float32),
      "ignore_region_sizes": tfds.features.Tensor(shape=(None,), dtype=np.int32),
  })


# ---------------------------------------------------------------------------------
# Reading PoseTrack18 / PoseTrack21 video files


@dataclasses.dataclass
class Person:
  keypoints: np.ndarray  # (17, 3)
  bbox: np.ndarray  # (4,)
  head_box: np.ndarray  # (4,)
  track_id: int
  person_id: int
  score: float = 1.0


@dataclasses.dataclass
class FrameInfo:
  image_id: int
  file_name: str
  is_labeled: bool
  has_labeled_person: bool
  ignore_regions: list[np.ndarray]
  persons: list[Person]


@dataclasses.dataclass
class VideoInfo:
  name: str  # annotation file stem
  frames: list[FrameInfo]


def _floats(value: Any, size: int, what: str) -> np.ndarray:
  try:
    arr = np.asarray(value, dtype=np.float64).reshape(-1)
  except (TypeError, ValueError):
    raise safe_io.DataFileError(f"{what}: expected {size} numbers, got "
                                f"{str(value)[:60]}") from None
  if arr.size != size:
    raise safe_io.DataFileError(f"{what}: expected {size} numbers, got {arr.size}")
  if not np.all(np.isfinite(arr)):
    raise safe_io.DataFileError(f"{what}: contains NaN or infinite numbers")
  return arr


def _box_from_keypoints(kp: np.ndarray) -> np.ndarray:
  """The extent of the visible keypoints, grown by 15 % (files without bbox)."""
  vis = kp[kp[:, 2] > 0, :2]
  lo, hi = vis.min(axis=0), vis.max(axis=0)
  size = (hi - lo) * 1.15 + 1
  centre = (lo + hi) / 2
  return np.concatenate([centre - size / 2, size])


def read_video(path: PathLike) -> VideoInfo:
  """Reads a PoseTrack18 / PoseTrack21 annotation file (one video).

  Raises:
    safe_io.DataFileError: unreadable JSON, a missing key or a malformed value,
      naming the file and the entry; ``nframes`` disagreeing with the image list.
  """
  path = pathlib.Path(path)
  try:
    data = json.loads(path.read_text())
  except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
    raise safe_io.DataFileError(f"{path}: not a readable JSON file "
                                f"({safe_io.json_problem(e)})") from None
  what = str(path)
  images = safe_io.require_key(data, "images", what)
  annotations = data.get("annotations") or []
  if not isinstance(images, list) or not images:
    raise safe_io.DataFileError(f"{what}: 'images' must be a non-empty list")
  persons: dict[Any, list[Person]] = {}
  for k, ann in enumerate(annotations):
    w = f"{what}: annotations[{k}]"
    image_id = safe_io.require_key(ann, "image_id", w)
    kp = _floats(safe_io.require_key(ann, "keypoints", w), 51,
                 f"{w}['keypoints']").reshape(17, 3)
    if "bbox" in ann:
      bbox = _floats(ann["bbox"], 4, f"{w}['bbox']")
    elif np.any(kp[:, 2] > 0):
      bbox = _box_from_keypoints(kp)
    else:
      bbox = np.zeros(4)
    head = (_floats(ann["bbox_head"], 4, f"{w}['bbox_head']") if "bbox_head" in ann
            else np.zeros(4))
    persons.setdefault(image_id, []).append(Person(
        kp, bbox, head, int(ann.get("track_id", -1)), int(ann.get("person_id", -1))))
  frames = []
  for k, image in enumerate(images):
    w = f"{what}: images[{k}]"
    image_id = safe_io.require_key(image, "id", w)
    file_name = str(safe_io.require_key(image, "file_name", w))
    xs, ys = image.get("ignore_regions_x") or [], image.get("ignore_regions_y") or []
    if len(xs) != len(ys):
      raise safe_io.DataFileError(f"{w}: {len(xs)} ignore_regions_x but {len(ys)} "
                                  "ignore_regions_y")
    regions = []
    for r, (x, y) in enumerate(zip(xs, ys)):
      if len(x) != len(y):
        raise safe_io.DataFileError(f"{w}: ignore region {r} has {len(x)} x and "
                                    f"{len(y)} y values")
      regions.append(np.stack([np.asarray(x, float), np.asarray(y, float)], -1))
    people = persons.pop(image_id, [])
    labeled = bool(image.get("is_labeled", bool(people)))
    has_person = bool(image.get("has_labeled_person", bool(people)))
    frames.append(FrameInfo(int(image_id), file_name, labeled, has_person, regions,
                            people))
    nframes = image.get("nframes")
    if nframes is not None and int(nframes) != len(images):
      raise safe_io.DataFileError(
          f"{w}: nframes is {nframes} but the file lists {len(images)} images; the "
          "annotation file is truncated or belongs to another release")
  if persons:
    raise safe_io.DataFileError(f"{what}: annotations refer to image id "
                                f"{next(iter(persons))} that is not in 'images'")
  return VideoInfo(path.stem, frames)


def check_video_files(video: VideoInfo, root: pathlib.Path, what: str,
                      pattern: str = "*.jpg") -> None:
  """Every frame's file exists; the video folder holds no fewer frames than listed."""
  folders = {}
  for frame in video.frames:
    file = root / frame.file_name
    if not file.is_file():
      raise safe_io.MissingDataFileError(
          f"{what}: image {file} (file_name of image id {frame.image_id}) is "
          "missing; the images folder is incomplete (unpack every image archive "
          "of the release into the dataset root)")
    folders[file.parent] = folders.get(file.parent, 0) + 1
  for folder, listed in folders.items():
    found = len(list(folder.glob(pattern)))
    if found < listed:
      raise safe_io.DataFileError(f"{what}: {folder} holds {found} {pattern} frames "
                                  f"but the annotation file lists {listed}")


def read_jpeg(path: pathlib.Path, formats: tuple[str, ...] = ("JPEG",)
              ) -> tuple[bytes, tuple[int, int]]:
  """The file's bytes and (width, height), after checking that it decodes."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  data = path.read_bytes()
  try:
    with Image.open(io.BytesIO(data)) as im:
      size = im.size
      if im.format not in formats:
        raise safe_io.DataFileError(f"{path}: not a {' or '.join(formats)} image "
                                    f"({im.format})")
      if im.format == "JPEG":
        im.draft("RGB", (max(size[0] // 8, 1), max(size[1] // 8, 1)))
      im.load()  # decodes every scan (cheaply, at 1/8 size): truncation fails here
  except safe_io.DataFileError:
    raise
  except Exception as e:  # Pillow raises many types on corrupt data
    raise safe_io.DataFileError(f"{path}: the image does not decode ({e}); "
                                "download or unpack it again") from e
  return data, size


def load_val_boxes(path: pathlib.Path, threshold: float) -> dict[int, list[tuple]]:
  """PoseWarper / DCPose ``val_boxes.json``: image id -> [(bbox, score)] above
  ``threshold`` (COCO detection results: image_id, category_id, bbox, score)."""
  try:
    data = json.loads(path.read_text())
  except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
    raise safe_io.DataFileError(f"{path}: not a readable JSON file "
                                f"({safe_io.json_problem(e)})") from None
  if not isinstance(data, list):
    raise safe_io.DataFileError(f"{path}: expected a list of detections "
                                "({image_id, category_id, bbox, score})")
  out: dict[int, list[tuple]] = {}
  for k, det in enumerate(data):
    w = f"{path}: detection {k}"
    score = float(safe_io.require_key(det, "score", w))
    if det.get("category_id", 1) != 1 or score < threshold:
      continue
    bbox = _floats(safe_io.require_key(det, "bbox", w), 4, f"{w}['bbox']")
    out.setdefault(int(safe_io.require_key(det, "image_id", w)), []).append(
        (bbox, score))
  return out


def _regions(frame: FrameInfo) -> tuple[np.ndarray, np.ndarray]:
  if not frame.ignore_regions:
    return np.zeros((0, 2), np.float32), np.zeros(0, np.int32)
  return (np.concatenate(frame.ignore_regions).astype(np.float32),
          np.asarray([len(r) for r in frame.ignore_regions], np.int32))


def video_examples(video: VideoInfo, root: pathlib.Path, config: VideoPoseConfig,
                   what: str, detections: Mapping[int, list[tuple]] | None = None,
                   formats: tuple[str, ...] = ("JPEG",), pattern: str = "*.jpg"
                   ) -> Iterator[tuple[str, dict[str, Any]]]:
  """(key, example) for every annotated person (or detection) of a labelled frame.

  Args:
    video: from ``read_video``.
    root: the dataset root (``file_name`` is relative to it).
    config: delta, image storage.
    what: the annotation file, for error messages.
    detections: image id -> [(bbox, score)] to use instead of ground-truth boxes.
    formats: accepted image formats (Pillow names).
    pattern: glob of the frame files, to count a video folder's frames.
  """
  check_video_files(video, root, what, pattern)
  cache: dict[int, tuple[bytes, tuple[int, int]]] = {}

  def image(i):
    if i not in cache:
      cache[i] = read_jpeg(root / video.frames[i].file_name, formats)
    return cache[i]

  n, delta = len(video.frames), config.delta
  num_joints = next((len(p.keypoints) for f in video.frames for p in f.persons), 17)
  for t, frame in enumerate(video.frames):
    if not frame.is_labeled:   # poseval scores labelled frames only
      continue
    if detections is not None:
      people = [Person(np.zeros((num_joints, 3)), bbox, np.zeros(4), -1, -1, score)
                for bbox, score in detections.get(frame.image_id, [])]
    else:
      people = [p for p in frame.persons if np.any(p.keypoints[:, 2] > 0)]
    if not people:
      continue
    window = np.clip(np.arange(t - delta, t + delta + 1), 0, n - 1)
    data = [image(int(i)) for i in window]
    size = data[delta][1]
    regions, sizes = _regions(frame)
    for k, person in enumerate(people):
      yield f"{video.name}/{frame.image_id}/{k}", {
          "frames": np.asarray([d[0] if config.images == "bytes" else b""
                                for d in data], dtype=object),
          "frame_paths": np.asarray([video.frames[i].file_name for i in window],
                                    dtype=object),
          "frame_ids": np.asarray([video.frames[i].image_id for i in window],
                                  np.int64),
          "image_id": frame.image_id,
          "video_id": video.name,
          "frame_index": t,
          "image_size": np.asarray(size, np.int32),
          "bbox": person.bbox.astype(np.float32),
          "box_score": np.float32(person.score),
          "keypoints": person.keypoints.astype(np.float32),
          "head_box": person.head_box.astype(np.float32),
          "track_id": person.track_id,
          "person_id": person.person_id,
          "has_labeled_person": frame.has_labeled_person,
          "ignore_regions": regions,
          "ignore_region_sizes": sizes,
      }
    # Frames before the window's start are not needed again.
    for i in [i for i in cache if i < t - delta]:
      del cache[i]


def annotation_files(root: pathlib.Path, split: str, dataset: str,
                     folder_name: str = "annotations") -> list[pathlib.Path]:
  """``root/<folder_name>/<split>/*.json``, sorted, or a clear error."""
  folder = root / folder_name / split
  files = sorted(folder.glob("*.json")) if folder.is_dir() else []
  if not files:
    raise safe_io.MissingDataFileError(
        f"{dataset}: no annotation files in {folder}. Unpack the release so that "
        f"the dataset root holds images/{{train,val}}/<video>/ and "
        f"{folder_name}/{{train,val}}/<video>.json, then run:\n  python -m "
        f"experiments.prepare_data --dataset={dataset} --manual_dir=ROOT")
  return files


def manual_root(dl_manager: Any, dataset: str) -> pathlib.Path:
  try:
    root = dl_manager.manual_dir
  except AssertionError:
    root = getattr(dl_manager, "_manual_dir", None)
  if not root or not pathlib.Path(root).is_dir():
    raise safe_io.MissingDataFileError(
        f"{dataset}: the dataset root {root or 'MANUAL_DIR'} does not exist. "
        "Download the release (see sasmamba_jax/datasets/README.md) and run:\n  "
        f"python -m experiments.prepare_data --dataset={dataset} --manual_dir=ROOT")
  return pathlib.Path(root)


class VideoPoseBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """Base of the PoseTrack-layout builders: array_record, shared features."""

  VERSION = tfds.core.Version("1.1.0")
  RELEASE_NOTES = {
      "1.0.0": "First release.",
      "1.1.0": "Examples from labelled frames only (is_labeled), the frames poseval "
               "scores: people annotated in other frames make no example.",
  }
  DESCRIPTION = ""
  HOMEPAGE = ""
  SPLITS = ("train", "val")
  SKELETON = skeletons.POSETRACK   # the joint layout of the examples' keypoints
  ANNOTATIONS = "annotations"  # folder of <split>/<video>.json below the root

  def read_video(self, path: pathlib.Path) -> VideoInfo:
    return read_video(path)

  def __init__(self, *, file_format: str | None = None, **kwargs: Any):
    super().__init__(file_format=file_format or "array_record", **kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    config = self.builder_config
    return tfds.core.DatasetInfo(
        builder=self, description=self.DESCRIPTION,
        features=features(2 * config.delta + 1, self.SKELETON.num_joints),
        homepage=self.HOMEPAGE or None, disable_shuffling=True,
        metadata=tfds.core.MetadataDict(keypoints=list(self.SKELETON.joint_names),
                                        delta=config.delta, images=config.images))

  def _examples_from_root(self, root: pathlib.Path, dataset: str,
                          detections_file: pathlib.Path | None = None):
    """Split generators over ``root``'s release layout."""
    config = self.builder_config
    self.info.metadata["image_root"] = str(root.resolve())
    self.info.metadata["annotations"] = {
        s: str((root / self.ANNOTATIONS / s).resolve()) for s in self.SPLITS}
    detections = None
    if config.val_boxes == "detections":
      if detections_file is None or not detections_file.is_file():
        raise safe_io.MissingDataFileError(
            f"{dataset}: val_boxes.json not found in {root}. It is PoseWarper's "
            "detection file (see sasmamba_jax/datasets/README.md); put it in the "
            f"dataset root and run:\n  python -m experiments.prepare_data "
            f"--dataset={dataset} --manual_dir=ROOT")
      detections = load_val_boxes(detections_file, config.box_score_threshold)
    out = {}
    for split in self.SPLITS:
      files = annotation_files(root, split, dataset, self.ANNOTATIONS)
      out[split] = self._generate_examples(
          files, root, detections if split == "val" else None)
    return out

  def _generate_examples(self, files: Sequence[pathlib.Path], root: pathlib.Path,
                         detections=None):
    for file in files:
      video = self.read_video(file)
      yield from video_examples(video, root, self.builder_config, str(file),
                                detections)
