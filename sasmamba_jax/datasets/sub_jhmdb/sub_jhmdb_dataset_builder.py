"""Sub-JHMDB (the 316 JHMDB clips with every joint in view) as video-pose examples.

The dataset root is the JHMDB release as its archives unpack::

  ROOT/Rename_Images/<action>/<video>/00001.png      (or Frames/...)
  ROOT/joint_positions/<action>/<video>/joint_positions.mat   (pos_img: 2 x 15 x T)
  ROOT/sub_splits/<action>_test_split<k>.txt          ("<video>.avi 1|2": train|test)
  ROOT/puppet_mask/<action>/<video>/puppet_mask.mat   (optional: part_mask H x W x T)

Every frame is labelled: one example per frame (the single person), with the 15
joints (``skeletons.SUB_JHMDB``: neck, belly, head, then right/left shoulder, hip,
elbow, knee, wrist, ankle) in 0-based pixels (JHMDB's ``pos_img`` is 1-based), visibility 1 for
joints inside the frame. The box is the puppet mask's extent when the mask file is
there, else the joints' extent grown by 20 %. Configs ``split1..3`` are the three
official splits (``train`` / ``test``); the papers average PCK over the three.
Frames are stored as their PNG bytes. The ``.mat`` files are read with
``scipy.io.loadmat`` (SciPy comes with JAX).
"""

from __future__ import annotations

import pathlib

import numpy as np
import tensorflow_datasets as tfds

from sasmamba_jax import skeletons
from sasmamba_jax.datasets import safe_io
from sasmamba_jax.datasets.posetrack import posetrack_common as pc


def _configs() -> list[pc.VideoPoseConfig]:
  return [pc.VideoPoseConfig(name=f"split{k}", delta=2,
                             description=f"Official split {k}; T = 5.")
          for k in (1, 2, 3)]


def _loadmat(path: pathlib.Path, key: str) -> np.ndarray:
  import scipy.io  # pylint: disable=g-import-not-at-top
  try:
    data = scipy.io.loadmat(str(path))
  except Exception as e:  # scipy raises several types on corrupt files
    raise safe_io.DataFileError(f"{path}: not a readable .mat file ({e})") from e
  if key not in data:
    raise safe_io.DataFileError(f"{path}: missing variable {key!r} (variables: "
                                f"{sorted(k for k in data if not k.startswith('__'))})")
  return np.asarray(data[key])


def read_split(root: pathlib.Path, split: int) -> dict[str, list[tuple[str, str]]]:
  """{"train": [(action, video)], "test": [...]} from ``sub_splits``."""
  files = sorted((root / "sub_splits").glob(f"*_test_split{split}.txt"))
  if not files:
    raise safe_io.MissingDataFileError(
        f"sub_jhmdb/split{split}: no sub_splits/*_test_split{split}.txt in {root}. "
        "Unpack JHMDB's sub_splits.zip into the dataset root and run:\n  python -m "
        f"experiments.prepare_data --dataset=sub_jhmdb/split{split} "
        "--manual_dir=ROOT")
  out = {"train": [], "test": []}
  for file in files:
    action = file.name[:-len(f"_test_split{split}.txt")]
    for n, line in enumerate(file.read_text().split("\n")):
      if not line.strip():
        continue
      parts = line.split()
      if len(parts) != 2 or parts[1] not in ("1", "2"):
        raise safe_io.DataFileError(f"{file}: line {n + 1} is {line!r}, expected "
                                    "'<video>.avi 1|2'")
      video = parts[0].rsplit(".", 1)[0]
      out["train" if parts[1] == "1" else "test"].append((action, video))
  return out


