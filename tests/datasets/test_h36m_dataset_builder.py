"""h36m builder: MotionBERT (sh_*, gt_*) and VideoPose3D (cpn_*) inputs."""

from __future__ import annotations

import json
import pathlib
import pickle
import shutil

import numpy as np
import pytest

from sasmamba_jax import datasets
from sasmamba_jax.datasets import common
from sasmamba_jax.datasets import safe_io
from sasmamba_jax.datasets.h36m import cameras

PKL = "h36m_sh_conf_cam_source_final.pkl"


def _all(source):
  return [source[i] for i in range(len(source))]


def _normalized(points, camera_names):
  res = np.array([datasets.h36m_dataset_builder.RESOLUTIONS[c] for c in camera_names],
                 np.float64)
  return common.normalize_pixels(points, res)


def test_sh_build_matches_the_pickle(h36m_manual, tmp_path):
  raw = safe_io.load_pickle(h36m_manual / PKL)
  builder = datasets.prepare("h36m/sh_27", data_dir=tmp_path / "tfds",
                             manual_dir=h36m_manual)
  assert builder.info.metadata["skeleton"] == "h36m"
  for split, expected_starts in (("train", [0, 9, None, 60, 69, 78]),
                                 ("test", [0, 27, None, 75])):
    examples = _all(datasets.load(builder, split))
    entry = raw[split]
    assert [int(e["frame_index"][0]) if np.all(np.diff(e["frame_index"]) == 1)
            else None for e in examples] == expected_starts
    for e in examples:
      idx = e["frame_index"]
      assert e["input_2d"].shape == e["label_3d"].shape == e["gt_3d_mm"].shape == (
          27, 17, 3)
      assert e["input_2d"].dtype == np.float32 and idx.dtype == np.int64
      cams = [entry["camera_name"][i] for i in idx]
      np.testing.assert_array_equal(e["input_2d"][..., :2],
                                    _normalized(entry["joint_2d"][idx], cams))
      np.testing.assert_array_equal(e["input_2d"][..., 2:], entry["confidence"][idx])
      np.testing.assert_array_equal(e["label_3d"],
                                    _normalized(entry["joint3d_image"][idx], cams))
      assert e["source"].decode() == entry["source"][idx[0]]
      np.testing.assert_array_equal(
          e["camera_resolution"],
          datasets.h36m_dataset_builder.RESOLUTIONS[cams[0]])
      if split == "test":
        assert e["action"].decode() == entry["action"][idx[0]]
        np.testing.assert_array_equal(e["factor_2_5d"], entry["2.5d_factor"][idx])
        np.testing.assert_array_equal(e["gt_3d_mm"], entry["joints_2.5d_image"][idx])
        # The shared encoding: denormalised label times the factor is gt_3d_mm.
        np.testing.assert_allclose(
            common.denormalize_pixels(e["label_3d"], e["camera_resolution"])
            * e["factor_2_5d"][:, None, None], e["gt_3d_mm"], rtol=1e-5, atol=1e-2)
      else:
        assert np.isnan(e["factor_2_5d"]).all() and np.isnan(e["gt_3d_mm"]).all()
    resampled = examples[2]["frame_index"]
    assert np.all(np.diff(resampled) >= 0) and len(set(resampled)) < 27
  # Train has no actions: they are named like the test split's action numbers.
  train_actions = [e["action"].decode() for e in _all(datasets.load(builder, "train"))]
  assert train_actions == ["Direction", "Direction", "Walk", "Greet", "Greet", "Greet"]


def test_gt_config_feeds_the_projected_ground_truth(h36m_manual, tmp_path):
  builder = datasets.prepare("h36m/gt_27", data_dir=tmp_path / "tfds",
                             manual_dir=h36m_manual)
  for e in _all(datasets.load(builder, "test")):
    np.testing.assert_array_equal(e["input_2d"][..., :2], e["label_3d"][..., :2])
    np.testing.assert_array_equal(e["input_2d"][..., 2], 1.0)


