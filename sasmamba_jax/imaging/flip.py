"""Left/right mirror of crops, keypoints and heatmaps (NumPy or JAX arrays).

A mirror is described by a joint permutation ``perm`` (K,): ``flipped[..., j] =
x[..., perm[j]]``; ``pairs_to_permutation`` builds it from left/right pairs
(``skeletons.COCO.flip_permutation`` is the COCO one). Pixel x mirrors to
``width - 1 - x``, which maps pixel centres onto pixel centres (mmpose's
``fliplr_joints``; with UDP the flipped heatmaps need no shift).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def pairs_to_permutation(pairs: Sequence[Sequence[int]], num_joints: int) -> np.ndarray:
  """(K,) permutation from (left, right) pairs, e.g. ``[[1, 2], [3, 4], ...]``."""
  perm = np.arange(num_joints)
  for left, right in np.asarray(pairs, np.int64).reshape(-1, 2):
    if not (0 <= left < num_joints and 0 <= right < num_joints):
      raise ValueError(f"flip pair ({left}, {right}) outside [0, {num_joints})")
    perm[left], perm[right] = right, left
  return perm


def _check_perm(perm, k):
  perm = np.asarray(perm)
  if perm.shape != (k,) or sorted(perm.tolist()) != list(range(k)):
    raise ValueError(f"flip permutation must be a permutation of {k} joints, got {perm}")
  return perm


def flip_heatmaps(heatmaps, permutation):
  """Mirrors heatmaps (..., h, w, K): joints swapped, then the width reversed.

  This is mmpose's ``flip_back`` (no shift, as ``shift_heatmap=False`` with UDP).
  """
  perm = _check_perm(permutation, heatmaps.shape[-1])
  return heatmaps[..., ::-1, :][..., perm]


def flip_keypoints(keypoints, width: float, permutation):
  """Mirrors keypoints (..., K, 2) or (..., K, C>2) in an image ``width`` pixels wide.

  x becomes ``width - 1 - x`` and left/right joints swap; other channels (scores,
  visibility) move with their joint.
  """
  perm = _check_perm(permutation, keypoints.shape[-2])
  out = keypoints[..., perm, :]
  x = (width - 1) - out[..., 0:1]
  if hasattr(out, "at"):  # a JAX array
    return out.at[..., 0:1].set(x)
  out = np.array(out, copy=True)
  out[..., 0:1] = x
  return out


def flip_images(images):
  """Mirrors images (..., H, W, C) left-right."""
  return images[..., ::-1, :]
