import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from sasmamba_jax import imaging, skeletons, topdown
from sasmamba_jax.codecs import HeatmapCodec
from sasmamba_jax.topdown import pipeline

INPUT = (48, 64)        # crop (width, height)
HEATMAP = (12, 16)
CODEC = HeatmapCodec(INPUT, HEATMAP)


def _resample(crops):
  """Crop channel 0, back in [0, 255], sampled on the UDP heatmap grid."""
  pixels = imaging.denormalize_images(crops)[..., :1]
  m = np.array([[(HEATMAP[0] - 1) / (INPUT[0] - 1), 0, 0],
                [0, (HEATMAP[1] - 1) / (INPUT[1] - 1), 0]], np.float32)
  matrices = jnp.broadcast_to(jnp.asarray(m), (crops.shape[0], 2, 3))
  return imaging.crop_images(pixels, matrices, HEATMAP)


def blob_model(crops):
  """A fake pose model: every joint's heatmap is the image's brightness."""
  return jnp.repeat(_resample(crops), 17, axis=-1) / 255.0


def _blob_image(points, size=(120, 160)):
  y, x = np.mgrid[:size[1], :size[0]]
  image = sum((np.exp(-((x - px)**2 + (y - py)**2) / (2 * 6.0**2)) for px, py in points),
              np.zeros(x.shape))
  return np.repeat((255 * image)[..., None], 3, axis=-1).round().astype(np.uint8)


def test_a_blob_is_found_where_it_is_through_crop_flip_and_decode():
  points = [(40.0, 50.0), (85.3, 110.6)]
  image = _blob_image(points)
  boxes = np.array([[20., 20., 40., 60.], [60., 80., 50., 60.]])
  keypoints, scores = topdown.estimate_2d(blob_model, image, boxes, codec=CODEC)
  assert keypoints.shape == (2, 17, 2) and scores.shape == (2, 17)
  np.testing.assert_allclose(keypoints[0], np.broadcast_to(points[0], (17, 2)), atol=0.05)
  np.testing.assert_allclose(keypoints[1], np.broadcast_to(points[1], (17, 2)), atol=0.05)
  assert (scores > 0.8).all()
  # Without the flip test too; and in a list of images, with an empty box list.
  results = topdown.estimate_2d(blob_model, [image, image], [boxes[:1], np.zeros((0, 4))],
                                codec=CODEC, flip=False)
  np.testing.assert_allclose(results[0][0][0], np.broadcast_to(points[0], (17, 2)),
                             atol=0.05)
  assert results[1][0].shape == (0, 17, 2) and results[1][1].shape == (0, 17)


def test_batches_and_buckets_do_not_change_results_nor_recompile_the_model():
  image = _blob_image([(60.0, 80.0)])
  boxes = np.array([[30., 40., 60., 80.], [35., 45., 50., 70.], [20., 30., 80., 100.]])
  ref = topdown.estimate_2d(blob_model, image, boxes, codec=CODEC)
  before = pipeline._predict._cache_size()
  small = topdown.estimate_2d(blob_model, image, boxes, codec=CODEC, batch_size=2)
  np.testing.assert_allclose(small[0], ref[0], atol=1e-4)
  np.testing.assert_allclose(small[1], ref[1], atol=1e-6)
  # 3 and 4 persons share the bucket of 4: no new compilation.
  topdown.estimate_2d(blob_model, image, np.concatenate([boxes, boxes[:1]]),
                      codec=CODEC)
  assert pipeline._predict._cache_size() - before == 1   # only batch 2 was new


def test_an_nnx_model_runs_in_eval_mode_and_gives_finite_results(tiny_vitpose):
  tiny_vitpose.train()
  image = np.random.default_rng(0).integers(0, 256, (50, 70, 3)).astype(np.uint8)
  # Boxes past the border (partly outside the image) are fine.
  # (3 boxes: the batch bucket of the fake val2017 in test_coco, compiled once.)
  boxes = np.array([[-10., -5., 40., 30.], [50., 20., 40., 60.], [5., 5., 30., 30.]])
  keypoints, scores = topdown.estimate_2d(tiny_vitpose, image, boxes)
  norms = [m for _, m in nnx.iter_graph(tiny_vitpose) if hasattr(m, "use_running_average")]
  assert norms and all(m.use_running_average for m in norms)  # eval() was applied
  assert np.isfinite(keypoints).all() and np.isfinite(scores).all()
  assert keypoints.shape == (3, 17, 2)


