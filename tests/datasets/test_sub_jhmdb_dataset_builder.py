"""sub_jhmdb: the JHMDB release layout, three splits, 15 joints, boxes."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io

from sasmamba_jax import datasets
from sasmamba_jax import evaluation
from sasmamba_jax import skeletons
from sasmamba_jax.codecs import HeatmapCodec
from sasmamba_jax.datasets import safe_io
from sasmamba_jax.datasets import video_transforms as vt
from tests.datasets.fakes import write_fake_jhmdb


def _all(source):
  return [source[i] for i in range(len(source))]


def test_splits_joints_and_boxes(tmp_path):
  root = tmp_path / "JHMDB"
  write_fake_jhmdb(root)
  builder = datasets.prepare("sub_jhmdb/split1", data_dir=tmp_path / "t",
                             manual_dir=root)
  train, test = _all(datasets.load(builder, "train")), _all(datasets.load(builder,
                                                                          "test"))
  # Split 1: clip_a and clip_c train (4 + 4 frames), clip_b and clip_d test (5 + 4).
  assert (len(train), len(test)) == (8, 9)
  pos = scipy.io.loadmat(root / "joint_positions/catch/clip_a/joint_positions.mat")[
      "pos_img"]
  first = train[0]
  assert first["keypoints"].shape == (15, 3)
  np.testing.assert_allclose(first["keypoints"][:, :2], pos[:, :, 0].T - 1, rtol=1e-6)
  np.testing.assert_allclose(first["bbox"], [5, 3, 20, 18])  # the puppet mask
  assert [p.decode()[-9:] for p in first["frame_paths"]] == [
      "00001.png", "00001.png", "00001.png", "00002.png", "00003.png"]
  other = datasets.prepare("sub_jhmdb/split2", data_dir=tmp_path / "t",
                           manual_dir=root)
  assert len(datasets.load(other, "train")) == 9  # the splits differ
  # The clip transform handles 15 joints; PCK of the ground truth is 100.
  clip = vt.TopDownClip(HeatmapCodec((48, 64)), skeleton=skeletons.SUB_JHMDB)
  out = clip.map(dict(test[0]))
  assert out["heatmaps"].shape == (16, 12, 15) and out["images"].shape[0] == 5
  flipping = vt.RandomTopDownClip(HeatmapCodec((48, 64)), flip_prob=1.0,
                                  skeleton=skeletons.SUB_JHMDB)
  assert flipping.random_map(dict(test[0]), np.random.default_rng(0))["flipped"]
  gt = np.stack([e["keypoints"] for e in test])
  result = evaluation.evaluate_sub_jhmdb(gt[..., :2], gt, np.stack([e["bbox"]
                                                                    for e in test]))
  assert result["Mean"] == 100.0


def test_missing_and_corrupt_files_are_named(tmp_path):
  root = tmp_path / "JHMDB"
  write_fake_jhmdb(root)
  (root / "joint_positions/run/clip_d/joint_positions.mat").write_bytes(b"garbage")
  with pytest.raises(safe_io.DataFileError, match="clip_d/joint_positions.mat"):
    datasets.prepare("sub_jhmdb/split1", data_dir=tmp_path / "t", manual_dir=root)
  (root / "joint_positions/run/clip_d/joint_positions.mat").unlink()
  with pytest.raises(safe_io.MissingDataFileError, match="clip_d/joint_positions.mat"):
    datasets.prepare("sub_jhmdb/split1", data_dir=tmp_path / "t", manual_dir=root)
  assert not datasets.get_builder("sub_jhmdb/split1",
                                  data_dir=tmp_path / "t").is_prepared()
  with pytest.raises(safe_io.MissingDataFileError, match="sub_splits"):
    datasets.prepare("sub_jhmdb/split1", data_dir=tmp_path / "u",
                     manual_dir=root / "Rename_Images")
