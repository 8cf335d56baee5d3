"""The top-down path: images + person boxes -> keypoints, on the accelerator.

Boxes become UDP crops (``imaging``), crops are cut out of the images and normalised
in one jitted call per (padded) image size, the model runs on batches of crops padded
to a power of two (with the flip test in the same call), and the heatmaps are decoded
to image pixels inside that jitted call (the ``codecs.HeatmapCodec``: crop size,
flip test, UDP + DARK decoding). Compilations: the model once per crop size
and batch bucket (1, 2, 4, ... ``batch_size``); the crop, which is cheap, once per
image-size bucket (multiples of ``IMAGE_BUCKET`` pixels) and box-count bucket.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from sasmamba_jax import imaging
from sasmamba_jax import skeletons
from sasmamba_jax.codecs import HeatmapCodec

#: Images are zero-padded (bottom/right) to multiples of this many pixels before
#: cropping, so that images of similar sizes share one compiled crop. Zero padding
#: changes no crop: the crop samples zeros outside the image anyway.
IMAGE_BUCKET = 128


def _bucket(n: int, most: int) -> int:
  return min(most, 1 << max(0, n - 1).bit_length())


def _check_image(image: Any, i: int) -> np.ndarray:
  if not hasattr(image, "shape") or not hasattr(image, "dtype"):
    raise ValueError(f"image {i} is a {type(image).__name__}; expected an array "
                     "(H, W, 3) uint8 RGB")
  if image.ndim != 3 or image.shape[-1] != 3:
    raise ValueError(f"image {i} has shape {tuple(image.shape)}; expected (H, W, 3) RGB "
                     "(pass a list for several images)")
  if image.dtype != np.uint8:
    raise ValueError(f"image {i} is {image.dtype}; expected uint8 RGB in [0, 255] (for "
                     "floats in [0, 1]: (x * 255).round().astype(np.uint8))")
  if min(image.shape[:2]) < 1:
    raise ValueError(f"image {i} is empty: shape {tuple(image.shape)}")
  return np.asarray(image)


def _check_boxes(boxes: Any, image: np.ndarray, i: int) -> np.ndarray:
  boxes = np.asarray(boxes, np.float64)
  if boxes.size == 0:
    return boxes.reshape(0, 4)
  if boxes.ndim != 2 or boxes.shape[1] != 4:
    raise ValueError(f"boxes of image {i} have shape {boxes.shape}; expected (N, 4) as "
                     "(x, y, w, h) in pixels")
  ok = imaging.valid_boxes(boxes, (image.shape[1], image.shape[0]))
  if not ok.all():
    bad = np.flatnonzero(~ok)
    raise ValueError(
        f"image {i}: boxes {bad[:5].tolist()}{'...' if len(bad) > 5 else ''} are "
        f"degenerate (e.g. {boxes[bad[0]].tolist()}): zero/negative size, not finite or "
        "outside the image; drop them with topdown.valid_boxes(boxes, (W, H))")
  return boxes


@functools.partial(jax.jit, static_argnames=("output_size",))
def _crop(image: jax.Array, matrices: jax.Array, output_size: tuple[int, int]):
  index = jnp.zeros(matrices.shape[0], jnp.int32)
  crops = imaging.crop_images(image[None], matrices, output_size, index)
  return imaging.normalize_images(crops)


def _apply(static: Any, state: Any, crops: jax.Array) -> jax.Array:
  model = static if state is None else nnx.merge(static, state)
  return model(crops)


@functools.partial(jax.jit, static_argnames=("static", "permutation", "codec"))
def _predict(static, state, crops, center, scale, *, permutation, codec):
  apply_fn = functools.partial(_apply, static, state)
  if permutation is None:
    heatmaps = apply_fn(crops).astype(jnp.float32)
  else:
    heatmaps = codec.flip_test(apply_fn, crops, permutation)
  return codec.decode(heatmaps, center, scale)


def _split(model: Any) -> tuple[Any, Any]:
  if isinstance(model, nnx.Module):
    # BatchNorm and dropout in inference mode (this sets the model's own flags).
    model.eval()
    return nnx.split(model)
  if not callable(model):
    raise ValueError(f"model must be an nnx.Module or a callable crops -> heatmaps, got "
                     f"{type(model).__name__}")
  return model, None


def model_codec(model: Any) -> HeatmapCodec:
  """ViTPose's codec for the crops ``model`` was built for (a ViTPose's
  ``config.image_size``; 256 x 192 for a model without one)."""
  height, width = getattr(getattr(model, "config", None), "image_size", (256, 192))
  return HeatmapCodec((int(width), int(height)))


def estimate_2d(model: Any, images: Any, boxes: Any, *,
                codec: HeatmapCodec | None = None, flip: bool = True,
                skeleton: skeletons.Skeleton = skeletons.COCO, padding: float = 1.25,
                batch_size: int = 32) -> Any:
  """2D keypoints of the people in images, given their boxes (ViTPose's test path).

  Args:
    model: an ``nnx.Module`` mapping normalised crops (B, H, W, 3) to heatmaps
      (B, H/4, W/4, K) (put in ``eval()`` mode here), or any such callable (a
      static argument of the jitted call: pass the same object to reuse the
      compilation).
    images: one image (H, W, 3) uint8 RGB, or a list of them.
    boxes: for one image, (N, 4) boxes (x, y, w, h) in pixels; for a list of images,
      a list of such arrays (an empty one is fine).
    codec: the crop size (``codec.input_size``, width and height), the flip test
      and the decoding (UDP + DARK); default ``model_codec(model)``: ViTPose's for
      the crops the model was built for.
    flip: average with the mirrored crops' heatmaps (ViTPose's flip test).
    skeleton: the joint layout of the heatmaps (left/right pairs for the flip).
    padding: box padding (1.25 in ViTPose).
    batch_size: most crops per model call (the batch is padded to a power of two).

  Returns:
    For one image, ``(keypoints, scores)``: (N, K, 2) float32 image pixels and (N, K)
    float32 heatmap maxima; for a list, a list of such pairs.

  Raises:
    ValueError: an image that is not (H, W, 3) uint8, or a degenerate box (zero size,
      not finite, outside the image; ``valid_boxes`` finds them).
  """
  single = not isinstance(images, (list, tuple))
  if single:
    images, boxes = [images], [boxes]
  if not isinstance(boxes, (list, tuple)) or len(boxes) != len(images):
    raise ValueError(f"boxes must be a list with one (N, 4) array per image "
                     f"({len(images)} images)")
  if batch_size < 1:
    raise ValueError(f"batch_size must be >= 1, got {batch_size}")
  codec = model_codec(model) if codec is None else codec
  width, height = codec.input_size
  images = [_check_image(im, i) for i, im in enumerate(images)]
  boxes = [_check_boxes(b, im, i) for i, (im, b) in enumerate(zip(images, boxes))]
  static, state = _split(model)
  permutation = tuple(int(p) for p in skeleton.flip_permutation) if flip else None
  counts = [len(b) for b in boxes]
  all_boxes = np.concatenate(boxes) if sum(counts) else np.zeros((0, 4))
  center, scale = imaging.box_to_center_scale(all_boxes, width / height, padding)

  crops, start = [], 0
  for image, n in zip(images, counts):
    if n == 0:
      continue
    h, w = image.shape[:2]
    hb, wb = (-(-s // IMAGE_BUCKET) * IMAGE_BUCKET for s in (h, w))
    padded = np.zeros((hb, wb, 3), np.uint8)
    padded[:h, :w] = image
    nb = _bucket(n, 1 << 30)
    matrices = np.zeros((nb, 2, 3), np.float32)
    matrices[:n] = imaging.warp_matrix(center[start:start + n], scale[start:start + n],
                                       0.0, (width, height))
    matrices[n:] = np.eye(2, 3)  # padding rows: any invertible matrix
    crops.append(_crop(jnp.asarray(padded), jnp.asarray(matrices), (width, height))[:n])
    start += n

  keypoints = np.zeros((0, skeleton.num_joints, 2), np.float32)
  scores = np.zeros((0, skeleton.num_joints), np.float32)
  if crops:
    crops = jnp.concatenate(crops)
    out_k, out_s = [], []
    for lo in range(0, len(crops), batch_size):
      chunk = crops[lo:lo + batch_size]
      n = chunk.shape[0]
      nb = _bucket(n, batch_size)
      c, s = np.ones((nb, 2), np.float32), np.ones((nb, 2), np.float32)
      c[:n], s[:n] = center[lo:lo + n], scale[lo:lo + n]
      if nb > n:
        chunk = jnp.concatenate([chunk, jnp.zeros((nb - n,) + chunk.shape[1:],
                                                  chunk.dtype)])
      k, sc = _predict(static, state, chunk, jnp.asarray(c), jnp.asarray(s),
                       permutation=permutation, codec=codec)
      out_k.append(k[:n])   # device arrays: the next chunk is dispatched meanwhile
      out_s.append(sc[:n])
    keypoints = np.concatenate([np.asarray(k) for k in out_k])
    scores = np.concatenate([np.asarray(s) for s in out_s])
    if keypoints.shape[1] != skeleton.num_joints:
      raise ValueError(f"the model gives {keypoints.shape[1]} heatmaps; the skeleton "
                       f"{skeleton.name!r} has {skeleton.num_joints} joints")

  splits = np.cumsum(counts)[:-1]
  results = list(zip(np.split(keypoints, splits), np.split(scores, splits)))
  return results[0] if single else results
