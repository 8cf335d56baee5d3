"""Human3.6M clips in the MotionBERT / PoseMamba / SasMamba format.

Configs ``sh_T`` (Stacked-Hourglass detections with confidences) and ``gt_T``
(ground-truth 2D: x, y of ``joint3d_image``, confidence 1) read MotionBERT's
``h36m_sh_conf_cam_source_final.pkl`` exactly as the official reader does.
Configs ``cpn_T`` read VideoPose3D's ``data_3d_h36m.npz`` (world metres, 32 joints)
and ``data_2d_h36m_cpn_ft_h36m_dbb.npz`` (CPN detections) with the published cameras.
T is 243, 81 or 27.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Iterator

import numpy as np
import tensorflow_datasets as tfds

from sasmamba_jax import skeletons
from sasmamba_jax.datasets import common
from sasmamba_jax.datasets import safe_io
from sasmamba_jax.datasets.h36m import cameras

MOTIONBERT_FILE = "h36m_sh_conf_cam_source_final.pkl"
VIDEOPOSE3D_3D_FILE = "data_3d_h36m.npz"
VIDEOPOSE3D_CPN_FILE = "data_2d_h36m_cpn_ft_h36m_dbb.npz"

MOTIONBERT_ORIGIN = (
    "It is MotionBERT's preprocessed Human3.6M file (with fine-tuned "
    "Stacked-Hourglass detections), linked from "
    "https://github.com/Walter0807/MotionBERT/blob/main/docs/pose3d.md (Data, step "
    "1); Human3.6M's licence (http://vision.imar.ro/human3.6m/) applies.")
VIDEOPOSE3D_3D_ORIGIN = (
    "It is VideoPose3D's 3D ground truth: register at "
    "http://vision.imar.ro/human3.6m/, download Poses -> D3 Positions for S1, S5, "
    "S6, S7, S8, S9, S11 and convert them with VideoPose3D's "
    "data/prepare_data_h36m.py (https://github.com/facebookresearch/VideoPose3D/"
    "blob/main/DATASETS.md).")
VIDEOPOSE3D_CPN_ORIGIN = (
    "It holds VideoPose3D's CPN detections: "
    "https://dl.fbaipublicfiles.com/video-pose-3d/data_2d_h36m_cpn_ft_h36m_dbb.npz "
    "(see https://github.com/facebookresearch/VideoPose3D/blob/main/DATASETS.md).")

# Official MotionBERT camera name -> resolution (width, height).
RESOLUTIONS = {cid: res for cid, (_, _, res) in cameras.INTRINSICS.items()}

TRAIN_SUBJECTS = ("S1", "S5", "S6", "S7", "S8")
TEST_SUBJECTS = ("S9", "S11")
# VideoPose3D's 32 -> 17 joint reduction keeps these, in H36M-17 order.
KEEP_32_TO_17 = tuple(i for i in range(32) if i not in
                      (4, 5, 9, 10, 11, 16, 20, 21, 22, 23, 24, 28, 29, 30, 31))


@dataclasses.dataclass(eq=False)
class H36MConfig(common.ClipConfig):
  """A Human3.6M configuration.

  Attributes:
    input_2d: "sh" (Stacked-Hourglass detections), "gt" (projected ground truth)
      or "cpn" (CPN detections from VideoPose3D's files).
  """
  input_2d: str = "sh"


def _configs() -> list[H36MConfig]:
  sources = {"sh": "Stacked-Hourglass detections with confidences (MotionBERT file)",
             "gt": "ground-truth 2D from joint3d_image, confidence 1 (MotionBERT file)",
             "cpn": "CPN detections, confidence 1 (VideoPose3D files)"}
  return [H36MConfig(name=f"{kind}_{t}", num_frames=t, input_2d=kind,
                     description=f"{t}-frame clips, 2D input: {what}.")
          for kind, what in sources.items() for t in (243, 81, 27)]


class Builder(common.ClipBuilder):
  """Human3.6M 2D-to-3D lifting clips (see the module docstring)."""

  BUILDER_CONFIGS = _configs()
  SKELETON = skeletons.H36M
  DESCRIPTION = __doc__
  HOMEPAGE = "http://vision.imar.ro/human3.6m/"
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
      f"sh_* and gt_* configs: put {MOTIONBERT_FILE} in the manual folder. "
      f"{MOTIONBERT_ORIGIN}\ncpn_* configs: put {VIDEOPOSE3D_3D_FILE} and "
      f"{VIDEOPOSE3D_CPN_FILE} in the manual folder. {VIDEOPOSE3D_3D_ORIGIN} "
      f"{VIDEOPOSE3D_CPN_ORIGIN}")

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    config = self.builder_config
    dataset = f"{self.name}/{config.name}"
    if config.input_2d == "cpn":
      frames = read_videopose3d(
          safe_io.manual_file(dl_manager, VIDEOPOSE3D_3D_FILE, dataset=dataset,
                              origin=VIDEOPOSE3D_3D_ORIGIN),
          safe_io.manual_file(dl_manager, VIDEOPOSE3D_CPN_FILE, dataset=dataset,
                              origin=VIDEOPOSE3D_CPN_ORIGIN))
    else:
      frames = read_motionbert(
          safe_io.manual_file(dl_manager, MOTIONBERT_FILE, dataset=dataset,
                              origin=MOTIONBERT_ORIGIN),
          ground_truth_2d=config.input_2d == "gt")
    # One generator for both splits, train first: the official draw order.
    rng = np.random.RandomState(config.resample_seed)
    clips = {split: common.split_clips(frames[split]["source"], config.num_frames,
                                       config.strides[split], rng)
             for split in ("train", "test")}
    return {split: self._generate_examples(clips[split], frames[split])
            for split in ("train", "test")}

  def _generate_examples(self, clips, frames) -> Iterator[tuple[int, dict[str, Any]]]:
    yield from common.clip_examples(clips, frames)


def _split_what(path, split: str, key: str | None = None) -> str:
  return f"{path}['{split}']" + (f"['{key}']" if key else "")


def read_motionbert(path, *, ground_truth_2d: bool = False
                    ) -> dict[str, dict[str, np.ndarray]]:
  """Reads MotionBERT's pickle into normalised per-frame arrays per split.

  Args:
    path: ``h36m_sh_conf_cam_source_final.pkl`` (or a file of its structure).
    ground_truth_2d: use x, y of ``joint3d_image`` with confidence 1 as 2D input.

  Returns:
    {"train"|"test": {"input_2d", "label_3d" (N, 17, 3) float32, "factor_2_5d"
    (N,), "gt_3d_mm" (N, 17, 3) (NaN where the split has none), "resolution"
    (N, 2), "source", "action" (N,) str}}.
  """
  data = safe_io.load_pickle(path)
  splits = {}
  for split in ("train", "test"):
    entry = safe_io.require_key(data, split, str(path))
    what = _split_what(path, split)
    joint_2d = safe_io.require_array(
        safe_io.require_key(entry, "joint_2d", what),
        _split_what(path, split, "joint_2d"), (None, 17, 2))
    n = len(joint_2d)
    image = safe_io.require_array(
        safe_io.require_key(entry, "joint3d_image", what),
        _split_what(path, split, "joint3d_image"), (n, 17, 3))
    camera_names = _strings(safe_io.require_key(entry, "camera_name", what),
                            _split_what(path, split, "camera_name"), n)
    source = _strings(safe_io.require_key(entry, "source", what),
                      _split_what(path, split, "source"), n)
    resolution = np.zeros((n, 2), np.float64)
    for name in np.unique(camera_names):
      if name not in RESOLUTIONS:
        raise safe_io.DataFileError(
            f"{_split_what(path, split, 'camera_name')}: unknown camera {str(name)!r}; "
            f"Human3.6M cameras are {', '.join(cameras.CAMERA_IDS)}")
      resolution[camera_names == name] = RESOLUTIONS[name]

    if ground_truth_2d:
      xy = image[..., :2]
      confidence = np.ones((n, 17, 1), np.float32)
    else:
      xy = joint_2d
      if "confidence" in entry:
        conf_what = _split_what(path, split, "confidence")
        confidence = np.asarray(entry["confidence"])
        if confidence.shape == (n, 17):
          confidence = confidence[..., None]
        safe_io.require_array(confidence, conf_what, (n, 17, 1))
      else:
        confidence = np.ones((n, 17, 1), np.float32)
    input_2d = np.concatenate(
        [common.normalize_pixels(xy, resolution), confidence.astype(np.float32)], -1)

    if "2.5d_factor" in entry:
      factor = safe_io.require_array(entry["2.5d_factor"],
                                     _split_what(path, split, "2.5d_factor"), (n,))
    else:
      factor = np.full((n,), np.nan, np.float32)
    if "joints_2.5d_image" in entry:
      gt_mm = safe_io.require_array(entry["joints_2.5d_image"],
                                    _split_what(path, split, "joints_2.5d_image"),
                                    (n, 17, 3))
    else:
      # A read-only broadcast: no memory for the (N, 17, 3) NaNs of the train split.
      gt_mm = np.broadcast_to(np.float32(np.nan), (n, 17, 3))
    splits[split] = {
        "input_2d": input_2d,
        "label_3d": common.normalize_pixels(image, resolution),
        "factor_2_5d": np.asarray(factor, np.float32),
        "gt_3d_mm": np.asarray(gt_mm, np.float32),
        "resolution": resolution,
        "source": source,
    }
    if "action" in entry:
      splits[split]["action"] = _strings(entry["action"],
                                         _split_what(path, split, "action"), n)

  # The train split has no actions: name them like the test split's sources of the
  # same action number (H36M's action ids), else "act_NN".
  names = {}
  for split in splits.values():
    if "action" in split:
      for src, action in sorted(set(zip(split["source"], split["action"]))):
        names.setdefault(_action_id(src), str(action))
  for split in splits.values():
    if "action" not in split:
      unique, inverse = np.unique(split["source"], return_inverse=True)
      derived = np.array([names.get(_action_id(s), _action_id(s)) for s in unique])
      split["action"] = derived[inverse] if len(unique) else np.array([], str)
  return splits


def _action_id(source: str) -> str:
  match = re.search(r"act_\d+", str(source))
  return match.group(0) if match else "unknown"


def _strings(values: Any, what: str, n: int) -> np.ndarray:
  array = np.asarray(values)
  if array.shape != (n,) or array.dtype.kind not in "US":
    raise safe_io.DataFileError(f"{what}: expected {n} strings (one per frame), got "
                                f"{type(values).__name__} of shape {array.shape}")
  return array.astype(str)


def read_videopose3d(path_3d, path_2d) -> dict[str, dict[str, np.ndarray]]:
  """Reads VideoPose3D's 3D ground truth and CPN detections into per-frame arrays.

  World positions (metres, 32 joints) are reduced to H36M-17, moved to each
  camera, and turned into the 2.5D image representation of
  ``common.camera_to_image_2_5d``; CPN detections (pixels) are normalised with
  confidence 1. Detections longer than the motion capture are trimmed to it, as
  VideoPose3D does. Train: S1, S5, S6, S7, S8; test: S9, S11.

  Returns:
    As ``read_motionbert``; sources are "S9/Directions 1/54138969", actions the
    action name without its take number ("Directions").
  """
  positions_3d = safe_io.require_key(safe_io.load_npz(path_3d), "positions_3d",
                                     str(path_3d))
  files_2d = safe_io.load_npz(path_2d)
  positions_2d = safe_io.require_key(files_2d, "positions_2d", str(path_2d))
  splits = {}
  for split, subjects in (("train", TRAIN_SUBJECTS), ("test", TEST_SUBJECTS)):
    parts = {k: [] for k in ("input_2d", "label_3d", "factor_2_5d", "gt_3d_mm",
                             "resolution", "source", "action")}
    for subject in subjects:
      what_3d = f"{path_3d}['positions_3d']['{subject}']"
      what_2d = f"{path_2d}['positions_2d']['{subject}']"
      actions_3d = safe_io.require_key(positions_3d, subject,
                                       f"{path_3d}['positions_3d']")
      actions_2d = safe_io.require_key(positions_2d, subject,
                                       f"{path_2d}['positions_2d']")
      for action in sorted(actions_3d):
        world = safe_io.require_array(actions_3d[action], f"{what_3d}['{action}']",
                                      (None, 32, 3))
        if np.nanmax(np.abs(world)) > 100:
          raise safe_io.DataFileError(
              f"{what_3d}['{action}']: values up to {np.nanmax(np.abs(world)):.0f}; "
              "expected world positions in metres as VideoPose3D writes them")
        world = world[:, KEEP_32_TO_17] * 1000.0
        views = safe_io.require_key(actions_2d, action, what_2d)
        if not isinstance(views, (list, tuple)) or len(views) != 4:
          raise safe_io.DataFileError(
              f"{what_2d}['{action}']: expected a list of 4 camera arrays, got "
              f"{type(views).__name__} of length {len(views)}")
        for camera, camera_id in enumerate(cameras.CAMERA_IDS):
          keypoints = safe_io.require_array(
              np.asarray(views[camera]), f"{what_2d}['{action}'][{camera}]",
              (None, 17, 2))
          n = len(world)
          if len(keypoints) < n:
            raise safe_io.DataFileError(
                f"{what_2d}['{action}'][{camera}]: {len(keypoints)} frames of 2D "
                f"keypoints for {n} frames of 3D; the files do not match")
          focal, center, resolution = cameras.INTRINSICS[camera_id]
          image, factor = common.camera_to_image_2_5d(
              cameras.world_to_camera(world, subject, camera), float(np.mean(focal)),
              center)
          res = np.broadcast_to(np.asarray(resolution, np.float64), (n, 2))
          parts["input_2d"].append(np.concatenate(
              [common.normalize_pixels(keypoints[:n], res),
               np.ones((n, 17, 1), np.float32)], -1))
          parts["label_3d"].append(common.normalize_pixels(image, res))
          parts["factor_2_5d"].append(factor.astype(np.float32))
          parts["gt_3d_mm"].append((image * factor[:, None, None]).astype(np.float32))
          parts["resolution"].append(res)
          parts["source"].append(np.full((n,), f"{subject}/{action}/{camera_id}"))
          parts["action"].append(np.full((n,), action.split(" ")[0]))
    if not parts["source"]:
      raise safe_io.DataFileError(f"{path_3d}: no sequences for the {split} subjects "
                                  f"{', '.join(subjects)}")
    splits[split] = {k: np.concatenate(v) for k, v in parts.items()}
  return splits
