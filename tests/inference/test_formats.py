"""Keypoint readers: every supported format, written small by the tests."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sasmamba_jax import inference
from sasmamba_jax.inference import KeypointFileError

RNG = np.random.default_rng(0)


def _kp(count, offset=0.0):
  xy = RNG.uniform(10, 90, (count, 2)) + offset
  return np.concatenate([xy, RNG.uniform(0.5, 1.0, (count, 1))], 1)


def _write(path, data):
  path.write_text(json.dumps(data))
  return path


def test_coco_results_keep_frame_gaps_and_track_ids(tmp_path):
  a, b = _kp(17), _kp(17, 100)
  path = _write(tmp_path / "res.json", [
      {"image_id": 5, "category_id": 1, "keypoints": a.ravel().tolist(), "score": .9,
       "track_id": 1},
      {"image_id": 7, "category_id": 1, "keypoints": b.ravel().tolist(), "score": .8,
       "track_id": 1}])
  det = inference.read_keypoints(path)
  assert (det.format, det.layout) == ("coco", "coco")
  assert [len(f) for f in det.frames] == [1, 0, 1]  # image 6: nobody detected
  assert det.frame_names == ["5", "6", "7"]
  np.testing.assert_allclose(det.frames[2][0].keypoints, b)
  assert det.frames[0][0].track_id == "1" and det.frames[0][0].score == 0.9
  assert det.image_size is None


def test_alphapose_halpe_with_string_ids_boxes_and_idx(tmp_path):
  k = [_kp(26), _kp(26, 50), _kp(26)]
  path = _write(tmp_path / "alphapose-results.json", [
      {"image_id": "10.jpg", "category_id": 1, "keypoints": k[0].ravel().tolist(),
       "score": 2.5, "box": [1, 2, 30, 40], "idx": [3]},
      {"image_id": "9.jpg", "category_id": 1, "keypoints": k[1].ravel().tolist(),
       "score": 2.0, "box": [5, 6, 30, 40], "idx": 4},
      {"image_id": "10.jpg", "category_id": 1, "keypoints": k[2].ravel().tolist(),
       "score": 1.0, "box": [50, 60, 30, 40], "idx": 4}])
  det = inference.read_keypoints(path)
  assert (det.format, det.layout) == ("alphapose", "halpe26")
  assert det.frame_names == ["9.jpg", "10.jpg"]
  assert [p.track_id for p in det.frames[1]] == ["3", "4"]
  np.testing.assert_array_equal(det.frames[1][0].box, [1, 2, 30, 40])


@pytest.mark.parametrize("count,layout", [(25, "body25"), (18, "coco18")])
def test_openpose_folder(tmp_path, count, layout):
  people = [_kp(count), _kp(count, 100)]
  for f in range(3):
    found = [] if f == 1 else [{"person_id": [-1],
                                "pose_keypoints_2d": p.ravel().tolist()}
                               for p in people]
    _write(tmp_path / f"clip_{f:012d}_keypoints.json", {"version": 1.3,
                                                        "people": found})
  det = inference.read_keypoints(tmp_path)
  assert (det.format, det.layout) == ("openpose", layout)
  assert [len(f) for f in det.frames] == [2, 0, 2]
  np.testing.assert_allclose(det.frames[2][1].keypoints, people[1])
  assert det.frames[0][0].track_id is None and det.frames[0][0].box is not None


def test_mmpose_predictions_all_three_shapes(tmp_path):
  xy, scores = RNG.uniform(0, 50, (17, 2)), RNG.uniform(0.2, 1, 17)
  inst = {"keypoints": xy.tolist(), "keypoint_scores": scores.tolist(),
          "bbox": [[10, 20, 40, 80]], "bbox_score": 0.7}
  expected = np.concatenate([xy, scores[:, None]], 1)
  saved = _write(tmp_path / "a.json", {"meta_info": {"dataset_name": "coco"},
                                       "instance_info": [
                                           {"frame_id": 1, "instances": [inst]},
                                           {"frame_id": 2, "instances": []}]})
  frames = _write(tmp_path / "b.json", [{"frame_id": 0, "instances": [inst, inst]}])
  image = _write(tmp_path / "c.json", [inst])
  for path, counts in ((saved, [1, 0]), (frames, [2]), (image, [1])):
    det = inference.read_keypoints(path)
    assert det.format == "mmpose" and det.layout == "coco"
    assert [len(f) for f in det.frames] == counts
    np.testing.assert_allclose(det.frames[0][0].keypoints, expected)
    np.testing.assert_allclose(det.frames[0][0].box, [10, 20, 30, 60])  # xyxy -> xywh


def test_arrays(tmp_path):
  arr = RNG.uniform(0, 100, (2, 4, 17, 3))
  arr[0, 1, 3, :2] = np.nan
  np.save(tmp_path / "a.npy", arr[0])
  with pytest.raises(KeypointFileError, match="--layout=coco or --layout=h36m"), \
      pytest.warns(UserWarning):
    inference.read_keypoints(tmp_path / "a.npy")
  with pytest.warns(UserWarning, match="1 joint.*NaN.*missing"):
    det = inference.read_keypoints(tmp_path / "a.npy", layout="h36m")
  assert det.frames[1][0].keypoints[3, 2] == 0  # a NaN joint scores 0
  np.savez(tmp_path / "b.npz", keypoints=arr[..., :2], scores=arr[..., 2],
           image_size=np.array([640, 480]), fps=30.0, layout="coco")
  with pytest.warns(UserWarning):
    det = inference.read_keypoints(tmp_path / "b.npz")
  assert (det.layout, det.image_size, det.fps) == ("coco", (640, 480), 30.0)
  assert [len(f) for f in det.frames] == [2, 2, 2, 2]
  np.testing.assert_allclose(det.frames[2][1].keypoints, arr[1, 2])
  np.save(tmp_path / "halpe.npy", RNG.uniform(0, 1, (3, 26, 3)))
  assert inference.read_keypoints(tmp_path / "halpe.npy").layout == "halpe26"


@pytest.mark.parametrize("name,content,message", [
    ("empty.json", "", "the file is empty"),
    ("bad.json", "{not json", "not valid JSON"),
    ("cut.json", '[{"image_id": "1', r"cut.json: not valid JSON \(Unterminated string "
     r"starting at: line 1 column 15 \(char 14\)\); export the keypoints again"),
    ("deep.json", "[" * 100_000 + "]" * 100_000,
     r"deep.json: not a keypoint file \(its JSON is nested too deeply to read\)"),
    ("none.json", "[]", "no detections"),
    ("what.json", '{"a": 1}', "not a known keypoint format"),
    ("x.csv", "1,2", "unknown input type '.csv'"),
    ("nan.json", '[{"image_id": 1, "keypoints": [NaN, 1, 1], "score": 1}]',
     "NaN or infinite"),
    ("joints.json", json.dumps([{"image_id": 1, "keypoints": [1.0] * 30}]),
     "10 keypoints"),
    # Wrong types inside a valid file: named with the entry, never a bare TypeError.
    ("score.json", json.dumps([{"image_id": 1, "keypoints": [1.0] * 51,
                                "score": "high"}]),
     r"score.json: entry 0: score must be a number, got 'high'"),
    ("ids.json", json.dumps([{"image_id": [1], "keypoints": [1.0] * 51}]),
     r"ids.json: entry 0: 'image_id' must be a frame number or a file name"),
    ("box.json", json.dumps([{"image_id": 1, "keypoints": [1.0] * 51, "bbox": [1]}]),
     r"box.json: entry 0: a box must be 4 finite numbers"),
    ("people_keypoints.json", json.dumps({"people": {"a": 1}}),
     r"people_keypoints.json: not an OpenPose keypoints file \(no 'people' list\)"),
    ("mm.json", json.dumps({"instance_info": [{"frame_id": 0, "instances": [
        {"keypoints": [[1, 2]] * 17, "keypoint_scores": "x"}]}]}),
     r"mm.json: frame 0 instance 0: 'keypoints' and 'keypoint_scores' must hold"),
    ("empty.npy", "", r"empty.npy: cannot read the array \(EOFError"),
])
def test_bad_files_name_the_problem(tmp_path, name, content, message):
  (tmp_path / name).write_text(content)
  with pytest.raises(KeypointFileError, match=message):
    inference.read_keypoints(tmp_path / name)


def test_more_bad_inputs(tmp_path):
  with pytest.raises(KeypointFileError, match="does not exist"):
    inference.read_keypoints(tmp_path / "missing.json")
  _write(tmp_path / "f_0_keypoints.json", {"people": []})
  with pytest.raises(KeypointFileError, match="no person was detected"):
    inference.read_keypoints(tmp_path)
  np.save(tmp_path / "inf.npy", np.full((2, 26, 3), np.inf))
  with pytest.raises(KeypointFileError, match="infinite"):
    inference.read_keypoints(tmp_path / "inf.npy")
  np.save(tmp_path / "shape.npy", np.zeros((2, 26)))
  with pytest.raises(KeypointFileError, match=r"\(F, J, 2\|3\)"):
    inference.read_keypoints(tmp_path / "shape.npy")
  res = _write(tmp_path / "r.json", [{"image_id": 1, "keypoints": [1.0] * 51}])
  with pytest.raises(KeypointFileError, match="layout 'halpe26' has 26"):
    inference.read_keypoints(res, layout="halpe26")
  with pytest.raises(KeypointFileError, match="unknown format 'csv'"):
    inference.read_keypoints(res, format="csv")


def test_npz_metadata_and_video_inputs_are_checked(tmp_path):
  np.savez(tmp_path / "size.npz", keypoints=RNG.uniform(0, 1, (3, 17, 3)),
           image_size=np.array(["a", "b"]), layout="coco")
  with pytest.raises(KeypointFileError, match=r"size.npz: 'image_size' must be "
                                              r"\(width, height\)"):
    inference.read_keypoints(tmp_path / "size.npz")
  np.savez(tmp_path / "fps.npz", keypoints=RNG.uniform(0, 1, (3, 17, 3)),
           fps=np.array([1, 2]), layout="coco")
  with pytest.raises(KeypointFileError, match=r"fps.npz: 'fps' must be one number"):
    inference.read_keypoints(tmp_path / "fps.npz")
  header = bytearray(np.lib.format.magic(1, 0) + b"\x76\x00{'descr': '<f8', ")
  (tmp_path / "flipped.npy").write_bytes(bytes(header) + b"\xff" * 120)
  with pytest.raises(KeypointFileError, match=r"flipped.npy: cannot read the array"):
    inference.read_keypoints(tmp_path / "flipped.npy", layout="coco")
  # Frames and boxes of --video.
  from PIL import Image  # pylint: disable=g-import-not-at-top
  from sasmamba_jax.inference import video  # pylint: disable=g-import-not-at-top
  frames_dir = tmp_path / "frames"
  frames_dir.mkdir()
  Image.new("RGB", (64, 48)).save(frames_dir / "0.png")
  frames = video.read_frames(frames_dir)
  boxes = tmp_path / "boxes.json"
  for entry, message in (
      ({"image_id": 0, "bbox": "x", "score": 1}, r"entry 0: 'bbox' must be \[x, y, w, h\]"),
      ({"image_id": 0, "bbox": [1, 2], "score": 1}, "got 2 numbers"),
      ({"image_id": 0, "bbox": [1, 2, 3, 4], "score": "x"}, "'score' a number"),
      ({"image_id": 0, "bbox": [1e300] * 4, "score": 1},
       r"is not on the 64x48 frames")):
    boxes.write_text(json.dumps([entry]))
    with pytest.raises(KeypointFileError, match=rf"--boxes={boxes}: .*{message}"):
      video.read_boxes(boxes, frames)
  boxes.write_text("[" * 100_000 + "]" * 100_000)
  with pytest.raises(KeypointFileError, match="nested too deeply"):
    video.read_boxes(boxes, frames)
  # A PNG claiming 40000 x 40000 pixels (a decompression bomb) is refused by name.
  import struct  # pylint: disable=g-import-not-at-top
  import zlib  # pylint: disable=g-import-not-at-top
  chunk = lambda kind, data: (struct.pack(">I", len(data)) + kind + data
                              + struct.pack(">I", zlib.crc32(kind + data)))
  bomb = tmp_path / "bomb"
  bomb.mkdir()
  (bomb / "0.png").write_bytes(
      b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 40_000, 40_000,
                                                        8, 2, 0, 0, 0))
      + chunk(b"IEND", b""))
  with pytest.raises(KeypointFileError, match=r"bomb/0.png: cannot decode the image"):
    video.read_frames(bomb)
