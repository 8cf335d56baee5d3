"""Helpers shared by the protocols: example validation, denormalisation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

Array = Any


def denormalize(poses: Array, camera_resolution: Array) -> np.ndarray:
  """Inverse of the MotionBERT screen normalisation, back to pixel-scale units.

  Normalisation was ``xy = p / w * 2 - [1, h / w]`` and ``depth = z / w * 2``.

  Args:
    poses: (..., J, 3) normalised poses.
    camera_resolution: (..., 2) ``(width, height)`` broadcastable against the leading
      axes of ``poses`` (e.g. (N, 2) for (N, T, J, 3) clips is accepted).

  Returns:
    (..., J, 3) float64 poses in pixel-scale units.
  """
  poses = np.asarray(poses, dtype=np.float64)
  res = np.asarray(camera_resolution, dtype=np.float64)
  if poses.ndim < 2 or poses.shape[-1] != 3:
    raise ValueError("denormalize: expected poses of shape (..., J, 3), got "
                     f"{poses.shape}")
  if res.ndim < 1 or res.shape[-1] != 2:
    raise ValueError("denormalize: camera_resolution must be (..., 2) (width, height), "
                     f"got shape {res.shape}")
  if np.any(res <= 0):
    raise ValueError(f"denormalize: camera resolutions must be positive, got {res}")
  lead = poses.ndim - 2
  if res.ndim - 1 > lead:
    raise ValueError(f"denormalize: camera_resolution {res.shape} has more leading axes "
                     f"than poses {poses.shape}")
  # (N, 2) against (N, T, J, 3): pad the resolution's axes on the right.
  res = res.reshape(res.shape[:-1] + (1,) * (lead - (res.ndim - 1)) + (1, 2))
  w = res[..., 0]
  h = res[..., 1]
  out = np.empty(np.broadcast_shapes(poses.shape, res.shape[:-1] + (3,)))
  out[..., 0] = (poses[..., 0] + 1.0) * w / 2
  out[..., 1] = (poses[..., 1] + h / w) * w / 2
  out[..., 2] = poses[..., 2] * w / 2
  return out


def as_text(value: Any, what: str) -> str:
  """A clip's string feature as str (TFDS gives bytes; arrays give 0-d or (1,))."""
  if isinstance(value, np.ndarray):
    if value.size != 1:
      raise ValueError(f"{what}: expected one string per clip, got an array of shape "
                       f"{value.shape}")
    value = value.reshape(()).item()
  if isinstance(value, (bytes, np.bytes_)):
    return bytes(value).decode("utf-8")
  if isinstance(value, (str, np.str_)):
    return str(value)
  raise ValueError(f"{what}: expected a string, got {type(value).__name__}")


def clip_list(examples: Mapping[str, Any] | Sequence[Mapping[str, Any]],
              required: Sequence[str], protocol: str,
              optional: Sequence[str] = ()) -> list[dict[str, Any]]:
  """Per-clip dicts from a dict of stacked features or a list of per-clip dicts.

  Only the ``required`` features and the ``optional`` ones present are kept (other
  features, e.g. model inputs, are not looked at).
  """
  keep = tuple(required) + tuple(optional)
  if isinstance(examples, Mapping):
    missing = [k for k in required if k not in examples]
    if missing:
      raise ValueError(f"{protocol}: examples lack the feature(s) {missing}; present: "
                       f"{sorted(examples)}")
    present = [k for k in keep if k in examples]
    lengths = {}
    for key in present:
      try:
        lengths[key] = len(examples[key])
      except TypeError:
        raise ValueError(f"{protocol}: stacked feature {key!r} must have one entry per "
                         f"clip, got {type(examples[key]).__name__}") from None
    num = lengths[required[0]]
    for key, n in lengths.items():
      if n != num:
        raise ValueError(f"{protocol}: stacked feature {key!r} has {n} entries but "
                         f"{required[0]!r} has {num}")
    return [{k: examples[k][i] for k in present} for i in range(num)]
  if isinstance(examples, (str, bytes)) or not isinstance(examples, Sequence):
    raise ValueError(f"{protocol}: examples must be a dict of stacked features or a "
                     f"list of per-clip dicts, got {type(examples).__name__}")
  clips = []
  for i, ex in enumerate(examples):
    if not isinstance(ex, Mapping):
      raise ValueError(f"{protocol}: example {i} is a {type(ex).__name__}, not a dict")
    missing = [k for k in required if k not in ex]
    if missing:
      raise ValueError(f"{protocol}: example {i} lacks the feature(s) {missing}; "
                       f"present: {sorted(ex)}")
    clips.append({k: ex[k] for k in keep if k in ex})
  return clips


def clip_predictions(predictions: Array | Sequence[Array], num_clips: int,
                     protocol: str) -> list[np.ndarray]:
  """(N, T, J, 3) array or list of (T_i, J, 3) arrays -> list of (T, J, 3) arrays.

  Arrays keep their dtype (views of a stacked array): the protocols convert one
  clip at a time to float64, so a whole test set is never copied at once.
  """
  if isinstance(predictions, (list, tuple)):
    preds = [np.asarray(p) for p in predictions]
  else:
    arr = np.asarray(predictions)
    if arr.ndim != 4:
      raise ValueError(f"{protocol}: predictions must be (N, T, J, 3) or a list of "
                       f"(T, J, 3) arrays, got shape {arr.shape}")
    preds = list(arr)
  if len(preds) != num_clips:
    raise ValueError(f"{protocol}: {len(preds)} predicted clips for {num_clips} "
                     "examples; predictions must be aligned with examples clip by clip")
  for i, p in enumerate(preds):
    if p.dtype.kind not in "fiu":
      raise ValueError(f"{protocol}: prediction {i} must be numeric, got {p.dtype}")
    if p.ndim != 3 or p.shape[-1] != 3:
      raise ValueError(f"{protocol}: prediction {i} must be (T, J, 3), got {p.shape}")
    if not np.all(np.isfinite(p)):
      raise ValueError(f"{protocol}: prediction {i} contains NaN or infinite values")
  return preds


def clip_array(clip: Mapping[str, Any], key: str, shape: tuple[int | None, ...],
               index: int, protocol: str, dtype=np.float64) -> np.ndarray:
  """``clip[key]`` as an array checked against ``shape`` (None matches any size)."""
  arr = np.asarray(clip[key], dtype=dtype)
  ok = arr.ndim == len(shape) and all(
      s is None or s == a for s, a in zip(shape, arr.shape))
  if not ok:
    want = "(" + ", ".join("?" if s is None else str(s) for s in shape) + ")"
    raise ValueError(f"{protocol}: example {index} feature {key!r} has shape "
                     f"{arr.shape}, expected {want}")
  return arr


def zero_root_to_mm(pred: np.ndarray, resolution: np.ndarray, factor: np.ndarray | float,
                    root: int) -> np.ndarray:
  """Official chain for one clip: zero the root, denormalise, scale, root-relative.

  Zeroing (not subtracting) the root is what the official code does: the model is
  trained on root-relative targets, so only the root's own output is discarded.

  Args:
    pred: (T, J, 3) normalised predictions.
    resolution: (2,) width, height.
    factor: (T,) per-frame factor to millimetres (``2.5d_factor``) or a scalar.
    root: root joint index.

  Returns:
    (T, J, 3) float64 root-relative predictions in mm.
  """
  pred = np.array(pred, dtype=np.float64)  # a copy: the caller's array is kept
  pred[:, root, :] = 0.0
  out = denormalize(pred, resolution) * np.reshape(factor, (-1, 1, 1))
  return out - out[:, root:root + 1, :]
