import jax.numpy as jnp
import numpy as np
import pytest

from sasmamba_jax import imaging, skeletons


def test_flip_heatmaps_is_the_official_flip_back(postprocess):
  perm = imaging.pairs_to_permutation(postprocess["flip_pairs"], 17)
  np.testing.assert_array_equal(perm, skeletons.COCO.flip_permutation)
  ours = imaging.flip_heatmaps(postprocess["heatmaps"].transpose(0, 2, 3, 1), perm)
  np.testing.assert_array_equal(ours.transpose(0, 3, 1, 2), postprocess["flip_back"])
  ours_jax = imaging.flip_heatmaps(jnp.asarray(postprocess["heatmaps"][:1]
                                               .transpose(0, 2, 3, 1)), perm)
  np.testing.assert_array_equal(np.asarray(ours_jax).transpose(0, 3, 1, 2),
                                postprocess["flip_back"][:1])


def test_flip_keypoints_twice_is_identity_on_numpy_and_jax():
  perm = skeletons.COCO.flip_permutation
  kp = np.random.default_rng(0).uniform(0, 191, (17, 2))
  flipped_kp = imaging.flip_keypoints(kp, 192, perm)
  np.testing.assert_allclose(imaging.flip_keypoints(flipped_kp, 192, perm), kp)
  kp_jax = imaging.flip_keypoints(jnp.asarray(kp, jnp.float32), 192, perm)
  np.testing.assert_allclose(kp_jax, flipped_kp, rtol=1e-5)


def test_flip_refuses_a_bad_permutation():
  with pytest.raises(ValueError, match="permutation"):
    imaging.flip_heatmaps(np.zeros((4, 3, 17)), np.arange(16))
  with pytest.raises(ValueError, match="outside"):
    imaging.pairs_to_permutation([[1, 17]], 17)


def test_normalization_round_trip_and_constants():
  image = np.arange(24, dtype=np.uint8).reshape(2, 4, 3) * 10
  x = imaging.normalize_images(image)
  assert x.dtype == np.float32
  np.testing.assert_allclose(x[0, 0], (np.array([0, 10, 20]) / 255 - imaging.IMAGENET_MEAN)
                             / imaging.IMAGENET_STD, rtol=1e-5)
  np.testing.assert_allclose(imaging.denormalize_images(x), image, atol=1e-3)
  with pytest.raises(ValueError, match="RGB"):
    imaging.normalize_images(np.zeros((4, 4, 1)))
