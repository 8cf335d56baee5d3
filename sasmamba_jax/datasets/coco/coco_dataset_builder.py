"""COCO 2017 person keypoints as top-down examples: one person box each.

The dataset root is the release as its archives unpack (the detection file is
ViTPose's, from the mmpose model zoo)::

  ROOT/annotations/person_keypoints_{train,val}2017.json
  ROOT/{train,val}2017/<file_name>.jpg
  ROOT/person_detection_results/COCO_val2017_detections_AP_H_56_person.json

Configs (the test protocol of ViTPose's COCO configs, mmpose 0.x
``TopDownCocoDataset``):

* ``gt``: the ground-truth person boxes, cleaned as mmpose does: clipped to the image,
  people without a labelled keypoint, crowds and boxes of no area dropped; box
  score 1;
* ``detections``: train as ``gt``; val from the detection file (category 1, score
  >= ``box_score_threshold``, 0 for ViTPose), boxes of no area or outside the image
  dropped.

Splits: ``val``, and ``train`` when its annotation file is there (evaluation needs
val2017 alone). Every example is the ``posetrack_common`` clip of one frame that the
top-down transforms read: ``frames`` (1,) empty (the images stay in the release,
read below ``metadata["image_root"]`` when cropped), ``frame_paths`` (1,) the image
relative to ROOT, ``image_id`` int64, ``image_size`` (2,) int32 width, height, ``bbox``
(4,) float32 x, y, w, h, ``box_score`` float32, ``keypoints`` (17, 3) float32 in COCO
order (``skeletons.COCO``; zeros for a detection). ``metadata["annotations"]``
names each split's annotation file: the ground truth of COCO keypoint AP.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
from typing import Any, Iterator

import numpy as np
import tensorflow_datasets as tfds

from sasmamba_jax import imaging
from sasmamba_jax import skeletons
from sasmamba_jax.datasets import safe_io
from sasmamba_jax.datasets.posetrack import posetrack_common as pc

ANNOTATIONS = "annotations/person_keypoints_{split}2017.json"
IMAGES = "{split}2017"
DETECTIONS = "person_detection_results/COCO_val2017_detections_AP_H_56_person.json"
PERSON = 1


@dataclasses.dataclass(eq=False)
class CocoConfig(tfds.core.BuilderConfig):
  """Which person boxes the val split holds.

  Attributes:
    val_boxes: "gt" (ground-truth boxes) or "detections" (``DETECTIONS``).
    box_score_threshold: detections below this score are dropped.
  """
  val_boxes: str = "gt"
  box_score_threshold: float = 0.0


def _configs() -> list[CocoConfig]:
  return [
      CocoConfig(name="gt", description="Ground-truth person boxes (mmpose-cleaned)."),
      CocoConfig(name="detections", val_boxes="detections",
                 description="val: the person detections ViTPose is scored on."),
  ]


def _read_json(path: pathlib.Path) -> Any:
  try:
    return json.loads(path.read_text())
  except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
    raise safe_io.DataFileError(f"{path}: not a readable JSON file "
                                f"({safe_io.json_problem(e)})") from None


def ground_truth_boxes(image: dict[str, Any], annotations: list[dict[str, Any]]
                       ) -> list[tuple[np.ndarray, np.ndarray]]:
  """[(box xywh, keypoints (17, 3))] of an image's people, cleaned as mmpose does."""
  width, height = image["width"], image["height"]
  out = []
  for ann in annotations:
    if ann.get("iscrowd", 0) or "bbox" not in ann:
      continue
    x, y, w, h = ann["bbox"]
    x1, y1 = max(0, x), max(0, y)
    x2 = min(width - 1, x1 + max(0, w - 1))
    y2 = min(height - 1, y1 + max(0, h - 1))
    if not (ann.get("area", 1) > 0 and x2 > x1 and y2 > y1):
      continue
    if ("keypoints" not in ann or max(ann["keypoints"]) == 0
        or ann.get("num_keypoints", 1) == 0):
      continue
    keypoints = np.asarray(ann["keypoints"], np.float32).reshape(-1, 3)
    if keypoints.shape != (17, 3):
      raise safe_io.DataFileError(f"annotation {ann.get('id')} of image "
                                  f"{image['id']}: {keypoints.size} keypoint values, "
                                  "expected 51")
    out.append((np.asarray([x1, y1, x2 - x1, y2 - y1], np.float32), keypoints))
  return out


