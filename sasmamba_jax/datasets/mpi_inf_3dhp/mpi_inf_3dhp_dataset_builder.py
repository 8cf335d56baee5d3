"""MPI-INF-3DHP clips from P-STMO's ``data_train_3dhp.npz`` / ``data_test_3dhp.npz``.

Joints stay in the MPI-INF-3DHP-17 order of those files (``skeletons.MPI_INF_3DHP``,
root = pelvis 14); 2D input is the ground-truth 2D with confidence 1, normalised by
the image size (2048 x 2048; TS5 and TS6: 1920 x 1080). The 3D label is the
root-relative pose in metres (``label_3d = (pose - pose[root]) / 1000``), which the
shared encoding expresses as ``factor_2_5d = 2000 / width`` with ``gt_3d_mm`` the
root-relative millimetres shifted by (1000, 1000 * h / w, 0).

Train: every (sequence, camera) cut into windows of T frames with ``train_stride``;
a final window is aligned to the end so no frame is lost; sequences shorter than
T are edge-padded; ``valid`` is all True. Test: every sequence cut the same way
with ``test_stride`` (default T); ``valid`` (T,) marks the frames to score:
annotated frames (the file's valid flag), each exactly once over the split
(overlapped or padded repeats are False), so scoring every clip's valid frames
scores every valid frame once. This is sequence-to-sequence evaluation; it is
not P-STMO's protocol of one window centred on every valid frame.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterator

import numpy as np
import tensorflow_datasets as tfds

from sasmamba_jax import skeletons
from sasmamba_jax.datasets import common
from sasmamba_jax.datasets import safe_io

TRAIN_FILE = "data_train_3dhp.npz"
TEST_FILE = "data_test_3dhp.npz"
ORIGIN = (
    "It is P-STMO's preprocessed MPI-INF-3DHP file (made by data_to_npz_3dhp.py / "
    "data_to_npz_3dhp_test.py), linked from "
    "https://github.com/paTRICK-swk/P-STMO#mpi-inf-3dhp (the MotionAGFormer README "
    "links the same files); MPI-INF-3DHP's licence "
    "(https://vcai.mpi-inf.mpg.de/3dhp-dataset/) applies.")
ROOT = skeletons.MPI_INF_3DHP.root
TRAIN_RESOLUTION = (2048, 2048)
TEST_RESOLUTIONS = {"TS5": (1920, 1080), "TS6": (1920, 1080)}


@dataclasses.dataclass(eq=False)
class MpiConfig(common.ClipConfig):
  """An MPI-INF-3DHP configuration (see ``common.ClipConfig``)."""


class Builder(common.ClipBuilder):
  """MPI-INF-3DHP 2D-to-3D lifting clips (see the module docstring)."""

  BUILDER_CONFIGS = [MpiConfig(name=f"clips_{t}", num_frames=t,
                               description=f"{t}-frame clips.")
                     for t in (27, 81, 243)]
  SKELETON = skeletons.MPI_INF_3DHP
  WITH_VALID = True
  DESCRIPTION = __doc__
  HOMEPAGE = "https://vcai.mpi-inf.mpg.de/3dhp-dataset/"
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
      f"Put {TRAIN_FILE} and {TEST_FILE} in the manual folder. {ORIGIN}")

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    config = self.builder_config
    dataset = f"{self.name}/{config.name}"
    paths = {split: safe_io.manual_file(dl_manager, name, dataset=dataset,
                                        origin=ORIGIN)
             for split, name in (("train", TRAIN_FILE), ("test", TEST_FILE))}
    out = {}
    for split, path in paths.items():
      frames, sequences, valid = (read_train(path) if split == "train"
                                  else read_test(path))
      clips = sequence_windows(sequences, config.num_frames, config.strides[split])
      # Training uses every frame; evaluation scores each valid frame once.
      masks = (score_once(clips, valid) if split == "test"
               else [np.ones(config.num_frames, bool)] * len(clips))
      out[split] = self._generate_examples(clips, frames, masks)
    return out

  def _generate_examples(self, clips, frames, valid
                         ) -> Iterator[tuple[int, dict[str, Any]]]:
    yield from common.clip_examples(clips, frames, {"valid": valid})


def sequence_windows(sequences: list[tuple[int, int]], num_frames: int,
                     stride: int) -> list[np.ndarray]:
  """Windows of ``num_frames`` covering every frame of each [begin, end) sequence.

  Window starts advance by ``stride``; when the last window stops short of the end
  one more is aligned to the end; a sequence shorter than ``num_frames`` gives one
  window, centred and edge-padded (first and last frames repeated).

  Returns:
    (num_frames,) int64 frame-index arrays.
  """
  clips = []
  for begin, end in sequences:
    length = end - begin
    if length < num_frames:
      offsets = np.arange(num_frames) - (num_frames - length) // 2
      clips.append(begin + np.clip(offsets, 0, length - 1).astype(np.int64))
      continue
    starts = list(range(0, length - num_frames + 1, stride))
    if starts[-1] + num_frames < length:
      starts.append(length - num_frames)
    clips.extend(np.arange(begin + s, begin + s + num_frames, dtype=np.int64)
                 for s in starts)
  return clips


def score_once(clips: list[np.ndarray], valid: np.ndarray) -> list[np.ndarray]:
  """Per clip (T,) bool: frame is valid and not scored by an earlier position."""
  scored = np.zeros(len(valid), bool)
  out = []
  for index in clips:
    mask = np.zeros(len(index), bool)
    for t, frame in enumerate(index):
      if valid[frame] and not scored[frame]:
        mask[t] = scored[frame] = True
    out.append(mask)
  return out


def _frames(parts: dict[str, list[Any]], data_2d: np.ndarray, data_3d: np.ndarray,
            resolution: tuple[int, int], source: str, action: str) -> None:
  """Appends one sequence's per-frame arrays to ``parts``."""
  n = len(data_2d)
  res = np.broadcast_to(np.asarray(resolution, np.float64), (n, 2))
  width, height = resolution
  factor = 2000.0 / width  # mm per pixel unit: label_3d is then in metres.
  pose = np.asarray(data_3d, np.float64)
  relative = pose - pose[:, ROOT:ROOT + 1]
  image = relative / factor + np.array([width / 2, height / 2, 0.0])
  parts["input_2d"].append(np.concatenate(
      [common.normalize_pixels(data_2d, res), np.ones((n, 17, 1), np.float32)], -1))
  parts["label_3d"].append(common.normalize_pixels(image, res))
  parts["factor_2_5d"].append(np.full((n,), factor, np.float32))
  parts["gt_3d_mm"].append((image * factor).astype(np.float32))
  parts["resolution"].append(res)
  parts["source"].append(np.full((n,), source))
  parts["action"].append(np.full((n,), action))