def test_official_reader_parity(shared_fixtures, tmp_path):
  """sh_243 of the shared pickle holds the official DataReaderH36M's clips."""
  folder = shared_fixtures / "h36m_format"
  manual = tmp_path / "manual"
  manual.mkdir()
  shutil.copy(folder / PKL, manual / PKL)
  expected = np.load(folder / "reader_expected.npz")
  kinds = json.loads((folder / "reader_expected.json").read_text())["clip_kinds"]
  raw = safe_io.load_pickle(manual / PKL)
  builder = datasets.prepare("h36m/sh_243", data_dir=tmp_path / "tfds",
                             manual_dir=manual)
  for split in ("train", "test"):
    examples = _all(datasets.load(builder, split))
    assert len(examples) == len(expected[f"split_id_{split}"])
    sources = np.asarray(raw[split]["source"])
    for k, (e, kind) in enumerate(zip(examples, kinds[split])):
      idx = e["frame_index"]
      if kind == "range":
        np.testing.assert_array_equal(idx, expected[f"split_id_{split}"][k])
        np.testing.assert_array_equal(e["input_2d"], expected[f"{split}_data"][k])
        np.testing.assert_array_equal(e["label_3d"], expected[f"{split}_labels"][k])
      else:
        # A valid resample of the same source whose values are the indexed frames.
        official = expected[f"split_id_{split}"][k]
        assert set(sources[idx]) == set(sources[official]) == {e["source"].decode()}
        assert np.all(np.diff(idx) >= 0) and len(set(idx)) < len(idx)
        run = np.flatnonzero(sources == sources[official[0]])
        assert idx[0] == run[0] and set(idx) <= set(run)
        np.testing.assert_array_equal(e["input_2d"],
                                      expected[f"frames_2d_{split}"][idx])
        np.testing.assert_array_equal(e["label_3d"],
                                      expected[f"frames_3d_{split}"][idx])
        # Seed 0 replays numpy's draws exactly, so even these clips match.
        np.testing.assert_array_equal(idx, official)
  test = _all(datasets.load(builder, "test"))
  np.testing.assert_array_equal(np.stack([e["camera_resolution"] for e in test]),
                                expected["test_hw"])
  np.testing.assert_allclose(
      np.stack([common.denormalize_pixels(e["label_3d"], e["camera_resolution"])
                for e in test]), expected["test_labels_denormalized"],
      rtol=1e-6, atol=1e-3)


def _qrot_inverse(q, v):
  """VideoPose3D's world_to_camera rotation, written with quaternion algebra."""
  w, u = q[0], -np.asarray(q[1:])
  uv = np.cross(u, v)
  return v + 2 * (w * uv + np.cross(u, uv))


def test_cpn_build_from_videopose3d_files(cpn_manual, tmp_path, fakes):
  builder = datasets.prepare("h36m/cpn_27", data_dir=tmp_path / "tfds",
                             manual_dir=cpn_manual)
  data_3d, data_2d = fakes.videopose3d()
  train = _all(datasets.load(builder, "train"))
  test = _all(datasets.load(builder, "test"))
  # 40 frames, 4 cameras: train windows at 0 and 9 per camera, one test window.
  assert len(train) == 5 * 4 * 2 and len(test) == 2 * 4
  keep = datasets.h36m_dataset_builder.KEEP_32_TO_17
  for e in test:
    subject, action, camera_id = e["source"].decode().split("/")
    camera = cameras.CAMERA_IDS.index(camera_id)
    assert e["action"].decode() == "Walking" and action == "Walking 1"
    idx = e["frame_index"] - e["frame_index"][0]
    keypoints = data_2d["positions_2d"][subject][action][camera][idx]
    resolution = cameras.INTRINSICS[camera_id][2]
    np.testing.assert_array_equal(e["camera_resolution"], resolution)
    np.testing.assert_array_equal(
        e["input_2d"][..., :2],
        common.normalize_pixels(keypoints, np.broadcast_to(resolution, (27, 2))))
    np.testing.assert_array_equal(e["input_2d"][..., 2], 1.0)
    world = data_3d["positions_3d"][subject][action][idx][:, keep] * 1000.0
    orientation, translation = cameras.EXTRINSICS[subject][camera]
    cam = np.stack([[_qrot_inverse(orientation, p - translation) for p in frame]
                    for frame in world])
    gt = e["gt_3d_mm"].astype(np.float64)
    np.testing.assert_allclose(gt - gt[:, :1], cam - cam[:, :1], atol=0.05)
    np.testing.assert_allclose(
        common.denormalize_pixels(e["label_3d"], e["camera_resolution"])
        * e["factor_2_5d"][:, None, None], gt, rtol=1e-5, atol=0.05)


# --- Bad input ---------------------------------------------------------------------

def _prepare(name, tmp_path, manual):
  return datasets.prepare(name, data_dir=tmp_path / "tfds", manual_dir=manual)


@pytest.mark.parametrize("name, missing, origin", [
    ("h36m/sh_27", PKL, "MotionBERT"),
    ("h36m/gt_81", PKL, "MotionBERT"),
    ("h36m/cpn_243", "data_3d_h36m.npz", "prepare_data_h36m.py"),
])
def test_missing_manual_file_says_what_where_and_how(tmp_path, name, missing, origin):
  manual = tmp_path / "empty"
  manual.mkdir()
  with pytest.raises(safe_io.MissingDataFileError) as error:
    _prepare(name, tmp_path, manual)
  message = str(error.value)
  assert missing in message and origin in message and str(manual) in message
  assert f"python -m experiments.prepare_data --dataset={name} --manual_dir=" in message


