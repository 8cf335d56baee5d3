"""UDP Gaussian heatmap targets (mmpose ``TopDownGenerateTarget(encoding='UDP')``).

Facts of the official encoder (mmpose 0.x, ViTPose configs: sigma 2,
``target_type='GaussianHeatmap'``), reproduced here vectorised and channels-last:

* the heatmap stride is ``(image_size - 1) / (heatmap_size - 1)`` per axis and the
  Gaussian is centred at the unquantised ``mu = keypoint / stride``;
* it is drawn only inside a window of radius ``3 * sigma`` around
  ``mu_int = int(mu + 0.5)`` (``int`` truncates towards zero) and is 0 elsewhere;
* a joint whose window lies wholly outside the map gets target weight 0 and an empty
  map; otherwise the weight is the visibility (0 or 1 in COCO: ``min(1, v)``) and the
  map is drawn when that weight exceeds 0.5.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def udp_heatmap_targets(keypoints: np.ndarray, visible: np.ndarray,
                        image_size: Sequence[int], heatmap_size: Sequence[int],
                        sigma: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
  """Heatmap targets and per-joint weights for keypoints in crop pixels.

  Args:
    keypoints: (..., K, 2) x, y in crop (model input) pixels, after the UDP warp.
    visible: (..., K) visibility (> 0 means labelled; use ``min(1, v)`` of COCO).
    image_size: crop (width, height), e.g. (192, 256).
    heatmap_size: heatmap (width, height), e.g. (48, 64).
    sigma: Gaussian standard deviation in heatmap pixels.

  Returns:
    target (..., h, w, K) float32 in [0, 1], target_weight (..., K) float32.
  """
  keypoints = np.asarray(keypoints, np.float64)
  visible = np.asarray(visible, np.float32)
  if keypoints.shape[-1:] != (2,) or visible.shape != keypoints.shape[:-1]:
    raise ValueError(f"keypoints must be (..., K, 2) and visible (..., K), got "
                     f"{keypoints.shape} and {visible.shape}")
  if sigma <= 0:
    raise ValueError(f"sigma must be positive, got {sigma}")
  image_size = np.asarray(image_size, np.float64)
  w, h = (int(s) for s in heatmap_size)
  stride = (image_size - 1.0) / (np.asarray([w, h], np.float64) - 1.0)
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
  # centred at size // 2 + mu - mu_int.
  offset = ul + size // 2 + mu - mu_int                    # Gaussian centre, pixels
  n = np.ceil(size)

  def axis(length, a):
    p = np.arange(length, dtype=np.float64)
    lo, hi = ul[..., a, None], br[..., a, None]
    ok = (p >= lo) & (p < hi) & (p - lo < n)
    return np.where(ok, np.exp(-(p - offset[..., a, None]) ** 2 / (2 * sigma**2)), 0)

  gx, gy = axis(w, 0), axis(h, 1)                           # (..., K, w), (..., K, h)
  target = gy[..., :, None] * gx[..., None, :]              # (..., K, h, w)
  target = np.where((weight > 0.5)[..., None, None], target, 0.0)
  return np.moveaxis(target, -3, -1).astype(np.float32), weight
