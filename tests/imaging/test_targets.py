import numpy as np
import pytest

from sasmamba_jax import imaging


def _one_joint(x, y, v, image_size, heatmap_size, sigma):
  """A loop over the official encoder's window, one joint (the module docstring's facts)."""
  w, h = heatmap_size
  stride = (np.array(image_size) - 1.0) / (np.array(heatmap_size) - 1.0)
  mx, my = x / stride[0], y / stride[1]
  ix, iy = int(mx + 0.5), int(my + 0.5)
  r = sigma * 3
  ul, br = (int(ix - r), int(iy - r)), (int(ix + r + 1), int(iy + r + 1))
  target = np.zeros((h, w), np.float32)
  if ul[0] >= w or ul[1] >= h or br[0] < 0 or br[1] < 0:
    return target, 0.0
  for py in range(max(0, ul[1]), min(br[1], h)):
    for px in range(max(0, ul[0]), min(br[0], w)):
      target[py, px] = np.exp(-((px - mx) ** 2 + (py - my) ** 2) / (2 * sigma**2))
  return (target if v > 0.5 else target * 0), float(v)


def test_targets_follow_the_udp_encoder():
  rng = np.random.default_rng(0)
  image_size, heatmap_size = (192, 256), (48, 64)
  keypoints = rng.uniform(-40, 280, (2, 17, 2))
  keypoints[0, 0] = (0., 0.)            # on the first pixel centre
  keypoints[0, 1] = (191., 255.)        # on the last one
  keypoints[0, 2] = (-30., 100.)        # window just inside: int() truncates
  keypoints[0, 3] = (-1000., 100.)      # far outside: weight 0
  visible = (rng.uniform(size=(2, 17)) > 0.2).astype(np.float32)
  visible[0, :4] = 1
  target, weight = imaging.udp_heatmap_targets(keypoints, visible, image_size,
                                               heatmap_size, sigma=2.0)
  assert target.shape == (2, 64, 48, 17) and weight.shape == (2, 17)
  for n in range(2):
    for k in range(17):
      ref, ref_w = _one_joint(*keypoints[n, k], visible[n, k], image_size,
                              heatmap_size, 2.0)
      np.testing.assert_allclose(target[n, ..., k], ref, atol=1e-6, err_msg=f"{n} {k}")
      assert weight[n, k] == ref_w, (n, k)
  assert target[0, 0, 0, 0] == 1.0 and target[0, 63, 47, 1] == pytest.approx(1.0)
  assert weight[0, 3] == 0 and not target[0, ..., 3].any()
  assert weight[0, 2] == 1 and target[0, ..., 2].any()


def test_target_weight_is_the_visibility_inside_the_map():
  keypoints = np.array([[96., 128.], [96., 128.], [5000., 128.]])
  target, weight = imaging.udp_heatmap_targets(keypoints, np.array([1., 0., 1.]),
                                               (192, 256), (48, 64))
  np.testing.assert_array_equal(weight, [1., 0., 0.])
  assert 0.9 < target[..., 0].max() < 1.0
  assert not target[..., 1:].any()
  # The peak sits at the unquantised UDP position keypoint * 47 / 191.
  y, x = np.unravel_index(np.argmax(target[..., 0]), (64, 48))
  assert (x, y) == (round(96 * 47 / 191), round(128 * 63 / 255))
