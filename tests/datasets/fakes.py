"""Tiny fakes of the official data files, in their official structures.

MotionBERT's H36M pickle, VideoPose3D's npz files and P-STMO's MPI-INF-3DHP npz files,
written by the tests; nothing is downloaded.
"""

from __future__ import annotations

import pathlib
import pickle

import numpy as np

from sasmamba_jax import skeletons

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


POSETRACK_KEYPOINTS = skeletons.POSETRACK.joint_names


def _jpeg(path: pathlib.Path, seed: int, size=(32, 24)) -> None:
  from PIL import Image  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(seed)
  path.parent.mkdir(parents=True, exist_ok=True)
  Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(
      path, format="JPEG")


def fake_posetrack_video(split: str, seq: int, num_frames: int, labelled: list[int],
                         persons: int = 2, seed: int = 0, extra: dict | None = None,
                         annotated: tuple[int, ...] = ()) -> tuple[str, dict]:
  """One video of the PoseTrack18 release (annotation dict); frames 32 x 24 px.

  Person 0 of each labelled frame has every keypoint except the ears; the last
  person of the first labelled frame has no visible keypoint (not an example).
  ``extra`` adds keys to every annotation (e.g. PoseTrack21's person_id);
  ``annotated`` frames hold people too without being labelled (poseval skips them).
  """
  rng = np.random.default_rng(seed)
  name = f"{seq:06d}_mpii_{'train' if split == 'train' else 'test'}"
  images, annotations = [], []
  for t in range(num_frames):
    image_id = 10_000_000_000 + seq * 10_000 + t
    images.append({"id": image_id, "file_name": f"images/{split}/{name}/{t:06d}.jpg",
                   "frame_id": image_id, "vid_id": f"{seq:06d}", "nframes": num_frames,
                   "is_labeled": t in labelled,
                   "ignore_regions_x": [[1, 5, 5]] if t == labelled[0] else [],
                   "ignore_regions_y": [[1, 1, 6]] if t == labelled[0] else []})
    if t not in labelled and t not in annotated:
      continue
    for k in range(persons):
      kp = np.concatenate([rng.uniform(2, 22, (17, 2)), np.ones((17, 1))], -1)
      kp[[3, 4]] = 0
      if k == persons - 1 and t == labelled[0]:
        kp[:, 2] = 0
      annotations.append({
          "id": image_id * 100 + k, "image_id": image_id, "track_id": k,
          "category_id": 1, "keypoints": kp.reshape(-1).tolist(),
          "bbox": [2.0, 2.0, 20.0, 20.0], "bbox_head": [5.0, 2.0, 4.0, 4.0],
          **(extra or {})})
  return name, {"images": images, "annotations": annotations, "categories": [
      {"supercategory": "person", "id": 1, "name": "person",
       "keypoints": list(POSETRACK_KEYPOINTS), "skeleton": []}]}


def write_fake_posetrack(root: pathlib.Path, annotations_dir: str = "annotations",
                         extra: dict | None = None, version: int = 18
                         ) -> dict[str, list[str]]:
  """A tiny PoseTrack-layout release: 2 train videos, 1 val video.

  Train video 1's frame 4 and val frame 1 hold people without being labelled
  (``is_labeled`` false): no example. ``version`` 17 writes poseval's ``annolist``
  files instead. Returns the video names per split.
  """
  import json  # pylint: disable=g-import-not-at-top
  videos = {"train": [fake_posetrack_video("train", 1, 5, [1, 2, 3], extra=extra,
                                           annotated=(4,)),
                      fake_posetrack_video("train", 2, 4, [0, 3], seed=1,
                                           extra=extra)],
            "val": [fake_posetrack_video("val", 3, 6, [0, 2, 4, 5], seed=2,
                                         extra=extra, annotated=(1,))]}
  for split, items in videos.items():
    for name, data in items:
      for k, image in enumerate(data["images"]):
        _jpeg(root / image["file_name"], image["id"] % 1000)
      path = root / annotations_dir / split / f"{name}.json"
      path.parent.mkdir(parents=True, exist_ok=True)
      path.write_text(json.dumps(posetrack18_to_17(data) if version == 17 else data))
  return {split: [n for n, _ in items] for split, items in videos.items()}


# PoseTrack18 slot of poseval joint id 0..14.
_POSEVAL_SLOTS = (16, 14, 12, 11, 13, 15, 10, 8, 6, 5, 7, 9, 1, 0, 2)


def posetrack18_to_17(data: dict) -> dict:
  """A PoseTrack18 video dict in poseval's PoseTrack17 ``annolist`` format."""
  annolist = []
  for image in data["images"]:
    rects = []
    for ann in data["annotations"]:
      if ann["image_id"] != image["id"]:
        continue
      kp = np.asarray(ann["keypoints"]).reshape(17, 3)
      x, y, w, h = ann["bbox_head"]
      points = [{"id": [j], "x": [float(kp[s, 0])], "y": [float(kp[s, 1])],
                 "is_visible": [int(kp[s, 2])]}
                for j, s in enumerate(_POSEVAL_SLOTS) if kp[s, 2] > 0]
      rects.append({"x1": [x], "y1": [y], "x2": [x + w], "y2": [y + h],
                    "track_id": [ann["track_id"]], "annopoints": [{"point": points}]})
    entry = {"image": [{"name": image["file_name"]}], "annorect": rects,
             "is_labeled": [int(image["is_labeled"])]}
    if image["ignore_regions_x"]:
      entry["ignore_regions"] = [
          {"point": [{"x": [px], "y": [py]} for px, py in zip(xs, ys)]}
          for xs, ys in zip(image["ignore_regions_x"], image["ignore_regions_y"])]
    annolist.append(entry)
  return {"annolist": annolist}