class Builder(tfds.core.GeneratorBasedBuilder):
  """COCO 2017 person keypoints (see the module docstring)."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "First release."}
  BUILDER_CONFIGS = _configs()
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
      "Download the COCO 2017 images (val2017, and train2017 to train) and the "
      "person keypoint annotations from https://cocodataset.org, unpack them into "
      "one folder; for the detections config add ViTPose's person detection file "
      f"as {DETECTIONS}.")

  def __init__(self, *, file_format: str | None = None, **kwargs: Any):
    super().__init__(file_format=file_format or "array_record", **kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self, description=__doc__, homepage="https://cocodataset.org",
        disable_shuffling=True,
        features=tfds.features.FeaturesDict({
            "frames": tfds.features.Tensor(shape=(1,), dtype=np.object_),
            "frame_paths": tfds.features.Tensor(shape=(1,), dtype=np.object_),
            "image_id": tfds.features.Scalar(dtype=np.int64),
            "image_size": tfds.features.Tensor(shape=(2,), dtype=np.int32),
            "bbox": tfds.features.Tensor(shape=(4,), dtype=np.float32),
            "box_score": tfds.features.Scalar(dtype=np.float32),
            "keypoints": tfds.features.Tensor(shape=(17, 3), dtype=np.float32),
        }),
        metadata=tfds.core.MetadataDict(
            keypoints=list(skeletons.COCO.joint_names)))

  def _split_generators(self, dl_manager):
    dataset = f"{self.name}/{self.builder_config.name}"
    root = pc.manual_root(dl_manager, dataset)
    files = {s: root / ANNOTATIONS.format(split=s) for s in ("train", "val")}
    if not files["val"].is_file():
      raise safe_io.MissingDataFileError(
          f"{dataset}: {files['val']} not found. Unpack COCO's "
          "annotations_trainval2017.zip and val2017.zip into the dataset root and "
          f"run:\n  python -m experiments.prepare_data --dataset={dataset} "
          "--manual_dir=ROOT")
    detections = None
    if self.builder_config.val_boxes == "detections":
      detections = root / DETECTIONS
      if not detections.is_file():
        raise safe_io.MissingDataFileError(
            f"{dataset}: {detections} not found: ViTPose's person detections "
            "(mmpose's COCO_val2017_detections_AP_H_56_person.json); put it there, "
            f"or use coco/gt")
    splits = [s for s in ("train", "val") if files[s].is_file()]
    self.info.metadata["image_root"] = str(root.resolve())
    self.info.metadata["annotations"] = {s: str(files[s].resolve()) for s in splits}
    return {s: self._generate_examples(root, s, files[s],
                                       detections if s == "val" else None)
            for s in splits}

  def _generate_examples(self, root: pathlib.Path, split: str,
                         annotation_file: pathlib.Path,
                         detections: pathlib.Path | None
                         ) -> Iterator[tuple[str, dict[str, Any]]]:
    data = _read_json(annotation_file)
    what = str(annotation_file)
    images = {int(safe_io.require_key(im, "id", what)): im
              for im in safe_io.require_key(data, "images", what)}
    people: dict[int, list[Any]] = {i: [] for i in images}
    if detections is None:
      by_image: dict[int, list[dict[str, Any]]] = {i: [] for i in images}
      for ann in data.get("annotations") or []:
        if ann.get("category_id", PERSON) == PERSON and ann.get("image_id") in by_image:
          by_image[ann["image_id"]].append(ann)
      for image_id, anns in by_image.items():
        people[image_id] = [(box, kp, 1.0) for box, kp in
                            ground_truth_boxes(images[image_id], anns)]
    else:
      threshold = self.builder_config.box_score_threshold
      for k, det in enumerate(_read_json(detections)):
        w = f"{detections}: detection {k}"
        image_id = int(safe_io.require_key(det, "image_id", w))
        score = float(safe_io.require_key(det, "score", w))
        if det.get("category_id", PERSON) != PERSON or score < threshold:
          continue
        if image_id not in images:
          continue
        box = np.asarray(safe_io.require_key(det, "bbox", w)[:4], np.float32)
        image = images[image_id]
        if imaging.valid_boxes(box, (image["width"], image["height"]))[0]:
          people[image_id].append((box, np.zeros((17, 3), np.float32), score))
    folder = IMAGES.format(split=split)
    for image_id in sorted(people):
      if not people[image_id]:
        continue
      image = images[image_id]
      path = f"{folder}/{image['file_name']}"
      if not (root / path).is_file():
        raise safe_io.MissingDataFileError(
            f"coco: image {root / path} (image id {image_id}) is missing; unpack "
            f"{folder}.zip into the dataset root")
      for k, (box, keypoints, score) in enumerate(people[image_id]):
        yield f"{image_id}/{k}", {
            "frames": np.asarray([b""], dtype=object),
            "frame_paths": np.asarray([path], dtype=object),
            "image_id": image_id,
            "image_size": np.asarray([image["width"], image["height"]], np.int32),
            "bbox": box,
            "box_score": np.float32(score),
            "keypoints": keypoints,
        }
