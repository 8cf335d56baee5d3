"""Synthetic Human3.6M-like motion: the built-in dataset, no download needed.

Procedural H36M-17 motion (``motion.py``: per-subject bodies, nine motion families,
root motion), filmed by four Human3.6M-like cameras, with detector-like 2D input
(jitter, outliers, left/right swaps, confidences). Train and test subjects are
disjoint; the action is the motion family. The features and their encoding are
those of ``h36m`` (``common.py``): ``gt_3d_mm`` is the camera-space pose in
millimetres up to a per-frame translation, so the H36M evaluation (denormalise,
multiply by ``factor_2_5d``, compare root-relative) measures true millimetres.
Sources are named like Human3.6M's: ``s_SS_act_AA_subact_BB_ca_CC`` with AA the
family's position in ``motion.FAMILIES`` plus one. Everything is determined by
the config's seed; each sequence has its own seed, so changing sizes leaves the
other sequences unchanged.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterator

import numpy as np
import tensorflow_datasets as tfds

from sasmamba_jax import skeletons
from sasmamba_jax.datasets import common
from sasmamba_jax.datasets.synthetic_motion import motion

FPS = 50
# Independent random streams per purpose, mixed into each sequence's seed.
_BODY, _CAMERAS, _MOTION, _DETECTOR = range(4)


@dataclasses.dataclass(eq=False)
class SyntheticConfig(common.ClipConfig):
  """Sizes and seed of the synthetic dataset.

  Attributes:
    num_train_subjects: subjects 1..N of the train split.
    num_test_subjects: the next subjects, in the test split.
    sequences_per_action: sequences per subject and motion family (each filmed
      by the four cameras).
    sequence_frames: frames per sequence (50 fps).
    seed: seed of everything.
  """
  num_train_subjects: int = 5
  num_test_subjects: int = 2
  sequences_per_action: int = 1
  sequence_frames: int = 400
  seed: int = 0


def _configs() -> list[SyntheticConfig]:
  configs = [SyntheticConfig(
      name=f"clips_{t}", num_frames=t,
      description=f"{t}-frame clips; 5 train and 2 test subjects, 9 motion families, "
                  "4 cameras, 8 s per sequence.")
             for t in (27, 81, 243)]
  configs.append(SyntheticConfig(
      name="tiny", num_frames=27, num_train_subjects=2, num_test_subjects=1,
      sequence_frames=60,
      description="27-frame clips of 1.2 s sequences, 2 train and 1 test subject "
                  "(for tests)."))
  return configs


class Builder(common.ClipBuilder):
  """Synthetic Human3.6M-like clips (see the module docstring)."""

  BUILDER_CONFIGS = _configs()
  SKELETON = skeletons.H36M
  DESCRIPTION = __doc__
  FPS = FPS

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    del dl_manager  # Nothing to download.
    config = self.builder_config
    train = range(1, config.num_train_subjects + 1)
    test = range(config.num_train_subjects + 1,
                 config.num_train_subjects + config.num_test_subjects + 1)
    rng = np.random.RandomState(config.resample_seed)
    out = {}
    for split, subjects in (("train", train), ("test", test)):
      frames = generate_frames(
          subjects, sequences_per_action=config.sequences_per_action,
          sequence_frames=config.sequence_frames, seed=config.seed)
      clips = common.split_clips(frames["source"], config.num_frames,
                                 config.strides[split], rng)
      out[split] = self._generate_examples(clips, frames)
    return out

  def _generate_examples(self, clips, frames) -> Iterator[tuple[int, dict[str, Any]]]:
    yield from common.clip_examples(clips, frames)


def render_sequence(body: np.ndarray, cameras: list[motion.Camera], family: str,
                    num_frames: int, motion_rng: np.random.Generator,
                    detector_rngs: list[np.random.Generator]
                    ) -> list[dict[str, np.ndarray]]:
  """One motion filmed by every camera.

  Returns:
    Per camera: {"input_2d", "label_3d", "gt_3d_mm" (T, 17, 3), "factor_2_5d" (T,),
    "resolution" (T, 2), "world_mm" (T, 17, 3)}.
  """
  world = motion.forward_kinematics(body, motion.make_motion(family, num_frames, FPS,
                                                             motion_rng))
  views = []
  for camera, rng in zip(cameras, detector_rngs):
    points = camera.to_camera(world)
    detections = motion.detect_2d(camera.project(points), points[:, 0, 2], rng)
    image, factor = common.camera_to_image_2_5d(points, float(np.mean(camera.focal)),
                                                camera.center)
    resolution = np.broadcast_to(np.asarray(camera.resolution, np.float64),
                                 (num_frames, 2))
    views.append({
        "input_2d": np.concatenate(
            [common.normalize_pixels(detections[..., :2], resolution),
             detections[..., 2:].astype(np.float32)], -1),
        "label_3d": common.normalize_pixels(image, resolution),
        "gt_3d_mm": (image * factor[:, None, None]).astype(np.float32),
        "factor_2_5d": factor.astype(np.float32),
        "resolution": resolution,
        "world_mm": world,
    })
  return views


def sample_sequence(family: str = "walking", num_frames: int = 250, *,
                    camera: int = 0, seed: int = 0) -> dict[str, np.ndarray]:
  """One synthetic person filmed by one camera: detector-like 2D and its 3D truth.

  What a 2D detector would give on a video of a person, with the answer; for
  lifting demos (e.g. writing a COCO-format file, ``skeletons.h36m_to_coco``) and
  tests. Deterministic for a given seed; 50 fps.

  Args:
    family: a motion family of ``motion.FAMILIES``.
    num_frames: F.
    camera: which of the four studio cameras films it (0-3).
    seed: body, cameras, motion and detector noise.

  Returns:
    {"keypoints_2d": (F, 17, 3) H36M-order pixels x, y and confidence (with
    jitter, outliers and swaps), "poses_3d": (F, 17, 3) root-relative 3D truth in
    the lifters' units (half image widths, image-aligned), "poses_3d_mm": the same
    in millimetres, "mm_per_pixel": (F,) the camera scale at the person (distance /
    focal), "image_size": (2,) width, height, "fps": 50}.
  """
  if family not in motion.FAMILIES:
    raise ValueError(f"sample_sequence: unknown family {family!r}; one of "
                     f"{', '.join(motion.FAMILIES)}")
  if not 0 <= camera < 4:
    raise ValueError(f"sample_sequence: camera must be 0, 1, 2 or 3, got {camera}")
  if num_frames < 1:
    raise ValueError(f"sample_sequence: num_frames must be >= 1, got {num_frames}")
  body = motion.sample_body(np.random.default_rng([seed, _BODY]))
  cameras = motion.studio_cameras(np.random.default_rng([seed, _CAMERAS]))
  view = render_sequence(body, cameras[camera:camera + 1], family, num_frames,
                         np.random.default_rng([seed, _MOTION]),
                         [np.random.default_rng([seed, _DETECTOR, camera])])[0]
  resolution = view["resolution"]
  pixels = common.denormalize_pixels(view["input_2d"][..., :2], resolution)
  root = skeletons.H36M.root
  poses = view["label_3d"] - view["label_3d"][:, root:root + 1]
  mm = view["gt_3d_mm"] - view["gt_3d_mm"][:, root:root + 1]
  return {
      "keypoints_2d": np.concatenate([pixels, view["input_2d"][..., 2:]],
                                     -1).astype(np.float32),
      "poses_3d": poses.astype(np.float32), "poses_3d_mm": mm.astype(np.float32),
      "mm_per_pixel": view["factor_2_5d"],
      "image_size": np.asarray(resolution[0], np.int64), "fps": FPS,
  }


def generate_frames(subjects: range | list[int], *, sequences_per_action: int,
                    sequence_frames: int, seed: int) -> dict[str, np.ndarray]:
  """Per-frame arrays of a split, sequences in (subject, family, take, camera) order.

  Returns:
    {"input_2d", "label_3d", "gt_3d_mm" (N, 17, 3), "factor_2_5d" (N,),
    "resolution" (N, 2), "source", "action" (N,) str}.
  """
  parts = {k: [] for k in ("input_2d", "label_3d", "gt_3d_mm", "factor_2_5d",
                           "resolution", "source", "action")}
  for subject in subjects:
    body = motion.sample_body(np.random.default_rng([seed, _BODY, subject]))
    cameras = motion.studio_cameras(np.random.default_rng([seed, _CAMERAS, subject]))
    for family_id, family in enumerate(motion.FAMILIES):
      for take in range(sequences_per_action):
        key = [seed, subject, family_id, take]
        views = render_sequence(
            body, cameras, family, sequence_frames,
            np.random.default_rng([key[0], _MOTION] + key[1:]),
            [np.random.default_rng([key[0], _DETECTOR] + key[1:] + [c])
             for c in range(len(cameras))])
        for camera, view in enumerate(views):
          for name in ("input_2d", "label_3d", "gt_3d_mm", "factor_2_5d",
                       "resolution"):
            parts[name].append(view[name])
          parts["source"].append(np.full(
              (sequence_frames,), f"s_{subject:02d}_act_{family_id + 1:02d}_subact_"
              f"{take + 1:02d}_ca_{camera + 1:02d}"))
          parts["action"].append(np.full((sequence_frames,), family))
  return {k: np.concatenate(v) for k, v in parts.items()}
