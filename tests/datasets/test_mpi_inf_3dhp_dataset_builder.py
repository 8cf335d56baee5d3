"""mpi_inf_3dhp builder from P-STMO-structured files."""

from __future__ import annotations

import numpy as np
import pytest

from sasmamba_jax import datasets
from sasmamba_jax.datasets import common
from sasmamba_jax.datasets import safe_io
from sasmamba_jax.datasets.mpi_inf_3dhp import mpi_inf_3dhp_dataset_builder as mpi


def _all(source):
  return [source[i] for i in range(len(source))]


@pytest.fixture
def built(mpi_manual, tmp_path):
  return datasets.prepare("mpi_inf_3dhp/clips_27", data_dir=tmp_path / "tfds",
                          manual_dir=mpi_manual)


def test_train_clips(built, fakes):
  train_raw, _ = fakes.mpi()
  assert built.info.metadata["skeleton"] == "mpi_inf_3dhp"
  train = _all(datasets.load(built, "train"))
  # 50 frames: starts 0, 9, 18 and one aligned to the end (23); 20 frames: padded.
  starts = [int(e["frame_index"][0]) for e in train]
  assert starts == [0, 9, 18, 23, 50, 59, 68, 73, 100, 120]
  sequence_begin = {"S1 Seq1 cam0": 0, "S1 Seq1 cam2": 50, "S2 Seq2 cam0": 100,
                    "S2 Seq2 cam2": 120}
  for e in train:
    source = e["source"].decode()
    sequence, camera = source.rsplit(" cam", 1)
    assert e["action"].decode() == sequence
    local = e["frame_index"] - sequence_begin[source]
    raw = train_raw[sequence][0][camera]
    np.testing.assert_array_equal(e["valid"], True)
    np.testing.assert_array_equal(
        e["input_2d"][..., :2],
        common.normalize_pixels(raw["data_2d"][local], np.full((27, 2), 2048.0)))
    np.testing.assert_array_equal(e["input_2d"][..., 2], 1.0)
    relative = raw["data_3d"][local] - raw["data_3d"][local][:, 14:15]
    np.testing.assert_allclose(e["label_3d"], relative / 1000.0, atol=1e-6)
    np.testing.assert_array_equal(e["camera_resolution"], (2048, 2048))
    gt = e["gt_3d_mm"] - e["gt_3d_mm"][:, 14:15]
    np.testing.assert_allclose(gt, relative, atol=1e-3)
  padded = train[-1]["frame_index"] - 120
  np.testing.assert_array_equal(padded, np.clip(np.arange(27) - 3, 0, 19))


def test_test_clips_score_every_valid_frame_once(built, fakes):
  _, test_raw = fakes.mpi()
  test = _all(datasets.load(built, "test"))
  assert [int(e["frame_index"][0]) for e in test] == [0, 27, 33, 60]
  valid = np.concatenate([test_raw["TS1"]["valid"], test_raw["TS5"]["valid"]]) > 0
  counts = np.zeros(len(valid), int)
  for e in test:
    np.add.at(counts, e["frame_index"][e["valid"]], 1)
    assert e["action"].decode() == e["source"].decode()
  np.testing.assert_array_equal(counts, valid.astype(int))
  ts5 = test[-1]
  assert ts5["source"].decode() == "TS5"
  np.testing.assert_array_equal(ts5["camera_resolution"], (1920, 1080))
  np.testing.assert_allclose(
      ts5["input_2d"][..., :2],
      common.normalize_pixels(test_raw["TS5"]["data_2d"][ts5["frame_index"] - 60],
                              np.broadcast_to([1920.0, 1080.0], (27, 2))))
  for e in test:
    np.testing.assert_allclose(
        common.denormalize_pixels(e["label_3d"], e["camera_resolution"])
        * e["factor_2_5d"][:, None, None], e["gt_3d_mm"], rtol=1e-5, atol=1e-2)


def test_windows_and_score_once_helpers():
  windows = mpi.sequence_windows([(0, 10), (10, 14)], num_frames=4, stride=4)
  assert [w.tolist() for w in windows] == [[0, 1, 2, 3], [4, 5, 6, 7], [6, 7, 8, 9],
                                           [10, 11, 12, 13]]
  short = mpi.sequence_windows([(5, 7)], num_frames=5, stride=5)
  assert short[0].tolist() == [5, 5, 6, 6, 6]
  masks = mpi.score_once(short, np.array([0, 0, 0, 0, 0, 1, 1], bool))
  assert masks[0].tolist() == [True, False, True, False, False]


@pytest.mark.parametrize("missing", ["data_train_3dhp.npz", "data_test_3dhp.npz"])
def test_missing_file_message(mpi_manual, tmp_path, missing):
  (mpi_manual / missing).unlink()
  with pytest.raises(safe_io.MissingDataFileError) as error:
    datasets.prepare("mpi_inf_3dhp/clips_81", data_dir=tmp_path / "tfds",
                     manual_dir=mpi_manual)
  message = str(error.value)
  assert missing in message and "P-STMO" in message
  assert ("python -m experiments.prepare_data --dataset=mpi_inf_3dhp/clips_81 "
          "--manual_dir=") in message


def _rewrite(manual, fakes, change):
  train, test = fakes.mpi()
  change(train, test)
  np.savez_compressed(manual / "data_train_3dhp.npz", data=train)
  np.savez_compressed(manual / "data_test_3dhp.npz", data=test)


@pytest.mark.parametrize("change, message", [
    (lambda tr, te: te["TS1"].pop("valid"), r"\['TS1'\]: missing key 'valid'"),
    (lambda tr, te: tr["S1 Seq1"][0]["2"].__setitem__("data_3d", np.zeros((50, 17, 2))),
     r"\['S1 Seq1'\]\[0\]\['2'\]\['data_3d'\]: expected shape \(50, 17, 3\), got "
     r"\(50, 17, 2\)"),
    (lambda tr, te: tr.__setitem__("S2 Seq2", {"0": 1}),
     r"\['S2 Seq2'\]: expected \[\{camera"),
])
def test_wrong_structure_names_the_key_or_shape(mpi_manual, tmp_path, fakes, change,
                                                message):
  _rewrite(mpi_manual, fakes, change)
  with pytest.raises(safe_io.DataFileError, match=message):
    datasets.prepare("mpi_inf_3dhp/clips_27", data_dir=tmp_path / "tfds",
                     manual_dir=mpi_manual)


def test_truncated_archive(mpi_manual, tmp_path):
  path = mpi_manual / "data_test_3dhp.npz"
  path.write_bytes(path.read_bytes()[:500])
  with pytest.raises(safe_io.DataFileError, match="truncated"):
    datasets.prepare("mpi_inf_3dhp/clips_27", data_dir=tmp_path / "tfds",
                     manual_dir=mpi_manual)
