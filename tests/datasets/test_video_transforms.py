"""Top-down clip transforms: one crop for all frames, targets, flips, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from sasmamba_jax import datasets
from sasmamba_jax import imaging
from sasmamba_jax import skeletons
from sasmamba_jax.codecs import HeatmapCodec
from sasmamba_jax.datasets import video_transforms as vt

SIZE = (48, 64)
CODEC = HeatmapCodec(SIZE)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
  return datasets.prepare("synthetic_video_pose/tiny",
                          data_dir=tmp_path_factory.mktemp("tfds"))


def _element(source, i):
  element = dict(source[i])
  element["video_id"] = element["video_id"].decode()
  return element


def test_eval_crop_is_the_udp_crop_of_every_frame(tiny):
  element = _element(datasets.load(tiny, "val"), 0)
  out = vt.TopDownClip(CODEC, sampler="numpy").map(element)
  assert out["images"].shape == (3, 64, 48, 3) and out["heatmaps"].shape == (16, 12, 17)
  frames = vt.decode_frames(element)
  centre, scale = imaging.box_to_center_scale(element["bbox"], 0.75, 1.25)
  matrix = imaging.warp_matrix(centre, scale, 0.0, SIZE)
  for t in range(3):
    np.testing.assert_allclose(
        out["images"][t],
        imaging.normalize_images(imaging.crop_image(frames[t], matrix, SIZE)))
  # Pillow's sampler: the same crop to within a grey level away from the border.
  fast = vt.TopDownClip(CODEC).map(element)
  exact = imaging.denormalize_images(out["images"])
  v, u = np.mgrid[0:SIZE[1], 0:SIZE[0]]
  source = imaging.affine_points(np.stack([u, v], -1).reshape(-1, 2).astype(float),
                                 imaging.invert_affine(matrix)).reshape(SIZE[1],
                                                                        SIZE[0], 2)
  height, width = frames.shape[1:3]
  inside = ((source >= 1).all(-1) & (source[..., 0] <= width - 2)
            & (source[..., 1] <= height - 2))
  assert inside.mean() > 0.5
  error = np.abs(imaging.denormalize_images(fast["images"]) - exact)[:, inside]
  assert error.max() <= 1.01 and error.mean() < 0.5
  np.testing.assert_array_equal(fast["heatmaps"], out["heatmaps"])
  # Heatmap peaks map back to the labelled keypoints (within a heatmap pixel).
  flat = out["heatmaps"].reshape(-1, 17).argmax(0)
  peaks = np.stack([flat % 12, flat // 12], -1).astype(float)
  back = imaging.crop_to_image(peaks, out["center"], out["scale"], 0.0, (12, 16))
  weight = out["target_weight"] > 0
  assert weight.sum() >= 10 and not weight[[3, 4]].any()
  pixel = scale * 200 / np.asarray([11, 15])  # image pixels per heatmap pixel
  assert np.all(np.abs(back - element["keypoints"][:, :2])[weight] <= pixel * 0.51)


def test_flip_mirrors_crops_and_swaps_joints(tiny):
  element = _element(datasets.load(tiny, "val"), 1)
  plain = vt.TopDownClip(CODEC, sampler="numpy").map(element)
  flip_only = vt.RandomTopDownClip(CODEC, scale_factor=0.0, rotation_prob=0.0,
                                   flip_prob=1.0, half_body_prob=0.0, sampler="numpy")
  out = flip_only.random_map(element, np.random.default_rng(0))
  assert out["flipped"]
  np.testing.assert_allclose(out["images"], plain["images"][:, :, ::-1], atol=1e-4)
  np.testing.assert_allclose(
      out["heatmaps"], imaging.flip_heatmaps(plain["heatmaps"], skeletons.POSETRACK.flip_permutation),
      atol=1e-5)
  np.testing.assert_array_equal(out["target_weight"],
                                plain["target_weight"][skeletons.POSETRACK.flip_permutation])


def test_train_pipeline_is_deterministic_and_augments(tiny):
  source = datasets.load(tiny, "train")
  make = lambda: datasets.make_train_iterator(
      source, batch_size=4, seed=3, transforms=[vt.RandomTopDownClip(CODEC)])
  a, b = next(iter(make())), next(iter(make()))
  for key in ("images", "heatmaps", "rotation", "scale"):
    np.testing.assert_array_equal(a[key], b[key])
  assert a["images"].shape == (4, 3, 64, 48, 3) and a["images"].dtype == np.float32
  it = make()
  next(it)
  state = it.get_state()
  batch = next(it)
  resumed = make()
  resumed.set_state(state)  # a checkpointed pipeline repeats the same draws
  np.testing.assert_array_equal(next(resumed)["images"], batch["images"])
  batch = next(it)
  rotations = np.concatenate([batch["rotation"], a["rotation"]])
  assert np.all(np.abs(rotations) <= 45) and np.any(rotations != 0)
  eval_batches = list(datasets.make_eval_iterator(
      datasets.load(tiny, "val"), batch_size=4, transforms=[vt.TopDownClip(CODEC)]))
  assert sum(int(b["mask"].sum()) for b in eval_batches) == len(datasets.load(tiny,
                                                                               "val"))
