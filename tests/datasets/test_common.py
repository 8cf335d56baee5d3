"""Shared clip slicing, normalisation and 2.5D encoding."""

from __future__ import annotations

import numpy as np
import pytest

from sasmamba_jax.datasets import common


def test_normalize_pixels_official_formula_and_inverse():
  rng = np.random.default_rng(0)
  points = rng.uniform(0, 1000, (5, 17, 3)).astype(np.float32)
  resolution = np.array([[1000, 1002]] * 3 + [[1000, 1000]] * 2, np.float64)
  out = common.normalize_pixels(points, resolution)
  assert out.dtype == np.float32
  w, h = resolution[:, :1, None], resolution[:, 1:, None]
  w, h = w[..., 0], h[..., 0]
  np.testing.assert_allclose(out[..., 0], points[..., 0] / w * 2 - 1, atol=1e-6)
  np.testing.assert_allclose(out[..., 1], points[..., 1] / w * 2 - h / w, atol=1e-6)
  np.testing.assert_allclose(out[..., 2], points[..., 2] / w * 2, atol=1e-6)
  np.testing.assert_allclose(common.denormalize_pixels(out, resolution), points,
                             atol=1e-3)
  # The image centre maps to x = 0, which is what makes flipping a negation.
  centre = common.normalize_pixels(np.array([[[500.0, 0.0]]]), np.array([[1000, 1000]]))
  assert centre[0, 0, 0] == 0.0


def test_resample_indices():
  rng = np.random.RandomState(3)
  idx = common.resample_indices(10, 27, rng)
  assert idx.shape == (27,) and idx.dtype == np.int64
  assert idx[0] == 0 and idx.max() <= 9 and np.all(np.diff(idx) >= 0)
  even = np.linspace(0, 10, 27, endpoint=False)
  assert np.all((idx == np.floor(even)) | (idx == np.minimum(np.ceil(even), 9)))
  # Same generator state, same draw: the official reader's numpy calls.
  np.testing.assert_array_equal(idx, common.resample_indices(10, 27,
                                                             np.random.RandomState(3)))


def test_split_clips_rules():
  sources = ["a"] * 12 + ["b"] * 3 + ["c"] * 8 + ["a"] * 2 + ["d"] * 3
  rng = np.random.RandomState(0)
  clips = common.split_clips(sources, 4, 2, rng)
  starts = [c.tolist() for c in clips]
  # a: windows at 0, 2, 4, 6, 8 (tail frames 12.. none); b (short): resampled;
  # c: windows 15, 17, 19; a again (short, name already has clips): nothing;
  # d (short but last): nothing.
  assert starts[:5] == [list(range(s, s + 4)) for s in (0, 2, 4, 6, 8)]
  assert set(starts[5]) <= {12, 13, 14} and starts[5][0] == 12 and len(starts[5]) == 4
  assert starts[6:] == [list(range(s, s + 4)) for s in (15, 17, 19)]
  assert len(clips) == 9
  # Test-style stride drops the tail frames of a long source.
  clips = common.split_clips(["a"] * 10 + ["b"] * 4, 4, 4, np.random.RandomState(0))
  assert [c.tolist() for c in clips] == [[0, 1, 2, 3], [4, 5, 6, 7], [10, 11, 12, 13]]
  with pytest.raises(ValueError, match="positive"):
    common.split_clips(["a"], 0, 1, rng)


def test_camera_to_image_2_5d_is_exact_root_relative():
  rng = np.random.default_rng(0)
  cam = np.array([100.0, -200.0, 5000.0]) + rng.normal(0, 300, (7, 17, 3))
  focal, center = 1145.0, (512.0, 515.0)
  image, factor = common.camera_to_image_2_5d(cam, focal, center)
  np.testing.assert_allclose(factor, cam[:, 0, 2] / focal)
  root_pixel = focal * cam[:, 0, :2] / cam[:, 0, 2:] + center
  np.testing.assert_allclose(image[:, 0, :2], root_pixel)
  np.testing.assert_allclose(image[:, 0, 2], 0.0, atol=1e-9)
  mm = image * factor[:, None, None]
  np.testing.assert_allclose(mm - mm[:, :1], cam - cam[:, :1], atol=1e-9)
  with pytest.raises(ValueError, match="behind the camera"):
    common.camera_to_image_2_5d(-cam, focal, center)


def test_clip_features_spec():
  spec = common.clip_features(27, 17, with_valid=True)
  assert set(spec.keys()) == set(common.FEATURE_NAMES) | {"valid"}
  assert spec["input_2d"].shape == (27, 17, 3) and spec["frame_index"].shape == (27,)
  assert spec["camera_resolution"].shape == (2,)
  assert "valid" not in common.clip_features(27).keys()
