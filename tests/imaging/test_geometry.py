import numpy as np
import pytest

from sasmamba_jax import imaging


def _rel(a, b):
  return np.max(np.abs(np.asarray(a, np.float64) - b)) / np.max(np.abs(b))


def test_box_to_center_scale_grows_to_the_aspect_ratio():
  # A wide box grows in height, a tall one in width; then x1.25 and /200.
  center, scale = imaging.box_to_center_scale(
      np.array([[10., 20., 300., 100.], [0., 0., 30., 200.]]))
  np.testing.assert_allclose(center, [[160., 70.], [15., 100.]])
  np.testing.assert_allclose(scale, [[300 / 200 * 1.25, 400 / 200 * 1.25],
                                     [150 / 200 * 1.25, 200 / 200 * 1.25]], rtol=1e-6)
  assert center.dtype == scale.dtype == np.float32


def test_box_to_center_scale_rejects_bad_shapes():
  with pytest.raises(ValueError, match=r"\(x, y, w, h\)"):
    imaging.box_to_center_scale(np.zeros((3, 2)))


def test_warp_matrix_matches_the_official_udp_matrix(postprocess):
  p = postprocess
  ours = imaging.warp_matrix(p["warp_center"], p["warp_scale"], p["warp_rot"],
                             p["warp_image_size"])
  assert ours.dtype == np.float32 and ours.shape == p["warp_udp"].shape
  assert _rel(ours, p["warp_udp"]) < 1e-6
  # The plain (non-UDP) call of the same function, through get_warp_matrix.
  plain = imaging.get_warp_matrix(p["warp_rot"], p["warp_center"], p["warp_image_size"],
                                  p["warp_scale"] * 200.0).astype(np.float32)
  assert _rel(plain, p["warp_udp_plain"]) < 1e-6
  # One item at a time gives the same matrices.
  for i in range(len(ours)):
    one = imaging.warp_matrix(p["warp_center"][i], p["warp_scale"][i], p["warp_rot"][i],
                              p["warp_image_size"][i])
    np.testing.assert_array_equal(one, ours[i])


def test_points_follow_the_official_warp_and_come_back(postprocess):
  p = postprocess
  joints = imaging.affine_points(p["warp_joints"], p["warp_udp"].astype(np.float64))
  assert _rel(joints, p["warp_joints_udp"]) < 1e-6
  exact = imaging.affine_points(p["warp_joints"], imaging.warp_matrix(
      p["warp_center"], p["warp_scale"], p["warp_rot"], p["warp_image_size"],
      dtype=np.float64))
  back = imaging.crop_to_image(exact, p["warp_center"], p["warp_scale"], p["warp_rot"],
                               p["warp_image_size"])
  np.testing.assert_allclose(back, p["warp_joints"], atol=1e-8)


def test_crop_to_image_is_transform_preds_without_rotation():
  center, scale = np.array([[100., 80.]]), np.array([[0.9, 1.2]])
  size = (48, 64)
  points = np.array([[[0., 0.], [47., 63.], [10.5, 20.25]]])
  ours = imaging.crop_to_image(points, center, scale, 0.0, size)
  s = 200 * scale[:, None]
  expected = points * s / (np.array(size) - 1.0) + center[:, None] - 0.5 * s
  np.testing.assert_allclose(ours, expected, rtol=1e-9)


@pytest.mark.parametrize("scale", [[0., 1.], [1., -1.], [np.nan, 1.]])
def test_warp_matrix_rejects_degenerate_scales(scale):
  with pytest.raises(ValueError, match="scale"):
    imaging.warp_matrix([10., 10.], scale, 0., (192, 256))