def write_fake_jhmdb(root: pathlib.Path, masks: bool = True) -> None:
  """A tiny JHMDB release: 2 actions x 2 clips of 4-5 PNG frames, 3 sub_splits.

  ``pos_img`` is 1-based (2, 15, T) as in JHMDB; the first clip has a puppet mask.
  """
  import scipy.io  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  clips = [("catch", "clip_a", 4), ("catch", "clip_b", 5), ("run", "clip_c", 4),
           ("run", "clip_d", 4)]
  for action, video, frames in clips:
    folder = root / "Rename_Images" / action / video
    folder.mkdir(parents=True)
    for t in range(frames):
      Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)).save(
          folder / f"{t + 1:05d}.png")
    pos = rng.uniform(4, 20, (2, 15, frames))
    mat = root / "joint_positions" / action / video
    mat.mkdir(parents=True)
    scipy.io.savemat(mat / "joint_positions.mat", {"pos_img": pos})
    if masks and video == "clip_a":
      mask = np.zeros((24, 32, frames), np.uint8)
      mask[3:21, 5:25] = 1
      (root / "puppet_mask" / action / video).mkdir(parents=True)
      scipy.io.savemat(root / "puppet_mask" / action / video / "puppet_mask.mat",
                       {"part_mask": mask})
  (root / "sub_splits").mkdir()
  for k in (1, 2, 3):
    for action, names in (("catch", ("clip_a", "clip_b")), ("run", ("clip_c", "clip_d"))):
      lines = [f"{n}.avi {1 if (i + k) % 2 else 2}" for i, n in enumerate(names)]
      (root / "sub_splits" / f"{action}_test_split{k}.txt").write_text(
          "\n".join(lines) + "\n")


def write_fake_coco(root: pathlib.Path, *, train: bool = True,
                    detections: bool = True) -> dict:
  """A tiny COCO 2017 release: val2017 (3 images), train2017 (2), person keypoints.

  Val image 1 holds two people, a crowd and a person without labelled keypoints
  (the last two make no example); image 2 one person whose box runs past the border
  (clipped); image 3 nobody. With ``detections``, ViTPose's
  detection file: 4 valid boxes, a non-person, one of zero width, one outside.
  Returns {"val": annotation dict, "train": ...}.
  """
  import json  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)

  def person(ann_id, image_id, box, crowd=0, visible=True):
    x, y, w, h = box
    kp = np.stack([rng.uniform(x + 2, x + w - 2, 17), rng.uniform(y + 2, y + h - 2, 17),
                   np.full(17, 2.0 if visible else 0.0)], -1)
    if not visible:
      kp[:] = 0
    return {"id": ann_id, "image_id": image_id, "category_id": 1, "iscrowd": crowd,
            "bbox": list(map(float, box)), "area": float(w * h),
            "num_keypoints": 17 if visible else 0,
            "keypoints": kp.reshape(-1).round(2).tolist()}

  size = (96, 72)
  layouts = {
      "val": {1: [person(1, 1, (10, 8, 30, 50)), person(2, 1, (50, 10, 30, 50)),
                  person(3, 1, (5, 5, 40, 40), crowd=1),
                  person(4, 1, (60, 30, 20, 30), visible=False)],
              2: [person(6, 2, (70, 20, 40, 50))], 3: []},
      "train": {11: [person(11, 11, (10, 10, 40, 50))],
                12: [person(12, 12, (30, 5, 40, 60)), person(13, 12, (5, 5, 30, 40))]},
  }
  out = {}
  for split, people in layouts.items():
    if split == "train" and not train:
      continue
    images = []
    for image_id in people:
      name = f"{image_id:012d}.jpg"
      _jpeg(root / f"{split}2017" / name, image_id, size)
      images.append({"id": image_id, "file_name": name, "width": size[0],
                     "height": size[1]})
    data = {"images": images,
            "annotations": [a for anns in people.values() for a in anns],
            "categories": [{"id": 1, "name": "person",
                            "keypoints": list(skeletons.COCO.joint_names),
                            "skeleton": []}]}
    path = root / "annotations" / f"person_keypoints_{split}2017.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    out[split] = data
  if detections:
    path = (root / "person_detection_results"
            / "COCO_val2017_detections_AP_H_56_person.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([
        {"image_id": 1, "category_id": 1, "bbox": [10, 8, 30, 50], "score": 0.9},
        {"image_id": 1, "category_id": 1, "bbox": [52, 12, 28, 46], "score": 0.8},
        {"image_id": 1, "category_id": 2, "bbox": [10, 8, 30, 50], "score": 0.9},
        {"image_id": 2, "category_id": 1, "bbox": [70, 20, 0, 50], "score": 0.9},
        {"image_id": 2, "category_id": 1, "bbox": [70, 20, 26, 50], "score": 0.7},
        {"image_id": 3, "category_id": 1, "bbox": [200, 20, 30, 50], "score": 0.9},
        {"image_id": 3, "category_id": 1, "bbox": [30, 10, 30, 50], "score": 0.05},
    ]))
  return out