def read_video(root: pathlib.Path, action: str, video: str, index: int
               ) -> pc.VideoInfo:
  """One JHMDB clip as the shared video structure (every frame labelled)."""
  frames_dir = next((root / d / action / video for d in ("Rename_Images", "Frames")
                     if (root / d / action / video).is_dir()), None)
  if frames_dir is None:
    raise safe_io.MissingDataFileError(
        f"sub_jhmdb: the frames of {action}/{video} are missing (expected "
        f"{root}/Rename_Images/{action}/{video}/00001.png); unpack JHMDB's "
        "Rename_Images archive into the dataset root")
  mat = root / "joint_positions" / action / video / "joint_positions.mat"
  if not mat.is_file():
    raise safe_io.MissingDataFileError(f"sub_jhmdb: {mat} is missing; unpack JHMDB's "
                                       "joint_positions archive into the root")
  pos = _loadmat(mat, "pos_img")
  if pos.ndim != 3 or pos.shape[:2] != (2, 15):
    raise safe_io.DataFileError(f"{mat}: pos_img has shape {pos.shape}, expected "
                                "(2, 15, T)")
  num_frames = pos.shape[2]
  files = sorted(p for p in frames_dir.iterdir() if p.suffix.lower() in
                 (".png", ".jpg"))
  if len(files) < num_frames:
    raise safe_io.DataFileError(f"{frames_dir} holds {len(files)} frames but {mat} "
                                f"annotates {num_frames}")
  mask_file = root / "puppet_mask" / action / video / "puppet_mask.mat"
  masks = _loadmat(mask_file, "part_mask") if mask_file.is_file() else None
  frames = []
  for t in range(num_frames):
    xy = pos[:, :, t].T.astype(np.float64) - 1.0  # 1-based -> 0-based
    kp = np.concatenate([xy, np.ones((15, 1))], -1)
    if masks is not None and masks.ndim == 3 and t < masks.shape[2] and masks[
        ..., t].any():
      ys, xs = np.nonzero(masks[..., t])
      box = np.asarray([xs.min(), ys.min(), xs.max() - xs.min() + 1,
                        ys.max() - ys.min() + 1], np.float64)
    else:
      lo, hi = xy.min(0), xy.max(0)
      size = (hi - lo) * 1.2 + 1
      box = np.concatenate([(lo + hi) / 2 - size / 2, size])
    person = pc.Person(kp, box, np.zeros(4), 0, -1)
    name = str(files[t].relative_to(root))
    frames.append(pc.FrameInfo(index * 10000 + t, name, True, True, [], [person]))
  return pc.VideoInfo(f"{action}/{video}", frames)


class Builder(pc.VideoPoseBuilder):
  """Sub-JHMDB from the JHMDB release (see the module docstring)."""

  BUILDER_CONFIGS = _configs()
  DESCRIPTION = __doc__
  # Every JHMDB frame is labelled: PoseTrack's 1.1.0 (labelled frames only) changes
  # none of its examples.
  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "First release."}
  HOMEPAGE = "http://jhmdb.is.tue.mpg.de"
  SPLITS = ("train", "test")
  SKELETON = skeletons.SUB_JHMDB
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
      "Download JHMDB (Rename_Images, joint_positions, sub_splits and optionally "
      "puppet_mask) from http://jhmdb.is.tue.mpg.de and unpack into one folder.")

  def _split_generators(self, dl_manager):
    dataset = f"{self.name}/{self.builder_config.name}"
    root = pc.manual_root(dl_manager, dataset)
    split = int(self.builder_config.name[-1])
    videos = read_split(root, split)
    self.info.metadata["image_root"] = str(root.resolve())
    order = {v: i for i, v in enumerate(sorted(set(videos["train"] + videos["test"])))}
    return {name: self._generate(root, items, order) for name, items in videos.items()}

  def _generate(self, root, items, order):
    for action, video in items:
      info = read_video(root, action, video, order[(action, video)])
      yield from pc.video_examples(info, root, self.builder_config,
                                   f"{root}/joint_positions/{action}/{video}",
                                   formats=("PNG", "JPEG"), pattern="*.png")