def test_flip_test_is_the_official_average(vitpose_tiny):
  """A model that returns the official heatmaps of the image and of its mirror."""
  f = vitpose_tiny
  perm = skeletons.COCO.flip_permutation
  plain = f["heatmaps"].transpose(0, 2, 3, 1)
  # heatmaps_flip is already flipped back; the raw output on the mirror is its mirror.
  mirrored = imaging.flip_heatmaps(f["heatmaps_flip"].transpose(0, 2, 3, 1), perm)
  crops = jnp.asarray(f["x"].transpose(0, 2, 3, 1))

  def apply_fn(x):
    return jnp.asarray(plain if np.array_equal(np.asarray(x), np.asarray(crops))
                       else mirrored)

  out = CODEC.flip_test(apply_fn, crops, perm)
  np.testing.assert_allclose(np.asarray(out).transpose(0, 3, 1, 2),
                             f["heatmaps_fliptest"], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("image, boxes, match", [
    (np.zeros((10, 10, 3), np.float32), np.ones((1, 4)), "uint8"),
    (np.zeros((1, 10, 10, 3), np.uint8), np.ones((1, 4)), r"\(H, W, 3\)"),
    (np.zeros((10, 10), np.uint8), np.ones((1, 4)), r"\(H, W, 3\)"),
    (np.zeros((10, 10, 3), np.uint8), np.array([[1., 1., 0., 5.]]), "degenerate"),
    (np.zeros((10, 10, 3), np.uint8), np.array([[20., 1., 5., 5.]]), "outside"),
    (np.zeros((10, 10, 3), np.uint8), np.array([[1., 1., np.nan, 5.]]), "degenerate"),
    (np.zeros((10, 10, 3), np.uint8), np.ones((1, 3)), r"\(N, 4\)"),
])
def test_bad_inputs_get_a_clear_error(image, boxes, match):
  with pytest.raises(ValueError, match=match):
    topdown.estimate_2d(blob_model, image, boxes, codec=CODEC)


def test_valid_boxes_marks_degenerate_ones():
  boxes = np.array([[0., 0., 5., 5.], [0., 0., 0., 5.], [-9., 0., 8., 5.],
                    [0., 0., np.inf, 5.], [9., 9., 5., 5.]])
  np.testing.assert_array_equal(topdown.valid_boxes(boxes, (10, 10)),
                                [True, False, False, False, True])


def test_flip_test_of_the_official_tiny_model(tiny_vitpose, vitpose_tiny):
  graphdef, variables = nnx.split(tiny_vitpose)
  codec = topdown.model_codec(tiny_vitpose)
  out = jax.jit(lambda v, x: codec.flip_test(nnx.merge(graphdef, v), x,
                                             skeletons.COCO.flip_permutation))(
      variables, jnp.asarray(vitpose_tiny["x"].transpose(0, 2, 3, 1)))
  ref = vitpose_tiny["heatmaps_fliptest"]
  assert np.max(np.abs(np.asarray(out).transpose(0, 3, 1, 2) - ref)) / np.abs(ref).max() \
      < 1e-4


def test_a_skeleton_that_does_not_fit_the_model_is_named():
  five = skeletons.Skeleton(name="five", joint_names=tuple("abcde"),
                            parents=(-1, 0, 0, 0, 0), left=(1,), right=(2,), root=0)
  image = _blob_image([(60.0, 80.0)])
  with pytest.raises(ValueError, match="17 heatmaps but the flip permutation has 5"):
    topdown.estimate_2d(blob_model, image, np.array([[30., 40., 60., 80.]]),
                        codec=CODEC, skeleton=five)
