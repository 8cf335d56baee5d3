"""Pipeline transforms for pose clips: the left/right mirror (training augmentation).

A task hands these to ``pipeline.make_train_iterator(..., transforms=[...])``.
"""

from __future__ import annotations

from typing import Any, Mapping

import grain
import numpy as np

from sasmamba_jax import skeletons


def skeleton_of(data_source: Any) -> skeletons.Skeleton:
  """The joint layout recorded in a built dataset's metadata ("skeleton")."""
  info = getattr(data_source, "dataset_info", None)
  metadata = getattr(info, "metadata", None) or {}
  if "skeleton" not in metadata:
    raise ValueError("the data source records no skeleton in its metadata; pass "
                     "skeleton= explicitly (e.g. sasmamba_jax.skeletons.H36M)")
  return skeletons.get(metadata["skeleton"])


def flip_example(example: Mapping[str, Any],
                 skeleton: skeletons.Skeleton = skeletons.H36M) -> dict[str, Any]:
  """Mirrors an example (or a batch) left-right, 2D and 3D together.

  ``input_2d`` and ``label_3d`` are normalised with the image centre at x = 0, so
  their mirror negates x and swaps left/right joints (``skeletons.flip_poses``).
  ``gt_3d_mm`` is pixel-aligned: its x mirrors to ``res_w * factor_2_5d - x``,
  which keeps ``denormalize(label_3d) * factor_2_5d == gt_3d_mm``. Other features
  are unchanged. Flipping twice gives the example back.

  Args:
    example: features with shapes (..., T, J, 3), (..., T), (..., 2).
    skeleton: layout of the joints.

  Returns:
    A new dict; ``example`` is not modified.
  """
  out = dict(example)
  for name in ("input_2d", "label_3d"):
    if name in example:
      out[name] = skeletons.flip_poses(np.asarray(example[name]), skeleton)
  if "gt_3d_mm" in example:
    gt = skeletons.flip_poses(np.asarray(example["gt_3d_mm"]), skeleton)
    width = np.asarray(example["camera_resolution"])[..., 0:1]
    shift = (width * np.asarray(example["factor_2_5d"])).astype(gt.dtype)
    gt[..., 0] += shift[..., None]
    out["gt_3d_mm"] = gt
  return out


class RandomFlip(grain.transforms.RandomMap):
  """``flip_example`` with probability ``probability`` (seeded per position)."""

  def __init__(self, skeleton: skeletons.Skeleton, probability: float = 0.5):
    if not 0.0 <= probability <= 1.0:
      raise ValueError(f"RandomFlip: probability must be in [0, 1], got {probability}")
    self._skeleton = skeleton
    self._probability = probability

  def random_map(self, element: dict[str, Any],
                 rng: np.random.Generator) -> dict[str, Any]:
    if rng.random() < self._probability:
      return flip_example(element, self._skeleton)
    return element
