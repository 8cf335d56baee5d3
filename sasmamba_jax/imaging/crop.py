"""Affine crops with bilinear sampling and zeros outside the image.

``crop_image`` (NumPy) is for data-loader workers; ``crop_images`` (JAX) is jittable
and runs on the accelerator. Both sample the source at ``inv(M) @ [u, v, 1]`` for
every crop pixel (u, v), with the four bilinear taps and a tap outside the image
counting as 0 (OpenCV's ``warpAffine(INTER_LINEAR, BORDER_CONSTANT)``, without its
1/32-pixel fixed-point rounding). Channels-last throughout.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from sasmamba_jax.imaging import geometry


def _output_size(output_size: Sequence[int]) -> tuple[int, int]:
  if len(output_size) != 2 or any(int(s) != s or s < 1 for s in output_size):
    raise ValueError(f"output_size must be two positive integers (width, height), "
                     f"got {output_size}")
  return int(output_size[0]), int(output_size[1])


def _source_grid(inverse: np.ndarray, width: int, height: int, xp):
  """Source coordinates (..., h, w) of every crop pixel under ``inverse`` (..., 2, 3)."""
  v, u = xp.meshgrid(xp.arange(height, dtype=inverse.dtype),
                     xp.arange(width, dtype=inverse.dtype), indexing="ij")
  m = inverse[..., None, None, :, :]
  sx = m[..., 0, 0] * u + m[..., 0, 1] * v + m[..., 0, 2]
  sy = m[..., 1, 0] * u + m[..., 1, 1] * v + m[..., 1, 2]
  return sx, sy


def crop_image(image: np.ndarray, matrix: np.ndarray, output_size: Sequence[int],
               dtype: np.dtype | type = np.float32) -> np.ndarray:
  """Warps one image (or clip) into a crop, in NumPy.

  Args:
    image: (..., H, W, C) any real dtype (uint8 frames are fine); leading axes (e.g.
      the T frames of a clip) all get the same warp.
    matrix: (2, 3) image -> crop affine matrix (``geometry.warp_matrix``).
    output_size: crop (width, height).
    dtype: of the result; float32, or uint8 (rounded, as OpenCV does) to keep
      worker-to-host transfers small.

  Returns:
    (..., height, width, C) of ``dtype``.
  """
  image = np.asarray(image)
  if image.ndim < 3:
    raise ValueError(f"image must be (..., H, W, C), got shape {image.shape}")
  matrix = np.asarray(matrix)
  if matrix.shape != (2, 3):
    raise ValueError(f"matrix must be (2, 3), got {matrix.shape}")
  width, height = _output_size(output_size)
  h_in, w_in = image.shape[-3:-1]
  sx, sy = _source_grid(geometry.invert_affine(matrix), width, height, np)
  x0, y0 = np.floor(sx), np.floor(sy)
  fx, fy = (sx - x0).astype(np.float32), (sy - y0).astype(np.float32)
  x0, y0 = x0.astype(np.int64), y0.astype(np.int64)
  out = np.zeros(image.shape[:-3] + (height, width, image.shape[-1]), np.float32)
  for dy, wy in ((0, 1.0 - fy), (1, fy)):
    for dx, wx in ((0, 1.0 - fx), (1, fx)):
      xi, yi = x0 + dx, y0 + dy
      valid = (xi >= 0) & (xi < w_in) & (yi >= 0) & (yi < h_in)
      weight = np.where(valid, wx * wy, 0.0).astype(np.float32)
      taps = image[..., np.clip(yi, 0, h_in - 1), np.clip(xi, 0, w_in - 1), :]
      out += taps.astype(np.float32) * weight[..., None]
  if np.dtype(dtype) == np.uint8:
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
  return out.astype(dtype, copy=False)


def _crop_one(images: jax.Array, index: jax.Array, inverse: jax.Array, width: int,
              height: int) -> jax.Array:
  # One gather from the whole batch: indexing images[index] first would copy the
  # full source image per crop under vmap.
  h_in, w_in = images.shape[1:3]
  sx, sy = _source_grid(inverse, width, height, jnp)
  x0, y0 = jnp.floor(sx), jnp.floor(sy)
  fx, fy = sx - x0, sy - y0
  x0, y0 = x0.astype(jnp.int32), y0.astype(jnp.int32)
  out = jnp.zeros((height, width, images.shape[-1]), jnp.float32)
  for dy, wy in ((0, 1.0 - fy), (1, fy)):
    for dx, wx in ((0, 1.0 - fx), (1, fx)):
      xi, yi = x0 + dx, y0 + dy
      valid = (xi >= 0) & (xi < w_in) & (yi >= 0) & (yi < h_in)
      weight = jnp.where(valid, wx * wy, 0.0)
      taps = images[index, jnp.clip(yi, 0, h_in - 1), jnp.clip(xi, 0, w_in - 1)]
      out = out + taps.astype(jnp.float32) * weight[..., None]
  return out


def invert_affine_jax(matrix: jax.Array) -> jax.Array:
  """``geometry.invert_affine`` in JAX (float32), for matrices (..., 2, 3)."""
  a, b, c = matrix[..., 0, 0], matrix[..., 0, 1], matrix[..., 0, 2]
  d, e, f = matrix[..., 1, 0], matrix[..., 1, 1], matrix[..., 1, 2]
  det = a * e - b * d
  ia, ib, id_, ie = e / det, -b / det, -d / det, a / det
  rows = [[ia, ib, -(ia * c + ib * f)], [id_, ie, -(id_ * c + ie * f)]]
  return jnp.stack([jnp.stack(r, axis=-1) for r in rows], axis=-2)


def crop_images(images: jax.Array, matrices: jax.Array, output_size: Sequence[int],
                image_index: jax.Array | None = None) -> jax.Array:
  """Warps a batch of crops out of a batch of images; jittable (``output_size`` static).

  Args:
    images: (B, H, W, C) any real dtype.
    matrices: (N, 2, 3) image -> crop matrices (``geometry.warp_matrix``).
    output_size: crop (width, height), a static Python pair.
    image_index: (N,) int, which image each crop comes from; default ``arange(N)``
      (then N must equal B).

  Returns:
    (N, height, width, C) float32. Pixels sampled outside the image are 0, so
    zero-padding ``images`` on the bottom/right leaves the crops unchanged (this is
    how ``topdown.estimate_2d`` buckets image sizes to bound recompilation).
  """
  if images.ndim != 4:
    raise ValueError(f"images must be (B, H, W, C), got shape {images.shape}")
  if matrices.ndim != 3 or matrices.shape[1:] != (2, 3):
    raise ValueError(f"matrices must be (N, 2, 3), got shape {matrices.shape}")
  width, height = _output_size(output_size)
  inverse = invert_affine_jax(jnp.asarray(matrices, jnp.float32))
  if image_index is None:
    if matrices.shape[0] != images.shape[0]:
      raise ValueError(f"{matrices.shape[0]} matrices for {images.shape[0]} images: "
                       "pass image_index to say which image each crop comes from")
    image_index = jnp.arange(images.shape[0])
  return jax.vmap(lambda i, m: _crop_one(images, i, m, width, height))(
      jnp.asarray(image_index, jnp.int32), inverse)
