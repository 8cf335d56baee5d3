"""Box, centre/scale and the UDP affine warp of top-down pose estimation (NumPy).

Conventions (ViTPose / mmpose 0.x; docs/reference.md, ViTPose): boxes are (x, y, w, h) in
image pixels; a person box becomes a centre (pixels) and a scale in units of
``pixel_std = 200`` pixels, with the box grown to the crop's aspect ratio and padded.
The crop is the UDP ("unbiased data processing") warp, which maps pixel *centres*:
image pixel ``c - 100 * s`` goes to crop pixel 0 and ``c + 100 * s`` to crop pixel
``size - 1``. Every function works on one item or a leading batch of them.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

PIXEL_STD = 200.0


def _size2(size: Sequence[float] | np.ndarray, what: str) -> np.ndarray:
  size = np.asarray(size, np.float64)
  if size.shape[-1:] != (2,):
    raise ValueError(f"{what} must be (width, height), got shape {size.shape}")
  return size


def box_to_center_scale(boxes_xywh: np.ndarray, aspect_ratio: float = 0.75,
                        padding: float = 1.25) -> tuple[np.ndarray, np.ndarray]:
  """Person boxes -> crop centres and scales, as mmpose's ``_xywh2cs`` (test mode).

  Args:
    boxes_xywh: (..., 4) boxes (x, y, w, h) in image pixels.
    aspect_ratio: crop width / height (192 / 256 for ViTPose): the box is grown in
      width or height to this ratio, never shrunk.
    padding: context factor applied after the aspect fix (1.25 in ViTPose).

  Returns:
    center (..., 2) float32 pixels, scale (..., 2) float32 in units of 200 px.
  """
  boxes = np.asarray(boxes_xywh, np.float64)
  if boxes.shape[-1:] != (4,):
    raise ValueError(f"boxes must be (..., 4) as (x, y, w, h), got {boxes.shape}")
  if aspect_ratio <= 0 or padding <= 0:
    raise ValueError(f"aspect_ratio and padding must be positive, got "
                     f"{aspect_ratio}, {padding}")
  x, y, w, h = np.moveaxis(boxes, -1, 0)
  center = np.stack([x + w * 0.5, y + h * 0.5], axis=-1).astype(np.float32)
  w, h = np.where(w > aspect_ratio * h, w, h * aspect_ratio), np.where(
      w > aspect_ratio * h, w / aspect_ratio, h)
  # Divided in float64, then float32 times the padding: the official rounding.
  scale = np.stack([w / PIXEL_STD, h / PIXEL_STD], axis=-1).astype(np.float32)
  return center, (scale * np.float32(padding)).astype(np.float32)


def get_warp_matrix(theta_deg: np.ndarray, size_input: np.ndarray,
                    size_dst: np.ndarray, size_target: np.ndarray) -> np.ndarray:
  """The UDP matrix (..., 2, 3) of mmpose's ``get_warp_matrix``, computed in float64.

  ``size_input`` is twice the centre, ``size_dst`` the crop size minus one and
  ``size_target`` the region size in pixels (all (..., 2) as (w, h)).
  """
  theta = np.deg2rad(np.asarray(theta_deg, np.float64))
  size_input, size_dst, size_target = (
      np.asarray(a, np.float64) for a in (size_input, size_dst, size_target))
  sx = size_dst[..., 0] / size_target[..., 0]
  sy = size_dst[..., 1] / size_target[..., 1]
  cos, sin = np.cos(theta), np.sin(theta)
  row0 = [cos * sx, -sin * sx,
          sx * (-0.5 * size_input[..., 0] * cos + 0.5 * size_input[..., 1] * sin
                + 0.5 * size_target[..., 0])]
  row1 = [sin * sy, cos * sy,
          sy * (-0.5 * size_input[..., 0] * sin - 0.5 * size_input[..., 1] * cos
                + 0.5 * size_target[..., 1])]
  row0, row1 = (np.stack(np.broadcast_arrays(*r), axis=-1) for r in (row0, row1))
  return np.stack([row0, row1], axis=-2)


def warp_matrix(center: np.ndarray, scale: np.ndarray, rotation_deg: float | np.ndarray,
                output_size: Sequence[float], dtype=np.float32) -> np.ndarray:
  """Image -> crop affine matrix of ``TopDownAffine(use_udp=True)``.

  ``get_warp_matrix(rotation, 2 * center, output_size - 1, 200 * scale)``: a crop
  pixel ``p`` shows image point ``inv(M) @ [p, 1]``.

  Args:
    center: (..., 2) box centre in image pixels.
    scale: (..., 2) box size in units of 200 px (``box_to_center_scale``).
    rotation_deg: scalar or (...,) rotation in degrees (counter-clockwise in the
      image as displayed, as mmpose).
    output_size: crop (width, height), e.g. (192, 256); or (..., 2).
    dtype: of the result; float32 as the official code stores it.

  Returns:
    (..., 2, 3) matrices.
  """
  center = _size2(center, "center")
  scale = _size2(scale, "scale")
  size = _size2(output_size, "output_size")
  if np.any(size < 2):
    raise ValueError(f"output_size must be at least 2 x 2 pixels, got {output_size}")
  if np.any(~np.isfinite(scale)) or np.any(scale <= 0):
    raise ValueError("scale must be finite and positive (a box of zero width or "
                     "height has no crop); drop such boxes first")
  if np.any(~np.isfinite(center)):
    raise ValueError("center must be finite")
  return get_warp_matrix(rotation_deg, 2.0 * center, size - 1.0,
                         PIXEL_STD * scale).astype(dtype)


def invert_affine(matrix: np.ndarray) -> np.ndarray:
  """The inverse (..., 2, 3) of affine matrices (..., 2, 3), in float64."""
  m = np.asarray(matrix, np.float64)
  a, b, c = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
  d, e, f = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
  det = a * e - b * d
  if np.any(det == 0):
    raise ValueError("singular affine matrix (zero scale?)")
  ia, ib, id_, ie = e / det, -b / det, -d / det, a / det
  rows = [[ia, ib, -(ia * c + ib * f)], [id_, ie, -(id_ * c + ie * f)]]
  return np.stack([np.stack(r, axis=-1) for r in rows], axis=-2)


def affine_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
  """Applies (..., 2, 3) matrices to points (..., K, 2) (``warp_affine_joints``).

  Works on NumPy and JAX arrays (it uses only broadcasting arithmetic).
  """
  x, y = points[..., 0], points[..., 1]
  m = matrix[..., None, :, :]
  return (m[..., :, 0] * x[..., None] + m[..., :, 1] * y[..., None] + m[..., :, 2])


def crop_to_image(points: np.ndarray, center: np.ndarray, scale: np.ndarray,
                  rotation_deg: float | np.ndarray,
                  output_size: Sequence[float]) -> np.ndarray:
  """Crop (or heatmap) pixels (..., K, 2) back to image pixels (float64).

  With ``output_size`` the heatmap size and no rotation this is mmpose's
  ``transform_preds(..., use_udp=True)``: ``x * 200 s / (w - 1) + c - 100 s``.
  """
  matrix = warp_matrix(center, scale, rotation_deg, output_size, dtype=np.float64)
  return affine_points(np.asarray(points, np.float64), invert_affine(matrix))


def valid_boxes(boxes_xywh: np.ndarray, image_size_wh: Sequence[int]) -> np.ndarray:
  """(N,) bool: finite boxes of positive width and height that overlap the image."""
  boxes = np.asarray(boxes_xywh, np.float64).reshape(-1, 4)
  x, y, w, h = boxes.T
  width, height = image_size_wh
  with np.errstate(invalid="ignore"):
    return (np.isfinite(boxes).all(axis=1) & (w > 0) & (h > 0) & (x < width)
            & (y < height) & (x + w > 0) & (y + h > 0))
