"""The heatmap codec: UDP targets, ViTPose's decoding (official outputs), the flip."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from sasmamba_jax import imaging
from sasmamba_jax import skeletons
from sasmamba_jax.codecs import HeatmapCodec
from sasmamba_jax.codecs import heatmap

VITPOSE = HeatmapCodec((192, 256), (48, 64))


def _channels_last(maps):
  return jnp.asarray(maps).transpose(0, 2, 3, 1)


# ---------------------------------------------------------------------- encode


def _one_joint(x, y, v, image_size, heatmap_size, sigma, udp=True):
  """A loop over the official encoder's window, one joint (the module docstring's facts)."""
  w, h = heatmap_size
  if udp:
    stride = (np.array(image_size) - 1.0) / (np.array(heatmap_size) - 1.0)
  else:
    stride = np.array(image_size) / np.array(heatmap_size)
  mx, my = x / stride[0], y / stride[1]
  ix, iy = int(mx + 0.5), int(my + 0.5)
  if not udp:
    mx, my = ix, iy
  r = sigma * 3
  ul, br = (int(ix - r), int(iy - r)), (int(ix + r + 1), int(iy + r + 1))
  target = np.zeros((h, w), np.float32)
  if ul[0] >= w or ul[1] >= h or br[0] < 0 or br[1] < 0:
    return target, 0.0
  for py in range(max(0, ul[1]), min(br[1], h)):
    for px in range(max(0, ul[0]), min(br[0], w)):
      target[py, px] = np.exp(-((px - mx) ** 2 + (py - my) ** 2) / (2 * sigma**2))
  return (target if v > 0.5 else target * 0), float(v)


@pytest.mark.parametrize("udp", [True, False])
def test_targets_follow_the_official_encoder(udp):
  rng = np.random.default_rng(0)
  image_size, heatmap_size = (192, 256), (48, 64)
  keypoints = rng.uniform(-40, 280, (2, 17, 2))
  keypoints[0, 0] = (0., 0.)            # on the first pixel centre
  keypoints[0, 1] = (191., 255.)        # on the last one
  keypoints[0, 2] = (-30., 100.)        # window just inside: int() truncates
  keypoints[0, 3] = (-1000., 100.)      # far outside: weight 0
  visible = (rng.uniform(size=(2, 17)) > 0.2).astype(np.float32)
  visible[0, :4] = 1
  codec = HeatmapCodec(image_size, heatmap_size, sigma=2.0, udp=udp)
  target, weight = codec.encode(keypoints, visible)
  assert target.shape == (2, 64, 48, 17) and weight.shape == (2, 17)
  for n in range(2):
    for k in range(17):
      ref, ref_w = _one_joint(*keypoints[n, k], visible[n, k], image_size,
                              heatmap_size, 2.0, udp)
      np.testing.assert_allclose(target[n, ..., k], ref, atol=1e-6, err_msg=f"{n} {k}")
      assert weight[n, k] == ref_w, (n, k)
  assert target[0, 0, 0, 0] == 1.0
  assert weight[0, 3] == 0 and not target[0, ..., 3].any()
  assert weight[0, 2] == 1
  if udp:   # (the classic stride puts the window's last column at pixel -1)
    assert target[0, ..., 2].any() and target[0, 63, 47, 1] == pytest.approx(1.0)


def test_target_weight_is_the_visibility_inside_the_map():
  keypoints = np.array([[96., 128.], [96., 128.], [5000., 128.]])
  target, weight = VITPOSE.encode(keypoints, np.array([1., 0., 1.]))
  np.testing.assert_array_equal(weight, [1., 0., 0.])
  assert 0.9 < target[..., 0].max() < 1.0
  assert not target[..., 1:].any()
  # The peak sits at the unquantised UDP position keypoint * 47 / 191.
  y, x = np.unravel_index(np.argmax(target[..., 0]), (64, 48))
  assert (x, y) == (round(96 * 47 / 191), round(128 * 63 / 255))


def test_flipping_an_image_moves_targets_like_its_keypoints():
  # Mirror the crop and its keypoints: the targets are the mirrored targets.
  perm = skeletons.COCO.flip_permutation
  rng = np.random.default_rng(0)
  kp = rng.uniform(0, 191, (17, 2)) * [1, 255 / 191]
  vis = np.ones(17)
  target, _ = VITPOSE.encode(kp, vis)
  flipped_kp = imaging.flip_keypoints(kp, 192, perm)
  flipped, _ = VITPOSE.encode(flipped_kp, vis)
  np.testing.assert_allclose(flipped, VITPOSE.flip_back(target, perm), atol=1e-5)


def test_encoded_targets_decode_to_their_keypoints():
  """encode -> decode round trip: crop pixels back through the identity warp."""
  rng = np.random.default_rng(1)
  kp = rng.uniform(20, 170, (3, 17, 2)) * [1, 255 / 191]
  target, _ = VITPOSE.encode(kp, np.ones((3, 17)))
  # centre / scale of a crop whose pixels are the image's.
  center = np.tile([[95.5, 127.5]], (3, 1)).astype(np.float32)
  scale = np.tile([[191 / 200, 255 / 200]], (3, 1)).astype(np.float32)
  decoded, scores = VITPOSE.decode(jnp.asarray(target), center, scale)
  np.testing.assert_allclose(decoded, kp, atol=0.05)
  assert (np.asarray(scores) > 0.9).all()


# ---------------------------------------------------------------------- decode


def test_blur_argmax_and_dark_steps_match_the_official_ones(postprocess):
  p = postprocess
  maps = jnp.asarray(p["heatmaps"])
  blurred = heatmap.gaussian_blur(maps, 11)
  assert np.max(np.abs(blurred - p["blurred"])) / np.max(np.abs(p["blurred"])) < 1e-5
  coords, maxvals = heatmap.argmax_heatmaps(maps)
  np.testing.assert_array_equal(coords, p["argmax_preds"])
  np.testing.assert_array_equal(maxvals, p["maxvals"][..., 0])
  refined = jax.jit(heatmap.dark_udp, static_argnums=2)(coords, maps, 11)
  np.testing.assert_allclose(refined, p["dark_preds"], atol=1e-3)


def test_decode_matches_keypoints_from_heatmaps(postprocess):
  p = postprocess
  keypoints, scores = jax.jit(VITPOSE.decode)(
      _channels_last(p["heatmaps"]), p["center"], p["scale"])
  assert keypoints.shape == (8, 17, 2) and scores.shape == (8, 17)
  np.testing.assert_allclose(keypoints, p["keypoints"], atol=1e-2)
  assert np.max(np.abs(keypoints - p["keypoints"])) / np.max(np.abs(p["keypoints"])) < 1e-5
  np.testing.assert_array_equal(scores, p["maxvals"][..., 0])


def test_decode_border_cases(postprocess):
  """Peaks on the border move 0.5 px out; reflect-101 blur; non-positive maps."""
  p = postprocess
  keypoints, scores = VITPOSE.decode(
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
  codec = HeatmapCodec((24, 32), (6, 8), dark_kernel=3)
  keypoints, _ = codec.decode(jnp.asarray(maps), center, scale)
  np.testing.assert_allclose(keypoints[0], [[-0.5, -0.5], [5.5, 7.5]], atol=1e-5)


def test_classic_decoding_shifts_a_quarter_pixel():
  maps = np.zeros((1, 10, 10, 1), np.float32)
  maps[0, 5, 4, 0], maps[0, 5, 5, 0], maps[0, 6, 4, 0] = 1.0, 0.5, 0.2
  scale = np.array([[10 / 200, 10 / 200]], np.float32)
  codec = HeatmapCodec((40, 40), (10, 10), dark_kernel=0, udp=False)
  keypoints, scores = codec.decode(jnp.asarray(maps), np.array([[5., 5.]]), scale)
  np.testing.assert_allclose(keypoints[0, 0], [4.25, 5.25])
  assert scores[0, 0] == 1.0


def test_decode_refuses_bad_shapes():
  with pytest.raises(ValueError, match=r"\(N, h, w, K\)"):
    VITPOSE.decode(jnp.zeros((2, 8, 6)), np.zeros((2, 2)), np.ones((2, 2)))
  with pytest.raises(ValueError, match="center"):
    VITPOSE.decode(jnp.zeros((2, 8, 6, 3)), np.zeros((3, 2)), np.ones((2, 2)))
  with pytest.raises(ValueError, match="too small"):
    VITPOSE.decode(jnp.zeros((1, 4, 4, 1)), np.zeros((1, 2)), np.ones((1, 2)))


# ---------------------------------------------------------------------- flip


def test_flip_back_is_the_official_one(postprocess):
  perm = skeletons.COCO.flip_permutation
  ours = VITPOSE.flip_back(_channels_last(postprocess["heatmaps"]), perm)
  np.testing.assert_array_equal(np.asarray(ours).transpose(0, 3, 1, 2),
                                postprocess["flip_back"])
  # The classic codec also shifts the mirrored maps one pixel right.
  maps = np.random.default_rng(0).uniform(size=(2, 4, 5, 17)).astype(np.float32)
  plain = VITPOSE.flip_back(maps, perm)
  shifted = HeatmapCodec(dark_kernel=0, udp=False).flip_back(maps, perm)
  np.testing.assert_array_equal(shifted[..., 1:, :], plain[..., :-1, :])
  np.testing.assert_array_equal(shifted[..., 0, :], plain[..., 0, :])


# ---------------------------------------------------------------------- config


def test_the_config_section_builds_and_checks_the_codec():
  cfg = heatmap.default_config()
  codec = HeatmapCodec.from_config(cfg, (48, 64), (12, 16))
  assert codec == HeatmapCodec((48, 64), (12, 16), sigma=2.0, dark_kernel=11, udp=True)
  assert HeatmapCodec((48, 64)).heatmap_size == (12, 16)
  bad = ml_collections.ConfigDict({"sigma": 0.0, "dark_kernel": 4, "udp": False})
  errors = heatmap.validate(bad)
  assert any("task.codec.sigma = 0.0: must be > 0" in e for e in errors)
  assert any("task.codec.dark_kernel = 4: must be 0 (off) or an odd" in e
             for e in errors)
  with pytest.raises(ValueError, match="dark_kernel must be 0"):
    HeatmapCodec(dark_kernel=4)
