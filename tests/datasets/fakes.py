"""Tiny fakes of the official data files, in their official structures.

MotionBERT's H36M pickle, VideoPose3D's npz files and P-STMO's MPI-INF-3DHP npz files,
written by the tests; nothing is downloaded.
"""

from __future__ import annotations

import pathlib
import pickle

import numpy as np

H36M_CAMERAS = ("54138969", "55011271", "58860488", "60457274")


def _h36m_split(rng: np.random.Generator, sequences: list[tuple[str, int, int]],
                test: bool) -> dict:
  """Per-frame MotionBERT entries for [(source, camera index, frames)]."""
  entry = {k: [] for k in ("joint_2d", "confidence", "joint3d_image", "camera_name",
                           "source", "action", "2.5d_factor")}
  actions = {"02": "Direction", "05": "Greet", "14": "Walk"}
  for source, camera, frames in sequences:
    center = rng.uniform(350, 650, 2)
    image = np.concatenate([center + rng.normal(0, 60, (frames, 17, 2)),
                            rng.normal(0, 80, (frames, 17, 1))], -1)
    entry["joint3d_image"].append(image)
    entry["joint_2d"].append(image[..., :2] + rng.normal(0, 3, (frames, 17, 2)))
    entry["confidence"].append(rng.uniform(0.3, 1.0, (frames, 17, 1)))
    entry["camera_name"] += [H36M_CAMERAS[camera]] * frames
    entry["source"] += [source] * frames
    entry["action"] += [actions[source.split("_act_")[1][:2]]] * frames
    entry["2.5d_factor"].append(rng.uniform(3.5, 4.4, frames))
  out = {k: np.concatenate(v).astype(np.float32) for k, v in entry.items()
         if k in ("joint_2d", "confidence", "joint3d_image", "2.5d_factor")}
  out.update(camera_name=entry["camera_name"], source=entry["source"])
  if test:
    out["action"] = entry["action"]
    out["joints_2.5d_image"] = out["joint3d_image"] * out["2.5d_factor"][:, None, None]
  else:
    del out["2.5d_factor"]
  return out


def fake_motionbert(seed: int = 0) -> dict:
  """A small MotionBERT pickle structure (train without action/factor, as upstream)."""
  rng = np.random.default_rng(seed)
  return {
      "train": _h36m_split(rng, [("s_01_act_02_subact_01_ca_01", 0, 40),
                                 ("s_01_act_14_subact_01_ca_02", 1, 20),
                                 ("s_05_act_05_subact_02_ca_03", 2, 50)], test=False),
      "test": _h36m_split(rng, [("s_09_act_02_subact_01_ca_01", 0, 60),
                                ("s_09_act_05_subact_01_ca_04", 3, 15),
                                ("s_11_act_14_subact_01_ca_02", 1, 27),
                                ("s_11_act_02_subact_02_ca_03", 2, 10)], test=True),
  }


def write_pickle(path: pathlib.Path, data) -> pathlib.Path:
  path.parent.mkdir(parents=True, exist_ok=True)
  with open(path, "wb") as f:
    pickle.dump(data, f, protocol=4)
  return path


def fake_videopose3d(seed: int = 0, frames: int = 40) -> tuple[dict, dict]:
  """({'positions_3d': ...}, {'positions_2d': ..., 'metadata': ...}).

  World positions in metres, detections in pixels, as VideoPose3D's files.
  """
  rng = np.random.default_rng(seed)
  positions_3d, positions_2d = {}, {}
  for subject in ("S1", "S5", "S6", "S7", "S8", "S9", "S11"):
    world = (np.array([0.0, 0.0, 1.0]) + rng.normal(0, 0.3, (1, 32, 3))
             + rng.normal(0, 0.01, (frames, 32, 3)))
    positions_3d[subject] = {"Walking 1": world}
    # Detections two frames longer than the motion capture, as in VideoPose3D's files.
    positions_2d[subject] = {"Walking 1": [
        rng.uniform(300, 700, (frames + 2, 17, 2)).astype(np.float32)
        for _ in range(4)]}
  metadata = {"layout_name": "h36m", "num_joints": 17,
              "keypoints_symmetry": [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]]}
  return ({"positions_3d": positions_3d},
          {"positions_2d": positions_2d, "metadata": metadata})


def fake_mpi(seed: int = 0) -> tuple[dict, dict]:
  """(train, test) P-STMO structures; train sequences of 50 and 20 frames."""
  rng = np.random.default_rng(seed)

  def pose(frames):
    root = np.array([0.0, 0.0, 4000.0]) + rng.normal(0, 50, (frames, 1, 3))
    return (rng.uniform(200, 1800, (frames, 17, 2)),
            root + rng.normal(0, 400, (frames, 17, 3)))

  train = {}
  for sequence, frames in (("S1 Seq1", 50), ("S2 Seq2", 20)):
    cams = {}
    for camera in ("0", "2"):
      data_2d, data_3d = pose(frames)
      cams[camera] = {"data_2d": data_2d, "data_3d": data_3d}
    train[sequence] = [cams, 25]
  test = {}
  for sequence, frames in (("TS1", 60), ("TS5", 20)):
    data_2d, data_3d = pose(frames)
    valid = (rng.random(frames) < 0.8).astype(np.float64)
    test[sequence] = {"data_2d": data_2d, "data_3d": data_3d, "valid": valid}
  return train, test
