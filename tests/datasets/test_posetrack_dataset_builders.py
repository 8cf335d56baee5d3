"""posetrack17 / 18 / 21 builders on tiny fakes in each release layout."""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest

from sasmamba_jax import datasets
from sasmamba_jax.datasets import safe_io
from sasmamba_jax.datasets import video_transforms
from tests.datasets.fakes import write_fake_posetrack

# Examples of the fake: train = 1 + 2 + 2 (video 1) + 1 + 2 (video 2); val = 1+2+2+2.
NUM_EXAMPLES = {"train": 8, "val": 7}
# Frames that hold people without being labelled (is_labeled false): no example.
UNLABELLED = {10_000_010_004, 10_000_030_001}


def _labelled_frames_only(examples):
  """poseval scores labelled frames only; the builders make examples of those."""
  return not {int(e["image_id"]) for e in examples} & UNLABELLED


def _all(source):
  return [source[i] for i in range(len(source))]


@pytest.fixture
def release(tmp_path) -> pathlib.Path:
  write_fake_posetrack(tmp_path / "posetrack18")
  return tmp_path / "posetrack18"


def test_posetrack18_builds_the_release_layout(release, tmp_path):
  builder = datasets.prepare("posetrack18", data_dir=tmp_path / "tfds",
                             manual_dir=release)
  for split, count in NUM_EXAMPLES.items():
    assert len(datasets.load(builder, split)) == count
    assert _labelled_frames_only(_all(datasets.load(builder, split)))
  examples = _all(datasets.load(builder, "train"))
  data = json.loads((release / "annotations/train/000001_mpii_train.json").read_text())
  first = examples[0]  # video 1, frame 1 (the first labelled), person 0
  assert first["image_id"] == 10_000_010_001 and first["frame_index"] == 1
  # Frames 1-2 .. 1+2, clamped at the start of the video.
  assert [p.decode() for p in first["frame_paths"]] == [
      f"images/train/000001_mpii_train/{t:06d}.jpg" for t in (0, 0, 1, 2, 3)]
  for data_bytes, path in zip(first["frames"], first["frame_paths"]):
    assert data_bytes == (release / path.decode()).read_bytes()
  np.testing.assert_array_equal(first["frame_ids"], 10_000_010_000 + np.asarray(
      [0, 0, 1, 2, 3]))
  ann = data["annotations"][0]
  np.testing.assert_allclose(first["keypoints"],
                             np.asarray(ann["keypoints"]).reshape(17, 3), rtol=1e-6)
  np.testing.assert_allclose(first["head_box"], ann["bbox_head"])
  np.testing.assert_array_equal(first["image_size"], [32, 24])
  np.testing.assert_allclose(first["ignore_regions"], [[1, 1], [5, 1], [5, 6]])
  np.testing.assert_array_equal(first["ignore_region_sizes"], [3])
  assert first["video_id"].decode() == "000001_mpii_train" and first["box_score"] == 1
  # The second person of the first labelled frame has no visible keypoint: skipped.
  assert [int(e["image_id"]) % 100 for e in examples[:5]] == [1, 2, 2, 3, 3]
  # The end of a video clamps too (video 2 has 4 frames; frame 3 is labelled).
  last = examples[-1]
  assert [p.decode()[-10:] for p in last["frame_paths"]] == [
      "000001.jpg", "000002.jpg", "000003.jpg", "000003.jpg", "000003.jpg"]
  # The metadata that evaluation and the pipeline need survives a reload.
  again = datasets.get_builder("posetrack18", data_dir=tmp_path / "tfds")
  assert again.info.metadata["annotations"]["val"] == str(
      (release / "annotations/val").resolve())
  assert again.info.metadata["image_root"] == str(release.resolve())


def test_paths_config_reads_frames_from_the_root(release, tmp_path):
  embedded = datasets.prepare("posetrack18/delta2", data_dir=tmp_path / "a",
                              manual_dir=release)
  paths = datasets.prepare("posetrack18/delta2_paths", data_dir=tmp_path / "b",
                           manual_dir=release)
  e, p = datasets.load(embedded, "val")[3], datasets.load(paths, "val")[3]
  assert all(f == b"" for f in p["frames"])
  root = paths.info.metadata["image_root"]
  np.testing.assert_array_equal(video_transforms.decode_frames(e),
                                video_transforms.decode_frames(p, root))
  with pytest.raises(ValueError, match="image_root"):
    video_transforms.decode_frames(p)


def test_detection_boxes_for_val(release, tmp_path):
  with pytest.raises(safe_io.MissingDataFileError, match="val_boxes.json"):
    datasets.prepare("posetrack18/delta2_detections", data_dir=tmp_path / "x",
                     manual_dir=release)
  val = 10_000_030_000
  (release / "val_boxes.json").write_text(json.dumps([
      {"image_id": val + 2, "category_id": 1, "bbox": [1, 2, 10, 12], "score": 0.9},
      {"image_id": val + 2, "category_id": 1, "bbox": [3, 2, 10, 12], "score": 0.1},
      {"image_id": val + 4, "category_id": 1, "bbox": [0, 0, 8, 8], "score": 0.2},
      {"image_id": val + 1, "category_id": 1, "bbox": [0, 0, 8, 8], "score": 0.8},
  ]))
  builder = datasets.prepare("posetrack18/delta2_detections", data_dir=tmp_path / "t",
                             manual_dir=release)
  assert len(datasets.load(builder, "train")) == NUM_EXAMPLES["train"]
  val_examples = _all(datasets.load(builder, "val"))
  # Frame 1 is not labelled: its detection is not evaluated, so not an example.
  assert [(int(e["image_id"]) - val, float(e["box_score"])) for e in val_examples] == [
      (2, pytest.approx(0.9)), (4, pytest.approx(0.2))]
  assert not val_examples[0]["keypoints"].any() and val_examples[0]["track_id"] == -1
  np.testing.assert_allclose(val_examples[0]["bbox"], [1, 2, 10, 12])


