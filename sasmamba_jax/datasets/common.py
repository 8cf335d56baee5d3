"""Pieces shared by the pose-clip builders: features, normalisation, clip slicing.

Every 3D builder yields one example per clip of ``T`` frames with these features
(``J`` joints in the builder's skeleton layout, see ``SKELETON`` in metadata):

* ``input_2d`` (T, J, 3) float32: x, y normalised by the camera resolution
  (``normalize_pixels``: x in [-1, 1], y scaled alike) and the detector confidence.
* ``label_3d`` (T, J, 3) float32: the 3D pose in image-aligned pixel units
  (H36M's ``joint3d_image``), normalised the same way; depth is z / res_w * 2.
* ``frame_index`` (T,) int64: index of each frame in its split; resampled clips
  repeat indices.
* ``source`` (str): the clip's sequence id (its first frame's source).
* ``action`` (str): the clip's action.
* ``camera_resolution`` (2,) float32: (width, height) in pixels.
* ``factor_2_5d`` (T,) float32: millimetres per pixel unit; NaN where the source
  data has none (the MotionBERT pickle's train split).
* ``gt_3d_mm`` (T, J, 3) float32: the 3D pose in millimetres (H36M's
  ``joints_2.5d_image``), defined up to a per-frame translation, so compare it
  root-relative. ``denormalize_pixels(label_3d) * factor_2_5d == gt_3d_mm``.
* ``valid`` (T,) bool, MPI-INF-3DHP only: frames to score.

Clip slicing follows the official MotionBERT reader: windows of ``T`` frames within
one source, train stride T/3, test stride T, tail frames dropped; a source shorter
than ``T`` is resampled to ``T`` frames, except a short source that ends its split.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import tensorflow_datasets as tfds

from sasmamba_jax import skeletons

FEATURE_NAMES = ("input_2d", "label_3d", "frame_index", "source", "action",
                 "camera_resolution", "factor_2_5d", "gt_3d_mm")


def clip_features(num_frames: int, num_joints: int = 17, *,
                  with_valid: bool = False) -> tfds.features.FeaturesDict:
  """The feature spec shared by all 3D builders (see the module docstring)."""
  poses = (num_frames, num_joints, 3)
  features = {
      "input_2d": tfds.features.Tensor(shape=poses, dtype=np.float32),
      "label_3d": tfds.features.Tensor(shape=poses, dtype=np.float32),
      "frame_index": tfds.features.Tensor(shape=(num_frames,), dtype=np.int64),
      "source": tfds.features.Text(),
      "action": tfds.features.Text(),
      "camera_resolution": tfds.features.Tensor(shape=(2,), dtype=np.float32),
      "factor_2_5d": tfds.features.Tensor(shape=(num_frames,), dtype=np.float32),
      "gt_3d_mm": tfds.features.Tensor(shape=poses, dtype=np.float32),
  }
  if with_valid:
    features["valid"] = tfds.features.Tensor(shape=(num_frames,), dtype=np.bool_)
  return tfds.features.FeaturesDict(features)


def normalize_pixels(points: np.ndarray, resolution: np.ndarray) -> np.ndarray:
  """Pixel coordinates -> the official normalised coordinates.

  ``xy / w * 2 - [1, h / w]`` and ``z / w * 2``, with the official reader's
  arithmetic (float32 scaling, float64 offset, float32 result) so that results are
  bit-identical to it.

  Args:
    points: (..., J, C) pixels, C = 2 (x, y) or 3 (x, y, depth in pixel units).
    resolution: (..., 2) width and height for each leading index of ``points``.

  Returns:
    (..., J, C) float32.
  """
  points = np.asarray(points, dtype=np.float32)
  resolution = np.asarray(resolution, dtype=np.float64)
  width = resolution[..., 0]
  scaled = points / width.astype(np.float32)[..., None, None] * np.float32(2)
  offset = np.stack([np.ones_like(width), resolution[..., 1] / width], -1)
  out = scaled.copy()
  out[..., :2] = (scaled[..., :2].astype(np.float64) - offset[..., None, :]).astype(
      np.float32)
  return out


def denormalize_pixels(points: np.ndarray, resolution: np.ndarray) -> np.ndarray:
  """Inverse of ``normalize_pixels`` (in float64): normalised -> pixel units."""
  points = np.asarray(points, dtype=np.float64)
  resolution = np.asarray(resolution, dtype=np.float64)
  width = resolution[..., 0][..., None, None]
  out = points * width / 2
  offset = np.stack([np.ones_like(resolution[..., 0]),
                     resolution[..., 1] / resolution[..., 0]], -1)
  out[..., :2] += offset[..., None, :] * width / 2
  return out


def resample_indices(length: int, num_frames: int,
                     rng: np.random.RandomState) -> np.ndarray:
  """Stretches a source of ``length`` < ``num_frames`` frames to ``num_frames``.

  MotionBERT's ``resample`` with randomness: even positions in [0, length), each
  rounded down or up by a coin flip (one ``rng.randint(2, size=num_frames)`` draw),
  sorted and clipped to the last frame.

  Returns:
    (num_frames,) int64 indices into the source, non-decreasing.
  """
  even = np.linspace(0, length, num=num_frames, endpoint=False)
  coin = rng.randint(2, size=even.shape)
  picked = np.sort(coin * np.floor(even) + (1 - coin) * np.ceil(even))
  return np.clip(picked, 0, length - 1).astype(np.int64)


def source_runs(sources: Sequence[str]) -> list[tuple[str, int, int]]:
  """Maximal runs of equal consecutive sources: [(source, begin, end)]."""
  sources = np.asarray(sources)
  if sources.size == 0:
    return []
  starts = np.concatenate([[0], np.flatnonzero(sources[1:] != sources[:-1]) + 1])
  ends = np.concatenate([starts[1:], [sources.size]])
  return [(str(sources[b]), int(b), int(e)) for b, e in zip(starts, ends)]


def split_clips(sources: Sequence[str], num_frames: int, stride: int,
                rng: np.random.RandomState) -> list[np.ndarray]:
  """Cuts a split's per-frame sources into clips as the official reader does.

  Each run of equal sources yields windows ``[b + k * stride, ... + num_frames)``
  lying inside it (tail frames dropped). A run with no window whose source has no
  clip yet is resampled to ``num_frames`` frames (``resample_indices``), unless it
  is the split's last run: the official loop ends before resampling it.

  Args:
    sources: (N,) per-frame source ids of one split, in file order.
    num_frames: clip length T.
    stride: distance between window starts.
    rng: draws one coin-flip vector per resampled run, in run order.

  Returns:
    A list of (T,) int64 frame-index arrays into the split.
  """
  if num_frames < 1 or stride < 1:
    raise ValueError(f"num_frames and stride must be positive, got {num_frames}, "
                     f"{stride}")
  clips = []
  has_clip = set()
  runs = source_runs(sources)
  for k, (name, begin, end) in enumerate(runs):
    starts = range(begin, end - num_frames + 1, stride)
    for start in starts:
      clips.append(np.arange(start, start + num_frames, dtype=np.int64))
    if len(starts):
      has_clip.add(name)
    elif name not in has_clip and k < len(runs) - 1:
      clips.append(resample_indices(end - begin, num_frames, rng) + begin)
      has_clip.add(name)
  return clips


def camera_to_image_2_5d(points_cam: np.ndarray, focal: float,
                         center: Sequence[float], root: int = 0
                         ) -> tuple[np.ndarray, np.ndarray]:
  """Camera-space millimetres -> image-aligned pixel units and the mm factor.

  The pose is drawn at the root's depth: ``xy = center + focal * XY / Z_root``,
  ``z = focal * (Z - Z_root) / Z_root``, and ``factor = Z_root / focal`` (mm per
  pixel at the root). The root lands on its perspective projection and
  ``image * factor`` equals the camera-space pose up to a per-frame translation,
  so errors measured root-relative through ``factor`` are true millimetres.

  Args:
    points_cam: (..., J, 3) camera coordinates in mm (z forward, y down).
    focal: focal length in pixels.
    center: (2,) principal point in pixels.
    root: root joint index.

  Returns:
    ((..., J, 3) float64 image-aligned pose, (...,) float64 factor).
  """
  points_cam = np.asarray(points_cam, dtype=np.float64)
  z_root = points_cam[..., root, 2]
  if np.any(z_root <= 0):
    raise ValueError("camera_to_image_2_5d: the root is behind the camera "
                     f"(min depth {z_root.min():.1f} mm)")
  factor = z_root / focal
  image = np.empty_like(points_cam)
  image[..., :2] = (np.asarray(center, np.float64)
                    + points_cam[..., :2] / factor[..., None, None])
  image[..., 2] = (points_cam[..., 2] - z_root[..., None]) / factor[..., None]
  return image, factor


@dataclasses.dataclass(eq=False)
class ClipConfig(tfds.core.BuilderConfig):
  """Configuration shared by clip builders.

  Attributes:
    num_frames: clip length T.
    train_stride: distance between train window starts; None means T // 3.
    test_stride: distance between test window starts; None means T.
    resample_seed: seed of the coin flips that resample short sources.
  """
  num_frames: int = 243
  train_stride: int | None = None
  test_stride: int | None = None
  resample_seed: int = 0

  @property
  def strides(self) -> dict[str, int]:
    return {"train": self.train_stride or max(self.num_frames // 3, 1),
            "test": self.test_stride or self.num_frames}


class ClipBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """Base of the pose-clip builders: array_record files, shared features."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "First release."}
  SKELETON: skeletons.Skeleton = skeletons.H36M
  WITH_VALID = False
  DESCRIPTION = ""
  HOMEPAGE = ""
  CITATION = ""
  FPS = 50

  def __init__(self, *, file_format: str | None = None, **kwargs: Any):
    # array_record is what builds and reads without TensorFlow.
    super().__init__(file_format=file_format or "array_record", **kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    config = self.builder_config
    return tfds.core.DatasetInfo(
        builder=self,
        description=self.DESCRIPTION + "\n\n" + __doc__.split("\n\n", 1)[1],
        features=clip_features(config.num_frames, self.SKELETON.num_joints,
                               with_valid=self.WITH_VALID),
        homepage=self.HOMEPAGE or None,
        citation=self.CITATION or None,
        # Keep clips in slicing order: evaluation reads them in the official order.
        disable_shuffling=True,
        metadata=tfds.core.MetadataDict(skeleton=self.SKELETON.name,
                                        num_frames=config.num_frames, fps=self.FPS),
    )


def clip_examples(clips: Sequence[np.ndarray], frames: Mapping[str, Any],
                  extra: Mapping[str, Sequence[np.ndarray]] | None = None
                  ) -> Iterator[tuple[int, dict[str, Any]]]:
  """Yields (key, example) for each clip of a split's per-frame arrays.

  Args:
    clips: (T,) frame-index arrays.
    frames: per-frame arrays of the split: ``input_2d``, ``label_3d`` (N, J, 3),
      ``factor_2_5d`` (N,), ``gt_3d_mm`` (N, J, 3), ``resolution`` (N, 2),
      ``source`` and ``action`` (N,) strings.
    extra: per-clip features to add, e.g. {"valid": [(T,) bool, ...]}.
  """
  for key, index in enumerate(clips):
    first = int(index[0])
    example = {
        "input_2d": frames["input_2d"][index].astype(np.float32),
        "label_3d": frames["label_3d"][index].astype(np.float32),
        "frame_index": index.astype(np.int64),
        "source": str(frames["source"][first]),
        "action": str(frames["action"][first]),
        "camera_resolution": np.asarray(frames["resolution"][first], np.float32),
        "factor_2_5d": frames["factor_2_5d"][index].astype(np.float32),
        "gt_3d_mm": frames["gt_3d_mm"][index].astype(np.float32),
    }
    for name, values in (extra or {}).items():
      example[name] = values[key]
    yield key, example
