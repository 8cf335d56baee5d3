"""Running a fixed-length model over sequences of any length.

Two schemes:

* ``sliding_window_predict``: overlapping windows of the model's length covering
  the sequence, predictions averaged where windows overlap (inference on videos of
  any length, evaluation of whole sequences);
* ``centre_frame_predict``: one window per requested frame with that frame at its
  centre, edge padding at both ends, keeping the centre prediction only. This is
  the official MPI-INF-3DHP test scheme (every valid frame is the centre of a
  window), also used by VideoPose3D-style seq2frame evaluation.

Windows are fed to the model in batches of a fixed size (the last batch padded by
repeating a window) so that a jitted model compiles at most twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

Array = Any


def _check_sequence(sequence: Array, num_frames: int, fn: str) -> np.ndarray:
  sequence = np.asarray(sequence)
  if sequence.ndim != 3:
    raise ValueError(f"{fn}: expected a sequence of shape (F, J, C), got "
                     f"{sequence.shape}")
  if sequence.shape[0] < 1:
    raise ValueError(f"{fn}: the sequence has no frames")
  if sequence.dtype.kind == "f" and not np.all(np.isfinite(sequence)):
    bad = np.flatnonzero(~np.isfinite(sequence).reshape(len(sequence), -1).all(axis=1))
    shown = ", ".join(map(str, bad[:5])) + (" ..." if bad.size > 5 else "")
    raise ValueError(f"{fn}: {bad.size} frame(s) hold NaN or infinite coordinates "
                     f"(frames {shown}); a model would turn every window that covers "
                     "them into NaN: fill missing joints first (e.g. interpolate "
                     "over time) or cut the sequence")
  if isinstance(num_frames, bool) or not isinstance(num_frames, (int, np.integer)) or \
      num_frames < 1:
    raise ValueError(f"{fn}: num_frames must be a positive int, got {num_frames!r}")
  return sequence


def _run_windows(model_fn: Callable[[Array], Array], sequence: np.ndarray,
                 indices: np.ndarray, batch_size: int, fn: str) -> np.ndarray:
  """Model outputs (W, T, J', C') for windows ``sequence[indices[w]]``.

  Args:
    model_fn: (B, T, J, C) -> (B, T, J', C').
    sequence: (F, J, C).
    indices: (W, T) frame indices of each window.
    batch_size: windows per model call.
    fn: caller name for errors.
  """
  if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or \
      batch_size < 1:
    raise ValueError(f"{fn}: batch_size must be a positive int, got {batch_size!r}")
  num_windows, num_frames = indices.shape
  batch = min(int(batch_size), num_windows)
  outputs = []
  for start in range(0, num_windows, batch):
    idx = indices[start:start + batch]
    n = idx.shape[0]
    if n < batch:  # constant batch shape: repeat the last window
      idx = np.concatenate([idx, np.repeat(idx[-1:], batch - n, axis=0)])
    out = np.asarray(model_fn(sequence[idx]))
    if out.ndim != 4 or out.shape[:2] != (batch, num_frames):
      given = (batch, num_frames) + sequence.shape[1:]
      raise ValueError(f"{fn}: the model must map (B, T, J, C) = {given} to "
                       f"(B, T, J', C'), it returned shape {out.shape}")
    outputs.append(out[:n])
  return np.concatenate(outputs)


def window_starts(length: int, num_frames: int, stride: int) -> np.ndarray:
  """First frames of the windows that ``sliding_window_predict`` uses.

  Windows start every ``stride`` frames; a last window ending at the sequence's
  last frame is added when the stride does not land there. A sequence shorter than
  ``num_frames`` gets one window at 0 (edge-padded).

  Returns:
    (W,) int array of start frames.
  """
  if length <= num_frames:
    return np.zeros(1, dtype=np.int64)
  starts = list(range(0, length - num_frames + 1, stride))
  if starts[-1] != length - num_frames:
    starts.append(length - num_frames)
  return np.asarray(starts, dtype=np.int64)


def sliding_window_predict(model_fn: Callable[[Array], Array], sequence: Array,
                           num_frames: int, *, stride: int | None = None,
                           batch_size: int = 64) -> np.ndarray:
  """Runs a model of fixed length ``num_frames`` over a sequence of any length.

  Windows of ``num_frames`` frames start every ``stride`` frames, the last one is
  moved back to end at the last frame, and every frame's prediction is the mean of
  the windows covering it. A sequence shorter than the model is padded at the end
  by repeating its last frame, and the padded frames' outputs are dropped.

  Args:
    model_fn: maps (B, num_frames, J, C) to (B, num_frames, J', C'), e.g. a jitted
      model (wrap it with ``flip.flip_test`` for flip averaging).
    sequence: (F, J, C) inputs, any F >= 1.
    num_frames: the model's window length T.
    stride: frames between window starts, 1 <= stride <= T; default T // 2
      (every frame covered by about two windows).
    batch_size: windows per model call.

  Returns:
    (F, J', C') NumPy array in the model's output dtype.
  """
  fn = "sliding_window_predict"
  sequence = _check_sequence(sequence, num_frames, fn)
  if stride is None:
    stride = max(1, num_frames // 2)
  if isinstance(stride, bool) or not isinstance(stride, (int, np.integer)) or \
      not 1 <= stride <= num_frames:
    raise ValueError(f"{fn}: stride must be an int in [1, num_frames={num_frames}] so "
                     f"that windows cover every frame, got {stride!r}")
  length = sequence.shape[0]
  starts = window_starts(length, num_frames, stride)
  # Short sequences: clipping repeats the last frame (edge padding at the end).
  indices = np.minimum(starts[:, None] + np.arange(num_frames), length - 1)
  out = _run_windows(model_fn, sequence, indices, batch_size, fn)
  total = np.zeros((length,) + out.shape[2:], dtype=np.float64)
  count = np.zeros(length)
  for w in range(out.shape[0]):
    valid = starts[w] + np.arange(num_frames) < length
    frames = indices[w][valid]
    total[frames] += out[w][valid]
    count[frames] += 1
  return (total / count[:, None, None]).astype(out.dtype)


def centre_frame_windows(sequence: Array, num_frames: int,
                         frame_indices: Sequence[int] | np.ndarray | None = None
                         ) -> np.ndarray:
  """Windows centred on frames, edge-padded at both ends of the sequence.

  The centre of a window of T frames is position ``(T - 1) // 2`` (the middle one
  for odd T, as the official 243/81/27-frame models use).

  Args:
    sequence: (F, J, C) inputs.
    num_frames: window length T.
    frame_indices: (K,) frames to centre windows on; default all F frames.

  Returns:
    (K, T, J, C) windows.
  """
  fn = "centre_frame_windows"
  sequence = _check_sequence(sequence, num_frames, fn)
  centres = _centres(frame_indices, sequence.shape[0], fn)
  return sequence[_centre_indices(centres, num_frames, sequence.shape[0])]


def _centres(frame_indices, length: int, fn: str) -> np.ndarray:
  if frame_indices is None:
    return np.arange(length)
  centres = np.asarray(frame_indices)
  if centres.ndim != 1 or (centres.size and centres.dtype.kind not in "iu"):
    raise ValueError(f"{fn}: frame_indices must be a 1-D integer array, got "
                     f"{centres.shape} {centres.dtype}")
  if centres.size and (centres.min() < 0 or centres.max() >= length):
    raise ValueError(f"{fn}: frame_indices must lie in [0, {length}), got range "
                     f"[{centres.min()}, {centres.max()}]")
  return centres.astype(np.int64)


def _centre_indices(centres: np.ndarray, num_frames: int, length: int) -> np.ndarray:
  offsets = np.arange(num_frames) - (num_frames - 1) // 2
  return np.clip(centres[:, None] + offsets, 0, length - 1)


def centre_frame_predict(model_fn: Callable[[Array], Array], sequence: Array,
                         num_frames: int,
                         frame_indices: Sequence[int] | np.ndarray | None = None,
                         *, batch_size: int = 64) -> np.ndarray:
  """One prediction per requested frame, from the window centred on it.

  The official MPI-INF-3DHP test: ``frame_indices = np.flatnonzero(valid)``.
  Windows are built batch by batch, so long sequences never materialise all
  (K, T, J, C) windows at once.

  Args:
    model_fn: maps (B, num_frames, J, C) to (B, num_frames, J', C').
    sequence: (F, J, C) inputs.
    num_frames: the model's window length T.
    frame_indices: (K,) frames to predict; default all F frames.
    batch_size: windows per model call.

  Returns:
    (K, J', C') predictions of the centre frames, in ``frame_indices`` order.
  """
  fn = "centre_frame_predict"
  sequence = _check_sequence(sequence, num_frames, fn)
  centres = _centres(frame_indices, sequence.shape[0], fn)
  if centres.size == 0:
    raise ValueError(f"{fn}: no frame to predict")
  indices = _centre_indices(centres, num_frames, sequence.shape[0])
  out = _run_windows(model_fn, sequence, indices, batch_size, fn)
  return out[:, (num_frames - 1) // 2]