def _finish(parts: dict[str, list[Any]], path) -> tuple[dict[str, np.ndarray],
                                                         list[tuple[int, int]]]:
  if not parts["source"]:
    raise safe_io.DataFileError(f"{path}: 'data' holds no sequences")
  lengths = np.array([len(s) for s in parts["source"]])
  ends = np.cumsum(lengths)
  sequences = list(zip((ends - lengths).tolist(), ends.tolist()))
  return {k: np.concatenate(v) for k, v in parts.items()}, sequences


def _new_parts() -> dict[str, list[Any]]:
  return {k: [] for k in ("input_2d", "label_3d", "factor_2_5d", "gt_3d_mm",
                          "resolution", "source", "action")}


def _pose_pair(entry: Any, what: str) -> tuple[np.ndarray, np.ndarray]:
  data_2d = safe_io.require_array(safe_io.require_key(entry, "data_2d", what),
                                  f"{what}['data_2d']", (None, 17, 2))
  data_3d = safe_io.require_array(safe_io.require_key(entry, "data_3d", what),
                                  f"{what}['data_3d']", (len(data_2d), 17, 3))
  return data_2d, data_3d


def read_train(path) -> tuple[dict[str, np.ndarray], list[tuple[int, int]],
                              np.ndarray]:
  """Reads ``data_train_3dhp.npz``: {"S1 Seq1": [{camera: {data_2d, data_3d}}, fps]}.

  Returns:
    (per-frame arrays as in ``h36m.read_motionbert``, [(begin, end)] per
    (sequence, camera), (N,) all-True valid flags). Sources are "S1 Seq1 cam0",
    actions the sequence name "S1 Seq1".
  """
  data = safe_io.require_key(safe_io.load_npz(path), "data", str(path))
  if not isinstance(data, dict):
    raise safe_io.DataFileError(f"{path}['data']: expected a dict of sequences, got "
                                f"{type(data).__name__}")
  parts = _new_parts()
  for sequence in sorted(data):
    what = f"{path}['data']['{sequence}']"
    entry = data[sequence]
    if not (isinstance(entry, (list, tuple)) and entry
            and isinstance(entry[0], dict)):
      raise safe_io.DataFileError(f"{what}: expected [{{camera: {{'data_2d', "
                                  f"'data_3d'}}}}, fps], got {type(entry).__name__}")
    for camera in sorted(entry[0], key=lambda c: (len(str(c)), str(c))):
      data_2d, data_3d = _pose_pair(entry[0][camera], f"{what}[0]['{camera}']")
      _frames(parts, data_2d, data_3d, TRAIN_RESOLUTION, f"{sequence} cam{camera}",
              str(sequence))
  frames, sequences = _finish(parts, path)
  return frames, sequences, np.ones(len(frames["source"]), bool)


def read_test(path) -> tuple[dict[str, np.ndarray], list[tuple[int, int]],
                             np.ndarray]:
  """Reads ``data_test_3dhp.npz``: {"TS1": {data_2d, data_3d, valid}, ...}.

  Returns:
    As ``read_train``, with the file's valid flags; source and action are "TS1".
  """
  data = safe_io.require_key(safe_io.load_npz(path), "data", str(path))
  if not isinstance(data, dict):
    raise safe_io.DataFileError(f"{path}['data']: expected a dict of sequences, got "
                                f"{type(data).__name__}")
  parts = _new_parts()
  valid = []
  for sequence in sorted(data):
    what = f"{path}['data']['{sequence}']"
    data_2d, data_3d = _pose_pair(data[sequence], what)
    flags = safe_io.require_array(safe_io.require_key(data[sequence], "valid", what),
                                  f"{what}['valid']", (len(data_2d),), "fiub")
    valid.append(flags.astype(bool))
    _frames(parts, data_2d, data_3d, TEST_RESOLUTIONS.get(sequence, TRAIN_RESOLUTION),
            str(sequence), str(sequence))
  frames, sequences = _finish(parts, path)
  return frames, sequences, np.concatenate(valid)
