"""ImageNet normalisation of RGB images (the ViTPose / mmpose input convention)."""

from __future__ import annotations

import numpy as np

#: RGB mean and standard deviation of ImageNet, for images scaled to [0, 1].
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def normalize_images(images):
  """RGB images (..., 3) in [0, 255] (uint8 or float) -> float32 ``(x/255 - mean)/std``.

  Works on NumPy and JAX arrays (NumPy in, NumPy out).
  """
  if images.shape[-1:] != (3,):
    raise ValueError(f"images must be RGB, channels-last (..., 3), got {images.shape}")
  mean = np.asarray(IMAGENET_MEAN, np.float32)
  std = np.asarray(IMAGENET_STD, np.float32)
  return (images.astype(np.float32) / np.float32(255.0) - mean) / std


def denormalize_images(images):
  """Inverse of ``normalize_images``: float32 in [0, 255] (not rounded or clipped)."""
  mean = np.asarray(IMAGENET_MEAN, np.float32)
  std = np.asarray(IMAGENET_STD, np.float32)
  return (images * std + mean) * np.float32(255.0)
