import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sasmamba_jax import imaging


def _image(shape, seed=0):
  return np.random.default_rng(seed).integers(0, 256, shape).astype(np.uint8)


def test_an_integer_shift_copies_pixels_and_zero_fills_outside():
  image = _image((10, 12, 3))
  # Crop pixel (u, v) shows image pixel (u + 3, v - 2).
  matrix = np.array([[1., 0., -3.], [0., 1., 2.]])
  out = imaging.crop_image(image, matrix, (8, 6))
  assert out.shape == (6, 8, 3) and out.dtype == np.float32
  np.testing.assert_array_equal(out[2:, :], image[0:4, 3:11])
  np.testing.assert_array_equal(out[:2], 0)


def test_bilinear_weights_and_the_zero_border():
  image = np.arange(12, dtype=np.float32).reshape(3, 4, 1)
  matrix = np.array([[1., 0., 0.5], [0., 1., 0.]])  # source x = u - 0.5
  out = imaging.crop_image(image, matrix, (5, 3))[..., 0]
  # u = 0 reads x = -0.5: half of pixel 0 and half of the zero outside.
  np.testing.assert_allclose(out[:, 0], image[:, 0, 0] * 0.5)
  np.testing.assert_allclose(out[:, 1:4], 0.5 * (image[:, :-1, 0] + image[:, 1:, 0]))
  np.testing.assert_allclose(out[:, 4], image[:, 3, 0] * 0.5)


def test_numpy_and_jax_crops_agree_on_rotated_boxes_past_the_border():
  images = _image((2, 40, 50, 3))
  center, scale = imaging.box_to_center_scale(np.array([[5., -8., 30., 40.],
                                                        [20., 10., 25., 20.]]))
  matrices = imaging.warp_matrix(center, scale, np.array([30., -100.]), (24, 32))
  ours = jax.jit(imaging.crop_images, static_argnums=2)(
      jnp.asarray(images), jnp.asarray(matrices), (24, 32))
  ref = np.stack([imaging.crop_image(im, m, (24, 32)) for im, m in zip(images, matrices)])
  assert ours.shape == (2, 32, 24, 3)
  np.testing.assert_allclose(np.asarray(ours), ref, atol=2e-2)
  assert (ref == 0).any() and (ref > 0).mean() > 0.3  # partly outside, mostly inside


def test_image_index_crops_many_boxes_from_one_image_and_padding_changes_nothing():
  image = _image((1, 30, 20, 3), seed=1)
  center, scale = imaging.box_to_center_scale(np.array([[2., 3., 10., 14.],
                                                        [8., 0., 12., 25.],
                                                        [15., 20., 10., 10.]]))
  matrices = jnp.asarray(imaging.warp_matrix(center, scale, 0., (12, 16)))
  index = jnp.zeros(3, jnp.int32)
  crop = jax.jit(imaging.crop_images, static_argnums=2)
  out = crop(jnp.asarray(image), matrices, (12, 16), index)
  padded = np.zeros((1, 64, 32, 3), np.uint8)
  padded[:, :30, :20] = image
  out_padded = crop(jnp.asarray(padded), matrices, (12, 16), index)
  np.testing.assert_allclose(out, out_padded, atol=1e-4)
  ref = np.stack([imaging.crop_image(image[0], m, (12, 16)) for m in np.asarray(matrices)])
  np.testing.assert_allclose(out, ref, atol=2e-2)


def test_a_clip_gets_one_warp_for_every_frame():
  clip = _image((3, 20, 20, 3), seed=2)
  matrix = imaging.warp_matrix([10., 10.], [0.1, 0.12], 15., (12, 16))
  out = imaging.crop_image(clip, matrix, (12, 16))
  assert out.shape == (3, 16, 12, 3)
  np.testing.assert_array_equal(out[1], imaging.crop_image(clip[1], matrix, (12, 16)))
  as_uint8 = imaging.crop_image(clip, matrix, (12, 16), dtype=np.uint8)
  assert as_uint8.dtype == np.uint8
  np.testing.assert_array_equal(as_uint8, np.rint(out))


def test_bad_inputs_are_refused():
  with pytest.raises(ValueError, match="H, W, C"):
    imaging.crop_image(np.zeros((4, 4)), np.eye(2, 3), (2, 2))
  with pytest.raises(ValueError, match="image_index"):
    imaging.crop_images(jnp.zeros((2, 4, 4, 3)), jnp.zeros((3, 2, 3)), (2, 2))
  with pytest.raises(ValueError, match="output_size"):
    imaging.crop_image(np.zeros((4, 4, 3)), np.eye(2, 3), (2.5, 2))