def _break_missing_image(root):
  (root / "images/val/000003_mpii_test/000004.jpg").unlink()
  return "000004.jpg.*missing"


def _break_corrupt_image(root):
  path = root / "images/train/000002_mpii_train/000001.jpg"
  path.write_bytes(path.read_bytes()[:200])
  return "000002_mpii_train/000001.jpg: the image does not decode"


def _break_missing_key(root):
  path = root / "annotations/train/000001_mpii_train.json"
  data = json.loads(path.read_text())
  del data["annotations"][2]["keypoints"]
  path.write_text(json.dumps(data))
  return r"000001_mpii_train.json: annotations\[2\]: missing key 'keypoints'"


def _break_frame_count(root):
  path = root / "annotations/val/000003_mpii_test.json"
  data = json.loads(path.read_text())
  data["images"] = data["images"][:-1]
  path.write_text(json.dumps(data))
  return "000003_mpii_test.json: images.*nframes is 6 but the file lists 5"


def _break_keypoint_count(root):
  path = root / "annotations/train/000002_mpii_train.json"
  data = json.loads(path.read_text())
  data["annotations"][0]["keypoints"] = data["annotations"][0]["keypoints"][:48]
  path.write_text(json.dumps(data))
  return r"000002_mpii_train.json: annotations\[0\]\['keypoints'\]: expected 51"


@pytest.mark.parametrize("breaker", [_break_missing_image, _break_corrupt_image,
                                     _break_missing_key, _break_frame_count,
                                     _break_keypoint_count])
def test_bad_files_are_named_and_nothing_half_built_remains(release, tmp_path,
                                                            breaker):
  pattern = breaker(release)
  data_dir = tmp_path / "tfds"
  with pytest.raises((safe_io.DataFileError, safe_io.MissingDataFileError),
                     match=pattern):
    datasets.prepare("posetrack18", data_dir=data_dir, manual_dir=release)
  builder = datasets.get_builder("posetrack18", data_dir=data_dir)
  assert not builder.is_prepared()
  assert not any((data_dir / "posetrack18" / "delta2").iterdir())  # no leftovers
  with pytest.raises(FileNotFoundError, match="not built"):
    datasets.load(builder, "train")


def test_missing_root_says_what_to_do(tmp_path):
  with pytest.raises(safe_io.MissingDataFileError, match="--manual_dir=ROOT"):
    datasets.prepare("posetrack18", data_dir=tmp_path / "t",
                     manual_dir=tmp_path / "nothing")


def test_posetrack21_layout_and_fields(tmp_path):
  root = tmp_path / "PoseTrack21"
  write_fake_posetrack(root, annotations_dir="posetrack_data",
                       extra={"person_id": 7})
  builder = datasets.prepare("posetrack21", data_dir=tmp_path / "t", manual_dir=root)
  examples = _all(datasets.load(builder, "val"))
  assert len(examples) == NUM_EXAMPLES["val"] and _labelled_frames_only(examples)
  assert {int(e["person_id"]) for e in examples} == {7}
  assert all(e["has_labeled_person"] for e in examples)
  images_only = tmp_path / "images_only"
  (images_only / "images").mkdir(parents=True)
  with pytest.raises(safe_io.MissingDataFileError, match="posetrack_data"):
    datasets.prepare("posetrack21", data_dir=tmp_path / "u", manual_dir=images_only)


def test_posetrack17_matches_posetrack18_on_the_same_videos(tmp_path):
  write_fake_posetrack(tmp_path / "pt18")
  write_fake_posetrack(tmp_path / "pt17", version=17)
  b18 = datasets.prepare("posetrack18", data_dir=tmp_path / "a",
                         manual_dir=tmp_path / "pt18")
  b17 = datasets.prepare("posetrack17", data_dir=tmp_path / "b",
                         manual_dir=tmp_path / "pt17")
  for split in ("train", "val"):
    e18, e17 = _all(datasets.load(b18, split)), _all(datasets.load(b17, split))
    assert len(e17) == len(e18) == NUM_EXAMPLES[split]
    assert _labelled_frames_only(e17)
    for a, b in zip(e18, e17):
      assert a["image_id"] == b["image_id"]
      np.testing.assert_allclose(a["keypoints"], b["keypoints"], rtol=1e-6)
      np.testing.assert_allclose(a["head_box"], b["head_box"], rtol=1e-6)
      np.testing.assert_array_equal(a["ignore_regions"], b["ignore_regions"])
      assert list(a["frames"]) == list(b["frames"])
