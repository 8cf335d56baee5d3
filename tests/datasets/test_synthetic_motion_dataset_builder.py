"""synthetic_motion: plausible motion, H36M encoding, determinism, the tiny build."""

from __future__ import annotations

import numpy as np
import pytest

from sasmamba_jax import datasets
from sasmamba_jax import skeletons
from sasmamba_jax.datasets import common
from sasmamba_jax.datasets.synthetic_motion import motion
from sasmamba_jax.datasets.synthetic_motion import (
    synthetic_motion_dataset_builder as sm)


def _views(family, subject=1, frames=200, seed=0):
  body = motion.sample_body(np.random.default_rng([seed, 0, subject]))
  cameras = motion.studio_cameras(np.random.default_rng([seed, 1, subject]))
  views = sm.render_sequence(
      body, cameras, family, frames, np.random.default_rng([seed, 2, subject]),
      [np.random.default_rng([seed, 3, subject, c]) for c in range(4)])
  return body, cameras, views


@pytest.mark.parametrize("family", motion.FAMILIES)
def test_motion_is_physically_plausible(family):
  body, _, views = _views(family)
  world = views[0]["world_mm"]
  lengths = motion.bone_lengths(world)
  # Rigid bones of adult size: thigh and shin 350-550 mm, constant over time.
  np.testing.assert_allclose(lengths, lengths[:1].repeat(len(lengths), 0), atol=1e-6)
  assert 350 < lengths[0, 1] < 550 and 350 < lengths[0, 2] < 550
  np.testing.assert_allclose(lengths[0, 0], lengths[0, 3])  # Symmetric hips.
  ankles = world[:, [3, 6], 2].min(axis=1)
  floor = ankles.min()
  assert 60 < floor < 100  # An ankle joint above the floor, not below it.
  if family == "jumping":
    assert ankles.max() > floor + 100  # Flight.
  elif family != "running":
    np.testing.assert_allclose(ankles, floor, atol=1e-6)  # A foot always down.
  # Head above pelvis above ankles in every frame.
  assert np.all(world[:, 10, 2] > world[:, 0, 2])
  assert np.all(world[:, 0, 2] > ankles)
  # Smooth: frame-to-frame acceleration below 0.1 m/frame^2 (250 m/s^2 at 50 fps).
  assert np.abs(np.diff(world, 2, axis=0)).max() < 100
  # Something moves.
  assert np.ptp(world - world[:, :1], axis=0).max() > 100


def test_encoding_follows_h36m_semantics():
  _, cameras, views = _views("walking")
  for camera, view in zip(cameras, views):
    points = camera.to_camera(view["world_mm"])
    gt = view["gt_3d_mm"].astype(np.float64)
    # Root-relative gt_3d_mm is the camera-space pose in true millimetres.
    np.testing.assert_allclose(gt - gt[:, :1], points - points[:, :1], atol=0.01)
    np.testing.assert_allclose(view["factor_2_5d"],
                               points[:, 0, 2] / np.mean(camera.focal), rtol=1e-6)
    # denormalise(label) * factor == gt_3d_mm, as for Human3.6M.
    denormalized = common.denormalize_pixels(view["label_3d"], view["resolution"])
    np.testing.assert_allclose(denormalized * view["factor_2_5d"][:, None, None], gt,
                               rtol=1e-5, atol=0.05)
    # Input 2D = noisy perspective projection, normalised like H36M.
    exact = common.normalize_pixels(camera.project(points), view["resolution"])
    error_px = np.linalg.norm(view["input_2d"][..., :2] - exact, axis=-1) * 500
    assert 0.5 < np.median(error_px) < 8
    assert np.mean(np.abs(view["input_2d"][..., :2]) <= 1.01) > 0.99
    confidence = view["input_2d"][..., 2]
    assert confidence.min() >= 0.05 and confidence.max() <= 1.0


def test_detections_have_outliers_and_temporal_context_helps():
  rng = np.random.default_rng(0)
  t = np.linspace(0, 4, 400)
  pixels = 500 + 100 * np.stack([np.sin(t), np.cos(t)], -1)[:, None, :].repeat(17, 1)
  detected = motion.detect_2d(pixels, np.full(400, 5000.0), rng)
  error = np.linalg.norm(detected[..., :2] - pixels, axis=-1)
  assert error.max() > 25  # Outlier joints occur.
  # Confidence reflects the error on the whole.
  assert detected[..., 2][error > 25].mean() < detected[..., 2][error < 5].mean() - 0.2
  # A temporal median over 7 frames beats any single frame: temporal models help.
  windows = np.stack([np.roll(detected[..., :2], k, axis=0) for k in range(-3, 4)])
  smoothed = np.median(windows, axis=0)[3:-3]
  assert (np.linalg.norm(smoothed - pixels[3:-3], axis=-1).mean()
          < 0.8 * error[3:-3].mean())


