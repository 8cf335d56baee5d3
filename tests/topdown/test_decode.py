import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sasmamba_jax import topdown
from sasmamba_jax.topdown import decode


def _channels_last(maps):
  return jnp.asarray(maps).transpose(0, 2, 3, 1)


def test_blur_argmax_and_dark_steps_match_the_official_ones(postprocess):
  p = postprocess
  maps = jnp.asarray(p["heatmaps"])
  blurred = decode.gaussian_blur(maps, 11)
  assert np.max(np.abs(blurred - p["blurred"])) / np.max(np.abs(p["blurred"])) < 1e-5
  coords, maxvals = decode.argmax_heatmaps(maps)
  np.testing.assert_array_equal(coords, p["argmax_preds"])
  np.testing.assert_array_equal(maxvals, p["maxvals"][..., 0])
  refined = jax.jit(decode.dark_udp, static_argnums=2)(coords, maps, 11)
  np.testing.assert_allclose(refined, p["dark_preds"], atol=1e-3)


def test_decode_matches_keypoints_from_heatmaps(postprocess):
  p = postprocess
  keypoints, scores = jax.jit(topdown.decode_heatmaps)(
      _channels_last(p["heatmaps"]), p["center"], p["scale"])
  assert keypoints.shape == (8, 17, 2) and scores.shape == (8, 17)
  np.testing.assert_allclose(keypoints, p["keypoints"], atol=1e-2)
  assert np.max(np.abs(keypoints - p["keypoints"])) / np.max(np.abs(p["keypoints"])) < 1e-5
  np.testing.assert_array_equal(scores, p["maxvals"][..., 0])


def test_decode_border_cases(postprocess):
  """Peaks on the border move 0.5 px out; reflect-101 blur; non-positive maps."""
  p = postprocess
  keypoints, scores = topdown.decode_heatmaps(
      _channels_last(p["edge_heatmaps"]), p["edge_center"], p["edge_scale"])
  ref = p["edge_keypoints"]
  np.testing.assert_array_equal(scores, p["edge_maxvals"][..., 0])
  error = np.max(np.abs(keypoints - ref), axis=-1)
  # Maps with no positive value read their neighbours from the previous map
  # (ill-conditioned: the README allows a few pixels there; we match it anyway).
  nonpositive = p["edge_maxvals"][..., 0] <= 0
  assert nonpositive.any()
  assert error[~nonpositive].max() < 1e-2
  assert error[nonpositive].max() < 3.0
  assert np.isfinite(keypoints).all()


def test_border_argmax_moves_half_a_pixel_outward():
  # Gaussians (separable: their log-blur has no cross term) peaking at the corners.
  y, x = np.mgrid[:8, :6]
  maps = np.stack([np.exp(-(x**2 + y**2) / 8.0),
                   np.exp(-((x - 5)**2 + (y - 7)**2) / 8.0)], axis=-1)[None]
  maps = maps.astype(np.float32)
  # center / scale chosen so that image pixels equal heatmap pixels.
  scale = np.array([[5 / 200, 7 / 200]], np.float32)
  center = np.array([[2.5, 3.5]], np.float32)
  keypoints, _ = topdown.decode_heatmaps(jnp.asarray(maps), center, scale, dark_kernel=3)
  np.testing.assert_allclose(keypoints[0], [[-0.5, -0.5], [5.5, 7.5]], atol=1e-5)


def test_classic_decoding_shifts_a_quarter_pixel():
  maps = np.zeros((1, 10, 10, 1), np.float32)
  maps[0, 5, 4, 0], maps[0, 5, 5, 0], maps[0, 6, 4, 0] = 1.0, 0.5, 0.2
  scale = np.array([[10 / 200, 10 / 200]], np.float32)
  keypoints, scores = topdown.decode_heatmaps(jnp.asarray(maps), np.array([[5., 5.]]),
                                              scale, udp=False)
  np.testing.assert_allclose(keypoints[0, 0], [4.25, 5.25])
  assert scores[0, 0] == 1.0


def test_decode_refuses_bad_shapes():
  with pytest.raises(ValueError, match=r"\(N, h, w, K\)"):
    topdown.decode_heatmaps(jnp.zeros((2, 8, 6)), np.zeros((2, 2)), np.ones((2, 2)))
  with pytest.raises(ValueError, match="center"):
    topdown.decode_heatmaps(jnp.zeros((2, 8, 6, 3)), np.zeros((3, 2)), np.ones((2, 2)))
  with pytest.raises(ValueError, match="too small"):
    topdown.decode_heatmaps(jnp.zeros((1, 4, 4, 1)), np.zeros((1, 2)), np.ones((1, 2)))
