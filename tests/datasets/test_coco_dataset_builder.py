"""coco: the COCO 2017 release layout, ground-truth and detected person boxes."""

from __future__ import annotations

import numpy as np
import pytest

from sasmamba_jax import datasets
from sasmamba_jax.datasets import safe_io
from sasmamba_jax.datasets import video_transforms
from sasmamba_jax.datasets.config import load_splits
from tests.datasets.fakes import write_fake_coco


def _all(source):
  return [source[i] for i in range(len(source))]


@pytest.fixture(scope="module")
def release(tmp_path_factory):
  root = tmp_path_factory.mktemp("coco")
  return root, write_fake_coco(root)


def test_ground_truth_boxes_are_cleaned_as_mmpose_does(release, tmp_path):
  root, data = release
  builder = datasets.prepare("coco/gt", data_dir=tmp_path, manual_dir=root)
  val = _all(datasets.load(builder, "val"))
  # Image 1: two people (the crowd and the unlabelled person make no example);
  # image 2: one; image 3: nobody.
  assert [int(e["image_id"]) for e in val] == [1, 1, 2]
  np.testing.assert_allclose(val[0]["bbox"], [10, 8, 29, 49])   # (w - 1, h - 1)
  np.testing.assert_allclose(val[2]["bbox"], [70, 20, 25, 49])  # clipped at x = 95
  np.testing.assert_allclose(
      val[1]["keypoints"], np.reshape(data["val"]["annotations"][1]["keypoints"],
                                      (17, 3)))
  assert val[0]["box_score"] == 1 and val[0]["frames"][0] == b""
  assert val[0]["frame_paths"][0].decode() == "val2017/000000000001.jpg"
  np.testing.assert_array_equal(val[0]["image_size"], [96, 72])
  assert len(datasets.load(builder, "train")) == 3
  # The top-down transforms read the image from the release.
  (split,) = load_splits(_dataset_config(root, tmp_path, "coco/gt"), ["val"])
  frames = video_transforms.decode_frames(dict(split.examples[0]),
                                          split.metadata["image_root"])
  assert frames.shape == (1, 72, 96, 3)
  assert split.ground_truth == str(
      (root / "annotations/person_keypoints_val2017.json").resolve())


def test_detections_and_a_release_without_train(release, tmp_path):
  root, _ = release
  builder = datasets.prepare("coco/detections", data_dir=tmp_path / "d",
                             manual_dir=root)
  val = _all(datasets.load(builder, "val"))
  # Person boxes with an area, inside the image, at any score >= 0.
  assert [(int(e["image_id"]), round(float(e["box_score"]), 2)) for e in val] == [
      (1, 0.9), (1, 0.8), (2, 0.7), (3, 0.05)]
  assert not val[0]["keypoints"].any()
  assert len(datasets.load(builder, "train")) == 3   # training keeps the gt boxes
  val_only = tmp_path / "val_only"
  write_fake_coco(val_only, train=False, detections=False)
  builder = datasets.prepare("coco/gt", data_dir=tmp_path / "v", manual_dir=val_only)
  assert list(builder.info.splits) == ["val"]
  with pytest.raises(safe_io.MissingDataFileError, match="COCO_val2017_detections"):
    datasets.prepare("coco/detections", data_dir=tmp_path / "x", manual_dir=val_only)


def test_missing_files_are_named(tmp_path):
  root = tmp_path / "coco"
  write_fake_coco(root, train=False, detections=False)
  (root / "val2017" / "000000000002.jpg").unlink()
  with pytest.raises(safe_io.MissingDataFileError, match="000000000002.jpg.*missing"):
    datasets.prepare("coco/gt", data_dir=tmp_path / "t", manual_dir=root)
  with pytest.raises(safe_io.MissingDataFileError, match="person_keypoints_val2017"):
    datasets.prepare("coco/gt", data_dir=tmp_path / "u", manual_dir=tmp_path / "t")


def _dataset_config(root, data_dir, name):
  from sasmamba_jax.datasets import config  # pylint: disable=g-import-not-at-top
  c = config.default_config()
  c.name, c.data_dir, c.manual_dir = name, str(data_dir), str(root)
  return c