def test_missing_cpn_detections_file(cpn_manual, tmp_path):
  (cpn_manual / "data_2d_h36m_cpn_ft_h36m_dbb.npz").unlink()
  with pytest.raises(safe_io.MissingDataFileError,
                     match=r"data_2d_h36m_cpn_ft_h36m_dbb\.npz not found.*"
                           r"dl\.fbaipublicfiles\.com"):
    _prepare("h36m/cpn_27", tmp_path, cpn_manual)


def _broken_pickle(tmp_path, fakes, change):
  data = fakes.motionbert()
  change(data)
  fakes.write_pickle(tmp_path / "manual" / PKL, data)
  return tmp_path / "manual"


@pytest.mark.parametrize("change, message", [
    (lambda d: d.pop("test"), r"missing key 'test'"),
    (lambda d: d["train"].pop("joint3d_image"),
     r"\['train'\].*missing key 'joint3d_image'"),
    (lambda d: d["test"].__setitem__("joint_2d", np.zeros((152, 17, 3), np.float32)),
     r"\['test'\]\['joint_2d'\]: expected shape \(N, 17, 2\), got \(152, 17, 3\)"),
    (lambda d: d["test"].__setitem__("joints_2.5d_image", np.zeros((152, 16, 3))),
     r"\['joints_2.5d_image'\]: expected shape \(112, 17, 3\), got \(152, 16, 3\)"),
    (lambda d: d["train"]["camera_name"].__setitem__(3, "12345"),
     r"unknown camera '12345'"),
    (lambda d: d["train"].__setitem__("source", d["train"]["source"][:-1]),
     r"\['train'\]\['source'\]: expected 110 strings"),
])
def test_wrong_pickle_structure_names_the_key_or_shape(tmp_path, fakes, change,
                                                       message):
  manual = _broken_pickle(tmp_path, fakes, change)
  with pytest.raises(safe_io.DataFileError, match=message):
    _prepare("h36m/sh_27", tmp_path, manual)


def test_truncated_pickle(h36m_manual, tmp_path):
  path = h36m_manual / PKL
  path.write_bytes(path.read_bytes()[:5000])
  with pytest.raises(safe_io.DataFileError, match="truncated or corrupt pickle"):
    _prepare("h36m/sh_27", tmp_path, h36m_manual)


class _Exploit:

  def __reduce__(self):
    return (open, ("/tmp/should-not-exist-sasmamba", "w"))


def test_pickle_that_would_run_code_is_refused(tmp_path, fakes):
  marker = pathlib.Path("/tmp/should-not-exist-sasmamba")
  marker.unlink(missing_ok=True)
  data = fakes.motionbert()
  data["train"]["extra"] = _Exploit()
  manual = tmp_path / "manual"
  manual.mkdir()
  (manual / PKL).write_bytes(pickle.dumps(data, protocol=4))
  with pytest.raises(safe_io.UnsafePickleError,
                     match=r"refusing to load '(io|builtins)\.open'"):
    _prepare("h36m/sh_27", tmp_path, manual)
  assert not marker.exists()


def test_cpn_detections_shorter_than_motion_capture(cpn_manual, tmp_path, fakes):
  data_3d, data_2d = fakes.videopose3d()
  data_2d["positions_2d"]["S5"]["Walking 1"][2] = np.zeros((30, 17, 2), np.float32)
  np.savez_compressed(cpn_manual / "data_2d_h36m_cpn_ft_h36m_dbb.npz", **data_2d)
  with pytest.raises(safe_io.DataFileError,
                     match=r"\['S5'\]\['Walking 1'\]\[2\]: 30 frames of 2D keypoints "
                           r"for 40 frames of 3D"):
    _prepare("h36m/cpn_27", tmp_path, cpn_manual)


def test_cpn_positions_in_millimetres_are_refused(cpn_manual, tmp_path, fakes):
  data_3d, _ = fakes.videopose3d()
  data_3d["positions_3d"]["S1"]["Walking 1"] *= 1000
  np.savez_compressed(cpn_manual / "data_3d_h36m.npz", **data_3d)
  with pytest.raises(safe_io.DataFileError, match="expected world positions in metres"):
    _prepare("h36m/cpn_27", tmp_path, cpn_manual)


def test_cpn_missing_subject_and_truncated_archive(cpn_manual, tmp_path, fakes):
  data_3d, _ = fakes.videopose3d()
  del data_3d["positions_3d"]["S11"]
  np.savez_compressed(cpn_manual / "data_3d_h36m.npz", **data_3d)
  with pytest.raises(safe_io.DataFileError,
                     match=r"\['positions_3d'\]: missing key 'S11'"):
    _prepare("h36m/cpn_27", tmp_path, cpn_manual)
  path = cpn_manual / "data_3d_h36m.npz"
  path.write_bytes(path.read_bytes()[:3000])
  with pytest.raises(safe_io.DataFileError, match="truncated"):
    _prepare("h36m/cpn_27", tmp_path, cpn_manual)
