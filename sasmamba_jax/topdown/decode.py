"""Heatmaps -> keypoints in image pixels: argmax, UDP DARK refinement, back-transform.

Reproduces ViTPose's test-time decoding, ``keypoints_from_heatmaps(heatmaps, center,
scale, post_process='default', use_udp=True, kernel=11,
target_type='GaussianHeatmap')`` (mmpose 0.x), in jittable JAX. Facts it keeps (the
fixture README of ../shared/fixtures/vitpose lists them):

* argmax over the flattened map (first maximum); the score is the raw maximum; a map
  whose maximum is <= 0 starts from (-1, -1);
* ``post_dark_udp``: Gaussian blur (kernel k, OpenCV's sigma ``0.3 * ((k - 1) / 2 -
  1) + 0.8``, reflect-101 border), clip to [0.001, 50], log, pad one pixel by edge
  replication, one Newton step at the integer argmax with central differences and
  ``inv(H + eps_f32 * I)``, no clamp. A border argmax thus moves 0.5 px outward;
* the Newton step reads the padded maps as one flat array, so for a map with no
  positive value (start (-1, -1)) the neighbours come from the previous map of the
  batch (the previous joint, or the previous person's last joint; the very first
  map wraps around to the last). Ill-conditioned, but deterministic: kept, so that
  results match the official code batch for batch; the score of such a joint is <= 0;
* ``transform_preds(use_udp=True)``: ``x * 200 s / (w - 1) + c - 100 s``.

With ``udp=False`` it is the classic path (``post_process='default'``): the +-0.25 px
shift towards the higher neighbour (only for 1 < x < w - 1, 1 < y < h - 1) and
``x * 200 s / w + c - 100 s``.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np


def gaussian_kernel_1d(ksize: int) -> np.ndarray:
  """OpenCV's ``getGaussianKernel(ksize, 0)`` for odd ``ksize`` > 7 (float64)."""
  sigma = 0.3 * ((ksize - 1) * 0.5 - 1) + 0.8
  x = np.arange(ksize, dtype=np.float64) - (ksize - 1) / 2
  g = np.exp(-x**2 / (2 * sigma**2))
  return g / g.sum()


def blur_matrix(size: int, ksize: int) -> np.ndarray:
  """(size, size) matrix of a 1D Gaussian blur with OpenCV's reflect-101 border."""
  r = ksize // 2
  if r >= size:
    raise ValueError(f"heatmaps with a side of {size} are too small for a {ksize} x "
                     f"{ksize} blur (the reflected border needs more than half a kernel)")
  g = gaussian_kernel_1d(ksize)
  m = np.zeros((size, size))
  for i in range(size):
    for j in range(-r, r + 1):
      src = abs(i + j)                       # reflect-101: -1 -> 1, size -> size - 2
      src = 2 * (size - 1) - src if src > size - 1 else src
      m[i, src] += g[j + r]
  return m


def gaussian_blur(maps: jax.Array, ksize: int) -> jax.Array:
  """Separable Gaussian blur of maps (..., H, W) with a reflect-101 border.

  As two small matrix products (the border folded into the matrices), at full
  float32 precision.
  """
  if ksize % 2 != 1 or ksize < 3:
    raise ValueError(f"the blur kernel must be odd and >= 3, got {ksize}")
  h, w = maps.shape[-2:]
  bh = jnp.asarray(blur_matrix(h, ksize), jnp.float32)
  bw = jnp.asarray(blur_matrix(w, ksize), jnp.float32)
  return jnp.einsum("ij,...jk,lk->...il", bh, maps, bw,
                    precision=jax.lax.Precision.HIGHEST)


