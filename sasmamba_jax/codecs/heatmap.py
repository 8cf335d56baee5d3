"""Gaussian heatmaps of top-down 2D pose: one codec to encode, decode and flip.

``HeatmapCodec`` reproduces ViTPose's heatmap path (mmpose 0.x, the ViTPose COCO
configs: ``TopDownGenerateTarget(sigma=2, encoding='UDP')``, ``flip_test=True``,
``shift_heatmap=False``, ``keypoints_from_heatmaps(post_process='default',
use_udp=True, kernel=11)``), channels-last, the encoder in NumPy (data-loader
workers) and the decoder in jittable JAX:

encode (``udp=True``)
  * the heatmap stride is ``(input_size - 1) / (heatmap_size - 1)`` per axis and the
    Gaussian is centred at the unquantised ``mu = keypoint / stride``;
  * it is drawn only inside a window of radius ``3 sigma`` around ``mu_int =
    int(mu + 0.5)`` (``int`` truncates towards zero) and is 0 elsewhere;
  * a joint whose window lies wholly outside the map gets target weight 0 and an
    empty map; otherwise the weight is the visibility (``min(1, v)`` of COCO's
    0 / 1 / 2) and the map is drawn when that weight exceeds 0.5.

  ``udp=False`` is the classic (MSRA) encoding: stride ``input_size /
  heatmap_size`` and the Gaussian centred at ``mu_int``.

decode
  * argmax over the flattened map (first maximum); the score is the raw maximum; a
    map whose maximum is <= 0 starts from (-1, -1);
  * DARK (``post_dark_udp``, with ``udp=True`` and ``dark_kernel > 0``): Gaussian
    blur (kernel k, OpenCV's sigma ``0.3 ((k - 1) / 2 - 1) + 0.8``, reflect-101
    border), clip to [0.001, 50], log, pad one pixel by edge replication, one Newton
    step at the integer argmax with central differences and ``inv(H + eps_f32 I)``,
    no clamp. A border argmax thus moves 0.5 px outward;
  * the Newton step reads the padded maps as one flat array, so for a map with no
    positive value (start (-1, -1)) the neighbours come from the previous map of the
    batch (the previous joint, or the previous person's last joint; the very first
    map wraps around to the last). Ill-conditioned, but deterministic: kept, so that
    results match the official code batch for batch; such a joint scores <= 0;
  * back to image pixels: ``x * 200 s / (w - 1) + c - 100 s`` (``transform_preds(
    use_udp=True)``); ``udp=False``: the +-0.25 px shift towards the higher
    neighbour (only for 1 < x < w - 1, 1 < y < h - 1) and ``x * 200 s / w + c - 100 s``.

flip
  the flip test averages the heatmaps of the inputs and of the mirrored inputs,
  mirrored back (``flip_back``: joints swapped, width reversed); ``udp=False`` also
  shifts the mirrored-back maps one pixel right (mmpose's ``shift_heatmap``).

A run config's ``task.codec`` section (``default_config``) holds sigma, the DARK
kernel and UDP; the crop and heatmap sizes come from the task and its model.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from sasmamba_jax import imaging


@dataclasses.dataclass(frozen=True)
class HeatmapCodec:
  """Keypoints <-> (h, w, K) Gaussian heatmaps of (H, W) crops.

  Attributes:
    input_size: the crop (width, height), e.g. (192, 256).
    heatmap_size: the heatmaps' (width, height); None: a quarter of the crop (the
      ViTPose head's stride).
    sigma: the Gaussian's standard deviation in heatmap pixels.
    dark_kernel: DARK's blur kernel (odd; 0 = plain argmax); UDP only.
    udp: unbiased data processing (ViTPose); False: the classic encoding.
  """

  input_size: tuple[int, int] = (192, 256)
  heatmap_size: tuple[int, int] | None = None
  sigma: float = 2.0
  dark_kernel: int = 11
  udp: bool = True

  def __post_init__(self):
    size = tuple(int(s) for s in self.input_size)
    heatmap = (tuple(int(s) for s in self.heatmap_size) if self.heatmap_size
               else (size[0] // 4, size[1] // 4))
    object.__setattr__(self, "input_size", size)
    object.__setattr__(self, "heatmap_size", heatmap)
    object.__setattr__(self, "dark_kernel", int(self.dark_kernel or 0))
    problems = []
    if len(size) != 2 or min(size) < 2 or len(heatmap) != 2 or min(heatmap) < 2:
      problems.append(f"input_size {size} and heatmap_size {heatmap} must be (width, "
                      "height) pairs of at least 2 pixels")
    if not self.sigma > 0:
      problems.append(f"sigma must be > 0, got {self.sigma}")
    if self.dark_kernel < 0 or (self.dark_kernel and self.dark_kernel % 2 == 0):
      problems.append(f"dark_kernel must be 0 (off) or odd, got {self.dark_kernel}")
    if problems:
      raise ValueError("HeatmapCodec: " + "; ".join(problems))

  @classmethod
  def from_config(cls, cfg: ml_collections.ConfigDict, input_size: Sequence[int],
                  heatmap_size: Sequence[int] | None = None) -> HeatmapCodec:
    """The codec of a ``task.codec`` section for (W, H) crops and (w, h) heatmaps."""
    return cls(tuple(input_size), None if heatmap_size is None else tuple(heatmap_size),
               sigma=float(cfg.sigma), dark_kernel=int(cfg.dark_kernel),
               udp=bool(cfg.udp))

  # ------------------------------------------------------------------ encode
  def encode(self, keypoints: np.ndarray, visible: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:
    """Heatmap targets and per-joint weights of keypoints in crop pixels.

    Args:
      keypoints: (..., K, 2) x, y in crop (model input) pixels, after the warp.
      visible: (..., K) visibility (> 0 means labelled; ``min(1, v)`` of COCO).

    Returns:
      target (..., h, w, K) float32 in [0, 1], target_weight (..., K) float32.
    """
    keypoints = np.asarray(keypoints, np.float64)
    visible = np.asarray(visible, np.float32)
    if keypoints.shape[-1:] != (2,) or visible.shape != keypoints.shape[:-1]:
      raise ValueError(f"keypoints must be (..., K, 2) and visible (..., K), got "
                       f"{keypoints.shape} and {visible.shape}")
    sigma = self.sigma
    image_size = np.asarray(self.input_size, np.float64)
    w, h = self.heatmap_size
    heatmap = np.asarray([w, h], np.float64)
    stride = (image_size - 1.0) / (heatmap - 1.0) if self.udp else image_size / heatmap
    mu = keypoints / stride                                   # (..., K, 2)
    mu_int = np.trunc(mu + 0.5)
    radius = sigma * 3
    size = 2 * radius + 1
    ul = np.trunc(mu_int - radius)
    br = np.trunc(mu_int + radius + 1)
    inside = ((ul[..., 0] < w) & (ul[..., 1] < h) & (br[..., 0] >= 0)
              & (br[..., 1] >= 0))
    weight = np.where(inside, visible, 0.0).astype(np.float32)
    # The official array g has ceil(size) entries, index i at pixel ul + i, and is
    # centred at size // 2 (+ mu - mu_int with UDP).
    if self.udp:   # (summed in this order: the float64 targets stay bit-identical)
      offset = ul + size // 2 + mu - mu_int                   # Gaussian centre, pixels
    else:
      offset = ul + size // 2
    n = np.ceil(size)

    def axis(length, a):
      p = np.arange(length, dtype=np.float64)
      lo, hi = ul[..., a, None], br[..., a, None]
      ok = (p >= lo) & (p < hi) & (p - lo < n)
      return np.where(ok, np.exp(-(p - offset[..., a, None]) ** 2 / (2 * sigma**2)), 0)

    gx, gy = axis(w, 0), axis(h, 1)                         # (..., K, w), (..., K, h)
    target = gy[..., :, None] * gx[..., None, :]            # (..., K, h, w)
    target = np.where((weight > 0.5)[..., None, None], target, 0.0)
    return np.moveaxis(target, -3, -1).astype(np.float32), weight

  # ------------------------------------------------------------------ decode
  def decode(self, heatmaps: jax.Array, center: jax.Array, scale: jax.Array
             ) -> tuple[jax.Array, jax.Array]:
    """Heatmaps of crops -> keypoints in image pixels; jittable.

    Args:
      heatmaps: (N, h, w, K) model outputs (channels-last).
      center: (N, 2) crop centres in image pixels (``imaging.box_to_center_scale``).
      scale: (N, 2) crop scales in units of 200 px.

    Returns:
      keypoints (N, K, 2) float32 image pixels (x, y), scores (N, K) float32 (the
      maps' maxima).
    """
    return decode_heatmaps(heatmaps, center, scale, udp=self.udp,
                           dark_kernel=self.dark_kernel)

  # ------------------------------------------------------------------ flip
  def flip_back(self, heatmaps: jax.Array, permutation: Sequence[int]) -> jax.Array:
    """Heatmaps (..., h, w, K) of mirrored inputs, mirrored back (mmpose's
    ``flip_back``; shifted one pixel right without UDP, ``shift_heatmap``)."""
    back = imaging.flip_heatmaps(heatmaps, np.asarray(permutation))
    if self.udp:
      return back
    xp = np if isinstance(back, np.ndarray) else jnp
    return xp.concatenate([back[..., :, :1, :], back[..., :, :-1, :]], axis=-2)

  def flip_test(self, apply_fn: Callable[[Any], jax.Array], inputs: Any,
                permutation: Sequence[int]) -> jax.Array:
    """The flip test: mean of ``apply_fn(inputs)`` and of the mirrored inputs'
    heatmaps mirrored back. Jittable.

    Args:
      apply_fn: inputs -> heatmaps (B, h, w, K).
      inputs: (B, ..., H, W, C) images (crops, or clips of crops).
      permutation: (K,) the heatmaps' left/right permutation
        (``skeletons.Skeleton.flip_permutation``).

    Returns:
      (B, h, w, K) float32 heatmaps.
    """
    heatmaps = apply_fn(inputs).astype(jnp.float32)
    if heatmaps.shape[-1] != len(permutation):
      raise ValueError(f"the model gives {heatmaps.shape[-1]} heatmaps but the flip "
                       f"permutation has {len(permutation)} joints: flip with the "
                       "model's own skeleton, or turn the flip test off")
    flipped = apply_fn(imaging.flip_images(inputs)).astype(jnp.float32)
    return 0.5 * (heatmaps + self.flip_back(flipped, permutation))


def default_config() -> ml_collections.ConfigDict:
  """The ``task.codec`` section: ViTPose's targets and decoding."""
  c = ml_collections.ConfigDict()
  c.sigma = 2.0          # Gaussian targets' standard deviation (heatmap pixels)
  c.dark_kernel = 11     # DARK refinement blur (odd; 0 = plain argmax)
  c.udp = True           # unbiased data processing (False: the classic encoding)
  return c


def validate(cfg: ml_collections.ConfigDict, prefix: str = "task.codec") -> list[str]:
  """Problems with a codec section, as "key = value: problem" strings."""
  errors = []
  if not cfg.sigma > 0:
    errors.append(f"{prefix}.sigma = {cfg.sigma!r}: must be > 0")
  if cfg.dark_kernel < 0 or (cfg.dark_kernel and cfg.dark_kernel % 2 == 0):
    errors.append(f"{prefix}.dark_kernel = {cfg.dark_kernel!r}: must be 0 (off) or "
                  "an odd kernel size")
  if cfg.dark_kernel and not cfg.udp:
    errors.append(f"{prefix}.dark_kernel = {cfg.dark_kernel!r}: DARK refines UDP "
                  f"heatmaps; set it to 0 with {prefix}.udp = False")
  return errors


# ---------------------------------------------------------------------------------
# The decoder's steps (functions of arrays; ``HeatmapCodec.decode`` calls them).


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
                    udp: bool = True, dark_kernel: int = 11
                    ) -> tuple[jax.Array, jax.Array]:
  """ViTPose's decoding of top-down heatmaps (``HeatmapCodec.decode``); jittable.

  Args:
    heatmaps: (N, h, w, K) model outputs (channels-last).
    center: (N, 2) box centres in image pixels (``imaging.box_to_center_scale``).
    scale: (N, 2) box scales in units of 200 px.
    udp: UDP decoding (ViTPose); False: the classic +-0.25 px shift.
    dark_kernel: blur size of the DARK refinement (UDP only; 0: plain argmax).

  Returns:
    keypoints (N, K, 2) float32 image pixels (x, y), scores (N, K) float32.
  """
  if heatmaps.ndim != 4:
    raise ValueError(f"heatmaps must be (N, h, w, K), got shape {heatmaps.shape}")
  n, h, w, _ = heatmaps.shape
  if h < 2 or w < 2:
    raise ValueError(f"heatmaps must be at least 2 x 2, got {h} x {w}")
  for name, a in (("center", center), ("scale", scale)):
    if tuple(np.shape(a)) != (n, 2):
      raise ValueError(f"{name} must be ({n}, 2) for {n} heatmaps, got {np.shape(a)}")
  dark_kernel = int(dark_kernel or 0)
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
  box = jnp.asarray(scale, jnp.float32) * imaging.PIXEL_STD
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