def test_deterministic_by_seed_and_per_sequence():
  kwargs = dict(sequences_per_action=1, sequence_frames=30)
  a = sm.generate_frames([1], seed=0, **kwargs)
  b = sm.generate_frames([1], seed=0, **kwargs)
  c = sm.generate_frames([1], seed=1, **kwargs)
  for key in a:
    np.testing.assert_array_equal(a[key], b[key])
  assert not np.allclose(a["label_3d"], c["label_3d"])
  # Adding a subject leaves subject 1's sequences unchanged.
  both = sm.generate_frames([1, 2], seed=0, **kwargs)
  np.testing.assert_array_equal(both["input_2d"][:len(a["input_2d"])], a["input_2d"])


def test_tiny_build(synthetic_tiny):
  config = synthetic_tiny.builder_config
  assert synthetic_tiny.info.metadata["skeleton"] == "h36m"
  splits = {s: [ds[i] for i in range(len(ds))]
            for s in ("train", "test")
            for ds in [datasets.load(synthetic_tiny, s)]}
  # 60-frame sequences, 27-frame clips: train stride 9 -> 4, test stride 27 -> 2.
  assert len(splits["train"]) == 2 * 9 * 4 * 4
  assert len(splits["test"]) == 1 * 9 * 4 * 2
  subjects = {s: {e["source"].decode()[:4] for e in examples}
              for s, examples in splits.items()}
  assert subjects == {"train": {"s_01", "s_02"}, "test": {"s_03"}}
  for examples in splits.values():
    assert {e["action"].decode() for e in examples} == set(motion.FAMILIES)
    e = examples[0]
    assert set(e) == set(common.FEATURE_NAMES)
    for name in ("input_2d", "label_3d", "gt_3d_mm"):
      assert e[name].shape == (config.num_frames, 17, 3) and e[name].dtype == np.float32
    assert e["frame_index"].dtype == np.int64
    assert not np.isnan(np.stack([x["gt_3d_mm"] for x in examples])).any()
    # Clips are stored in slicing order.
    starts = [int(x["frame_index"][0]) for x in examples]
    assert starts == sorted(starts)
  flipped = datasets.flip_example(splits["train"][0], skeletons.H36M)
  assert flipped["source"] == splits["train"][0]["source"]


def test_sizes_are_configurable(tmp_path):
  config = sm.SyntheticConfig(name="custom", num_frames=9, num_train_subjects=1,
                              num_test_subjects=2, sequence_frames=20, seed=5)
  builder = datasets.prepare(sm.Builder(config=config, data_dir=str(tmp_path)))
  train, test = (datasets.load(builder, s) for s in ("train", "test"))
  # 20-frame sequences: train windows at 0, 3, 6, 9 (stride 3), test at 0 and 9.
  assert len(train) == 1 * 9 * 4 * 4 and len(test) == 2 * 9 * 4 * 2
  assert train[0]["input_2d"].shape == (9, 17, 3)
  assert {test[i]["source"].decode()[:4] for i in range(len(test))} == {"s_02", "s_03"}


def test_sample_sequence_is_detector_like_2d_with_its_3d_truth():
  seq = sm.sample_sequence("waving", 20, camera=1, seed=3)
  w, h = seq["image_size"]
  assert seq["keypoints_2d"].shape == (20, 17, 3) and seq["fps"] == 50
  assert 0 < seq["keypoints_2d"][..., 0].mean() < w
  assert 0 < seq["keypoints_2d"][..., 1].mean() < h
  assert np.all(seq["poses_3d"][:, skeletons.H36M.root] == 0)
  # Units: half image widths -> pixels -> millimetres.
  np.testing.assert_allclose(
      seq["poses_3d"] * w / 2 * seq["mm_per_pixel"][:, None, None],
      seq["poses_3d_mm"], rtol=1e-4, atol=1e-2)
  again = sm.sample_sequence("waving", 20, camera=1, seed=3)
  np.testing.assert_array_equal(again["keypoints_2d"], seq["keypoints_2d"])
  with pytest.raises(ValueError, match="unknown family 'dancing'"):
    sm.sample_sequence("dancing")