def argmax_heatmaps(maps: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Maps (N, K, H, W) -> integer-valued coords (N, K, 2) float32, maxvals (N, K)."""
  n, k, h, w = maps.shape
  flat = maps.reshape(n, k, h * w)
  idx = jnp.argmax(flat, axis=-1)
  maxvals = jnp.max(flat, axis=-1)
  coords = jnp.stack([idx % w, idx // w], axis=-1).astype(jnp.float32)
  return jnp.where((maxvals > 0)[..., None], coords, -1.0), maxvals


def dark_udp(coords: jax.Array, maps: jax.Array, ksize: int = 11) -> jax.Array:
  """``post_dark_udp``: refines coords (N, K, 2) on maps (N, K, H, W), heatmap pixels."""
  n, k, h, w = maps.shape
  logs = jnp.log(jnp.clip(gaussian_blur(maps.astype(jnp.float32), ksize), 0.001, 50.0))
  flat = jnp.pad(logs, [(0, 0), (0, 0), (1, 1), (1, 1)], mode="edge").reshape(-1)
  wp = w + 2
  base = jnp.arange(n * k).reshape(n, k) * (wp * (h + 2))
  index = (coords[..., 0] + 1 + (coords[..., 1] + 1) * wp).astype(jnp.int32) + base

  def at(offset):
    i = index + offset
    return flat[jnp.where(i < 0, i + flat.size, i)]  # NumPy's negative wrap

  i_, ix1, ix1_ = at(0), at(1), at(-1)
  iy1, iy1_ = at(wp), at(-wp)
  ix1y1, ix1_y1_ = at(wp + 1), at(-wp - 1)
  dx, dy = 0.5 * (ix1 - ix1_), 0.5 * (iy1 - iy1_)
  dxx = ix1 - 2 * i_ + ix1_
  dyy = iy1 - 2 * i_ + iy1_
  dxy = 0.5 * (ix1y1 - ix1 - iy1 + i_ + i_ - ix1_ - iy1_ + ix1_y1_)
  eps = jnp.finfo(jnp.float32).eps
  a, b, d = dxx + eps, dxy, dyy + eps
  det = a * d - b * b
  step_x = (d * dx - b * dy) / det
  step_y = (a * dy - b * dx) / det
  return coords - jnp.stack([step_x, step_y], axis=-1)


def decode_heatmaps(heatmaps: jax.Array, center: jax.Array, scale: jax.Array, *,
                    udp: bool = True, dark_kernel: int | None = 11
                    ) -> tuple[jax.Array, jax.Array]:
  """ViTPose's decoding of top-down heatmaps; jittable (``udp``, ``dark_kernel`` static).

  Args:
    heatmaps: (N, h, w, K) model outputs (channels-last).
    center: (N, 2) box centres in image pixels (``box_to_center_scale``).
    scale: (N, 2) box scales in units of 200 px.
    udp: UDP decoding (ViTPose); False: the classic +-0.25 px shift.
    dark_kernel: blur size of the DARK refinement (UDP only; None: plain argmax).

  Returns:
    keypoints (N, K, 2) float32 image pixels (x, y), scores (N, K) float32 (the maps'
    maxima).
  """
  if heatmaps.ndim != 4:
    raise ValueError(f"heatmaps must be (N, h, w, K), got shape {heatmaps.shape}")
  n, h, w, _ = heatmaps.shape
  if h < 2 or w < 2:
    raise ValueError(f"heatmaps must be at least 2 x 2, got {h} x {w}")
  for name, a in (("center", center), ("scale", scale)):
    if tuple(np.shape(a)) != (n, 2):
      raise ValueError(f"{name} must be ({n}, 2) for {n} heatmaps, got {np.shape(a)}")
  if udp and dark_kernel:
    blur_matrix(min(h, w), dark_kernel)  # the size check, before tracing
  return _decode(heatmaps, center, scale, udp=udp, dark_kernel=dark_kernel)


@functools.partial(jax.jit, static_argnames=("udp", "dark_kernel"))
def _decode(heatmaps, center, scale, *, udp, dark_kernel):
  h, w = heatmaps.shape[1:3]
  maps = jnp.moveaxis(heatmaps.astype(jnp.float32), -1, 1)   # (N, K, h, w)
  coords, maxvals = argmax_heatmaps(maps)
  if udp:
    if dark_kernel:
      coords = dark_udp(coords, maps, dark_kernel)
    size = jnp.asarray([w - 1.0, h - 1.0], jnp.float32)
  else:
    coords = _quarter_shift(coords, maps)
    size = jnp.asarray([w, h], jnp.float32)
  box = jnp.asarray(scale, jnp.float32) * 200.0
  unit = box / size
  keypoints = (coords * unit[:, None] + jnp.asarray(center, jnp.float32)[:, None]
               - box[:, None] * 0.5)
  return keypoints, maxvals


def _quarter_shift(coords: jax.Array, maps: jax.Array) -> jax.Array:
  h, w = maps.shape[-2:]
  px, py = coords[..., 0].astype(jnp.int32), coords[..., 1].astype(jnp.int32)
  inside = (px > 1) & (px < w - 1) & (py > 1) & (py < h - 1)
  cx, cy = jnp.clip(px, 1, w - 2), jnp.clip(py, 1, h - 2)

  def at(y, x):
    return jnp.take_along_axis(maps.reshape(*maps.shape[:2], -1),
                               (y * w + x)[..., None], axis=-1)[..., 0]

  diff = jnp.stack([at(cy, cx + 1) - at(cy, cx - 1), at(cy + 1, cx) - at(cy - 1, cx)],
                   axis=-1)
  return jnp.where(inside[..., None], coords + jnp.sign(diff) * 0.25, coords)
