"""Renders small PoseTrack18-format videos of moving people, with no download.

People: the procedural 3D motion of ``synthetic_motion`` (subjects' bodies, nine
motion families) viewed from a random side angle (orthographic, scaled to the
frame), drawn as shaded capsules (limbs, neck, torso) and an ellipse head, with
skin / shirt / trouser colours, the left limbs mixed with a warm hue and the right
with a cool one so that a single frame tells the sides apart. Scenes: a textured
background and moving coloured blobs (distractors); sometimes an unannotated person
covered by an ignore region.

Temporal context matters: in 40 % of the frames a person is corrupted (two to
four limb joints hidden under opaque textured patches or faded into the
background, or the whole person blurred and faded) while the neighbouring
frames, corrupted independently, are mostly clean. A per-frame model has to guess those
joints; a video model can take them from the neighbours.

The output is the PoseTrack18 release layout: ``images/{train,val}/<video>/
<frame>.jpg`` and ``annotations/{train,val}/<video>.json`` with 17 keypoints in
PoseTrack slots (ears left [0, 0, 0] as in the real data), ``bbox``,
``bbox_head``, ``track_id``, ``is_labeled`` and ``ignore_regions_x/_y``. Videos
are named ``NNNNNN_mpii_{train,test}`` so that the official poseval accepts them.
Everything is determined by the seed; each video has its own seed.
"""

from __future__ import annotations

import dataclasses
import io
import json
import pathlib

import numpy as np

from sasmamba_jax import skeletons
from sasmamba_jax.datasets.synthetic_motion import motion

# PoseTrack slots (skeletons.POSETRACK).
NOSE, HEAD_BOTTOM, HEAD_TOP = 0, 1, 2
L_SHO, R_SHO, L_ELB, R_ELB, L_WRI, R_WRI = 5, 6, 7, 8, 9, 10
L_HIP, R_HIP, L_KNE, R_KNE, L_ANK, R_ANK = 11, 12, 13, 14, 15, 16
# H36M-17 joint -> PoseTrack slot, for the joints that carry over directly.
_FROM_H36M = {L_SHO: 11, R_SHO: 14, L_ELB: 12, R_ELB: 15, L_WRI: 13, R_WRI: 16,
              L_HIP: 4, R_HIP: 1, L_KNE: 5, R_KNE: 2, L_ANK: 6, R_ANK: 3}
# Limbs: (slot a, slot b, part, side) with part 0 skin, 1 shirt, 2 trousers.
_LIMBS = ((L_SHO, L_ELB, 1, 1), (L_ELB, L_WRI, 0, 1), (R_SHO, R_ELB, 1, -1),
          (R_ELB, R_WRI, 0, -1), (L_HIP, L_KNE, 2, 1), (L_KNE, L_ANK, 2, 1),
          (R_HIP, R_KNE, 2, -1), (R_KNE, R_ANK, 2, -1))
_OCCLUDABLE = (L_ELB, R_ELB, L_WRI, R_WRI, L_KNE, R_KNE, L_ANK, R_ANK)
FPS = 25
# Limb hues of the left and right side (_side_colour).
_LEFT_HUE = np.asarray([1.0, 0.85, 0.2])
_RIGHT_HUE = np.asarray([0.15, 0.35, 1.0])
_SIDE_MIX = 0.45


@dataclasses.dataclass(frozen=True)
class RenderConfig:
  """Sizes of a synthetic video set.

  Attributes:
    num_videos: {"train": N, "val": M}.
    frames_per_video: frames of every video.
    width, height: frame size in pixels.
    max_persons: 1..max_persons annotated people per video.
    person_height: (min, max) standing height in pixels.
    corrupt_prob: probability that a person is corrupted in a frame.
    val_label_every: val frames labelled every k-th frame (train: every frame).
    crowd_prob: probability that a video has an unannotated, ignored person.
    seed: seed of everything.
    jpeg_quality: Pillow JPEG quality.
  """
  num_videos: tuple[tuple[str, int], ...] = (("train", 24), ("val", 8))
  frames_per_video: int = 30
  width: int = 160
  height: int = 120
  max_persons: int = 2
  person_height: tuple[float, float] = (70.0, 100.0)
  corrupt_prob: float = 0.4
  val_label_every: int = 2
  crowd_prob: float = 0.3
  seed: int = 0
  jpeg_quality: int = 90


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cells: int) -> np.ndarray:
  """(h, w) low-frequency noise in [0, 1]: a coarse grid, bilinearly upsampled."""
  gh, gw = cells + 1, max(int(cells * w / h), 1) + 1
  grid = rng.uniform(0, 1, (gh, gw))
  ys = np.linspace(0, gh - 1, h)
  xs = np.linspace(0, gw - 1, w)
  y0, x0 = np.floor(ys).astype(int).clip(0, gh - 2), np.floor(xs).astype(int).clip(
      0, gw - 2)
  fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
  g = grid
  return ((1 - fy) * (1 - fx) * g[y0][:, x0] + (1 - fy) * fx * g[y0][:, x0 + 1]
          + fy * (1 - fx) * g[y0 + 1][:, x0] + fy * fx * g[y0 + 1][:, x0 + 1])


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
  base = rng.uniform(0.2, 0.8, 3)
  tint = rng.uniform(-0.25, 0.25, 3)
  coarse = _smooth_noise(rng, h, w, 3)[..., None]
  fine = _smooth_noise(rng, h, w, 12)[..., None]
  img = base + tint * (coarse - 0.5) * 2 + 0.12 * (fine - 0.5)
  img += rng.normal(0, 0.02, (h, w, 3))
  return img.clip(0, 1).astype(np.float32)


def _capsule(img: np.ndarray, a: np.ndarray, b: np.ndarray, radius: float,
             colour: np.ndarray) -> None:
  """Draws a shaded capsule (segment a-b, radius) in place."""
  h, w = img.shape[:2]
  lo = np.floor(np.minimum(a, b) - radius - 1).astype(int)
  hi = np.ceil(np.maximum(a, b) + radius + 1).astype(int)
  x0, y0 = max(lo[0], 0), max(lo[1], 0)
  x1, y1 = min(hi[0], w), min(hi[1], h)
  if x0 >= x1 or y0 >= y1:
    return
  ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32) + 0.5
  ab = b - a
  denom = float(ab @ ab) or 1.0
  t = np.clip(((xs - a[0]) * ab[0] + (ys - a[1]) * ab[1]) / denom, 0, 1)
  d = np.hypot(xs - (a[0] + t * ab[0]), ys - (a[1] + t * ab[1]))
  cover = np.clip(radius + 0.5 - d, 0, 1)[..., None]  # anti-aliased edge
  shade = (0.65 + 0.35 * np.sqrt(np.clip(1 - (d / radius) ** 2, 0, 1)))[..., None]
  patch = img[y0:y1, x0:x1]
  patch[:] = patch * (1 - cover) + cover * colour * shade


def _ellipse(img: np.ndarray, centre: np.ndarray, axes: tuple[float, float],
             angle: float, colour: np.ndarray) -> None:
  h, w = img.shape[:2]
  r = max(axes) + 1
  x0, y0 = max(int(centre[0] - r), 0), max(int(centre[1] - r), 0)
  x1, y1 = min(int(centre[0] + r) + 1, w), min(int(centre[1] + r) + 1, h)
  if x0 >= x1 or y0 >= y1:
    return
  ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32) + 0.5
  c, s = np.cos(angle), np.sin(angle)
  u = ((xs - centre[0]) * c + (ys - centre[1]) * s) / axes[0]
  v = (-(xs - centre[0]) * s + (ys - centre[1]) * c) / axes[1]
  q = np.sqrt(u * u + v * v)
  cover = np.clip((1 - q) * min(axes) + 0.5, 0, 1)[..., None]
  shade = (0.7 + 0.3 * np.sqrt(np.clip(1 - q * q, 0, 1)))[..., None]
  patch = img[y0:y1, x0:x1]
  patch[:] = patch * (1 - cover) + cover * colour * shade


@dataclasses.dataclass
class _Person:
  points: np.ndarray  # (T, 17, 2) image positions (ears unused)
  depth: np.ndarray  # (T, 17) larger = farther
  colours: tuple[np.ndarray, np.ndarray, np.ndarray]  # skin, shirt, trousers
  width: float  # limb radius in pixels


def _person(rng: np.random.Generator, num_frames: int, anchor_x: float,
            ground_y: float, height_px: float) -> _Person:
  body = motion.sample_body(rng)
  family = str(rng.choice(motion.FAMILIES))
  world = motion.forward_kinematics(body, motion.make_motion(family, num_frames, FPS,
                                                             rng))  # (T, 17, 3) mm
  world = world - 0.85 * np.concatenate(
      [world[:, :1, :2], np.zeros((num_frames, 1, 1))], -1)  # mostly in place
  world[..., :2] -= world[0, 0, :2]
  yaw = rng.uniform(-np.pi, np.pi)
  c, s = np.cos(yaw), np.sin(yaw)
  x = c * world[..., 0] - s * world[..., 1]
  depth = s * world[..., 0] + c * world[..., 1]
  scale = height_px / 1750.0
  pts17 = np.stack([anchor_x + scale * x, ground_y - scale * world[..., 2]], -1)
  dep17 = depth
  points = np.zeros((num_frames, 17, 2))
  depths = np.zeros((num_frames, 17))
  for slot, j in _FROM_H36M.items():
    points[:, slot], depths[:, slot] = pts17[:, j], dep17[:, j]
  # Head: H36M 9 (nose / neck base) and 10 (head top); nose pushed forward.
  hips = world[:, 4] - world[:, 1]
  forward = np.stack([-hips[:, 1], hips[:, 0]], -1)
  forward /= np.linalg.norm(forward, axis=-1, keepdims=True) + 1e-9
  fx = c * forward[:, 0] - s * forward[:, 1]
  fd = s * forward[:, 0] + c * forward[:, 1]
  neck, top = pts17[:, 9], pts17[:, 10]
  points[:, HEAD_BOTTOM] = 0.5 * (pts17[:, 8] + neck)
  points[:, HEAD_TOP] = top + 0.35 * (top - neck)
  points[:, NOSE] = neck + 0.45 * (top - neck) + np.stack(
      [scale * 90 * fx, np.zeros(num_frames)], -1)
  depths[:, [HEAD_BOTTOM, HEAD_TOP]] = dep17[:, [8, 10]]
  depths[:, NOSE] = dep17[:, 9] - 90 * fd
  skin = np.asarray([0.95, 0.75, 0.6]) * rng.uniform(0.55, 1.0)
  shirt = rng.uniform(0.1, 0.95, 3)
  trousers = rng.uniform(0.05, 0.7, 3)
  return _Person(points, depths, (skin, shirt, trousers), max(height_px / 28, 1.5))


def _side_colour(colour: np.ndarray, side: int) -> np.ndarray:
  """A limb's colour: its part's colour mixed with a warm (left) or cool (right) hue.

  Without a clear cue a single frame cannot tell left from right (a person seen from
  behind mirrors one seen from the front): with the left limbs only lighter, a
  per-frame ViTPose put a quarter of the joints on the wrong side, an error that no
  temporal context fixes.
  """
  hue = _LEFT_HUE if side > 0 else _RIGHT_HUE
  return (1 - _SIDE_MIX) * colour + _SIDE_MIX * hue


def _draw_person(img: np.ndarray, p: _Person, t: int) -> None:
  pts, dep = p.points[t], p.depth[t]
  parts = []
  for a, b, part, side in _LIMBS:
    colour = _side_colour(p.colours[part], side)
    parts.append((dep[[a, b]].mean(), "capsule", pts[a], pts[b], p.width,
                  np.clip(colour, 0, 1)))
  sho, hip = pts[[L_SHO, R_SHO]].mean(0), pts[[L_HIP, R_HIP]].mean(0)
  torso_w = max(np.linalg.norm(pts[L_SHO] - pts[R_SHO]) / 2, p.width * 1.6)
  parts.append((dep[[L_SHO, R_SHO, L_HIP, R_HIP]].mean(), "capsule", sho, hip,
                torso_w, p.colours[1]))
  parts.append((dep[[L_HIP, R_HIP]].mean(), "capsule", pts[L_HIP], pts[R_HIP],
                p.width * 1.3, p.colours[2]))
  parts.append((dep[HEAD_BOTTOM], "capsule", sho, pts[HEAD_BOTTOM], p.width * 0.8,
                p.colours[0]))
  head_c = 0.5 * (pts[HEAD_BOTTOM] + pts[HEAD_TOP])
  axis = pts[HEAD_TOP] - pts[HEAD_BOTTOM]
  length = max(float(np.linalg.norm(axis)) / 2, 2.0)
  angle = float(np.arctan2(axis[1], axis[0]))
  parts.append((dep[HEAD_TOP] - 1e-3, "ellipse", head_c, (length, length * 0.75),
                angle, p.colours[0]))
  # Nose: a small darker dot that tells the facing direction.
  parts.append((dep[NOSE], "ellipse", pts[NOSE], (p.width * 0.6, p.width * 0.6), 0.0,
                p.colours[0] * 0.6))
  for part in sorted(parts, key=lambda q: -q[0]):  # far to near
    if part[1] == "capsule":
      _capsule(img, np.asarray(part[2], np.float32), np.asarray(part[3], np.float32),
               part[4], part[5])
    else:
      _ellipse(img, part[2], part[3], part[4], part[5])


def _box_blur(img: np.ndarray, k: int) -> np.ndarray:
  pad = np.pad(img, ((k, k), (k, k), (0, 0)), mode="edge")
  c = np.cumsum(np.cumsum(pad, 0), 1)
  c = np.pad(c, ((1, 0), (1, 0), (0, 0)))
  n = 2 * k + 1
  h, w = img.shape[:2]
  return (c[n:n + h, n:n + w] - c[:h, n:n + w] - c[n:n + h, :w] + c[:h, :w]) / (n * n)


def _corrupt(img: np.ndarray, background: np.ndarray, p: _Person, t: int,
             rng: np.random.Generator) -> None:
  """Hides some of the person in this frame (its neighbours are drawn anew).

  One of: opaque textured patches over 2-4 limb joints (50 %), those joints faded
  into the background (25 %), or the whole person blurred and faded (25 %).
  """
  pts = p.points[t]
  h, w = img.shape[:2]
  mode = rng.uniform()
  if mode < 0.75:
    for slot in rng.choice(_OCCLUDABLE, size=rng.integers(2, 5), replace=False):
      r = p.width * rng.uniform(2.2, 3.5)
      centre = pts[slot] + rng.normal(0, p.width * 0.5, 2)
      x0, y0 = int(max(centre[0] - r, 0)), int(max(centre[1] - r, 0))
      x1, y1 = int(min(centre[0] + r, w)), int(min(centre[1] + r, h))
      if x0 >= x1 or y0 >= y1:
        continue
      if mode < 0.5:  # an opaque textured occluder
        noise = rng.uniform(-0.15, 0.15, (y1 - y0, x1 - x0, 1))
        img[y0:y1, x0:x1] = np.clip(rng.uniform(0.1, 0.9, 3) + noise, 0, 1)
      else:  # the joint's surroundings lose their contrast
        alpha = rng.uniform(0.75, 0.95)
        img[y0:y1, x0:x1] = ((1 - alpha) * img[y0:y1, x0:x1]
                             + alpha * background[y0:y1, x0:x1])
  else:  # blur the whole person and fade it into the background
    lo = np.floor(pts[5:].min(0) - 3 * p.width).astype(int).clip(0)
    hi = np.ceil(pts[5:].max(0) + 3 * p.width).astype(int)
    x0, y0, x1, y1 = lo[0], lo[1], min(hi[0], w), min(hi[1], h)
    if x0 < x1 and y0 < y1:
      region = _box_blur(img[y0:y1, x0:x1], 2)
      alpha = rng.uniform(0.6, 0.85)
      img[y0:y1, x0:x1] = (1 - alpha) * region + alpha * background[y0:y1, x0:x1]


def _encode(img: np.ndarray, quality: int) -> bytes:
  from PIL import Image  # pylint: disable=g-import-not-at-top
  buf = io.BytesIO()
  Image.fromarray((img.clip(0, 1) * 255 + 0.5).astype(np.uint8)).save(
      buf, format="JPEG", quality=quality)
  return buf.getvalue()


def _keypoints(points: np.ndarray, w: int, h: int) -> np.ndarray:
  """(17, 2) -> (17, 3) PoseTrack keypoints; ears and joints outside are zero."""
  kp = np.concatenate([points, np.ones((17, 1))], -1)
  outside = ((points[:, 0] < 0) | (points[:, 0] > w - 1) | (points[:, 1] < 0)
             | (points[:, 1] > h - 1))
  kp[outside] = 0
  kp[[3, 4]] = 0
  return kp


def render_video(config: RenderConfig, split: str, index: int
                 ) -> tuple[str, list[bytes], dict]:
  """One video: (folder name, JPEG bytes per frame, PoseTrack18 annotation dict)."""
  split_id = {"train": 0, "val": 1}[split]
  rng = np.random.default_rng([config.seed, split_id, index])
  w, h, n = config.width, config.height, config.frames_per_video
  seq = 1 + index + 500 * split_id
  name = f"{seq:06d}_mpii_{'train' if split == 'train' else 'test'}"
  background = _background(rng, h, w)
  num_persons = int(rng.integers(1, config.max_persons + 1))
  lanes = (np.arange(num_persons) + 0.5) / num_persons
  persons = [_person(rng, n, w * (0.15 + 0.7 * lanes[k]) + rng.normal(0, w * 0.05),
                     h * rng.uniform(0.85, 0.95), rng.uniform(*config.person_height))
             for k in range(num_persons)]
  crowd = None
  if rng.uniform() < config.crowd_prob:
    crowd = _person(rng, n, w * rng.uniform(0.1, 0.9), h * 0.8,
                    config.person_height[0] * 0.7)
  blobs = [(rng.uniform(0, [w, h]), rng.normal(0, 1.5, 2), rng.uniform(4, 12, 2),
            rng.uniform(0.05, 0.95, 3)) for _ in range(int(rng.integers(1, 4)))]
  order = np.argsort([-p.depth.mean() for p in persons])
  images, annotations, jpegs = [], [], []
  for t in range(n):
    img = background.copy()
    for pos, vel, axes, colour in blobs:
      centre = (pos + vel * t) % [w, h]
      _ellipse(img, centre, tuple(axes), 0.3 * t, colour)
    regions_x, regions_y = [], []
    if crowd is not None:
      _draw_person(img, crowd, t)
      lo = crowd.points[t, 5:].min(0) - 3 * crowd.width
      hi = crowd.points[t, 5:].max(0) + 3 * crowd.width
      lo[1] = min(lo[1], crowd.points[t, HEAD_TOP, 1] - 2 * crowd.width)
      regions_x.append([float(lo[0]), float(hi[0]), float(hi[0]), float(lo[0])])
      regions_y.append([float(lo[1]), float(lo[1]), float(hi[1]), float(hi[1])])
    for k in order:
      _draw_person(img, persons[k], t)
      if rng.uniform() < config.corrupt_prob:
        _corrupt(img, background, persons[k], t, rng)
    jpegs.append(_encode(img, config.jpeg_quality))
    image_id = 10_000_000_000 + seq * 10_000 + t
    labeled = split == "train" or t % config.val_label_every == 0
    images.append({
        "id": image_id, "file_name": f"images/{split}/{name}/{t:06d}.jpg",
        "frame_id": image_id, "vid_id": f"{seq:06d}", "nframes": n,
        "is_labeled": labeled, "has_no_densepose": True,
        "ignore_regions_x": regions_x, "ignore_regions_y": regions_y,
        "width": w, "height": h})
    if not labeled:
      continue
    for k, p in enumerate(persons):
      kp = _keypoints(p.points[t], w, h)
      if not np.any(kp[:, 2] > 0):
        continue
      vis = kp[kp[:, 2] > 0, :2]
      lo, hi = vis.min(0) - 2 * p.width, vis.max(0) + 2 * p.width
      head_c = 0.5 * (p.points[t, HEAD_BOTTOM] + p.points[t, HEAD_TOP])
      side = 1.3 * np.linalg.norm(p.points[t, HEAD_TOP] - p.points[t, HEAD_BOTTOM])
      annotations.append({
          "id": image_id * 100 + k, "image_id": image_id, "category_id": 1,
          "track_id": k, "keypoints": [round(float(v), 3) for v in kp.reshape(-1)],
          "bbox": [float(lo[0]), float(lo[1]), float(hi[0] - lo[0]),
                   float(hi[1] - lo[1])],
          "bbox_head": [float(head_c[0] - side / 2), float(head_c[1] - side / 2),
                        float(side), float(side)]})
  categories = [{"supercategory": "person", "id": 1, "name": "person",
                 "keypoints": list(skeletons.POSETRACK.joint_names),
                 "skeleton": []}]
  return name, jpegs, {"images": images, "annotations": annotations,
                       "categories": categories}


def write_release(root: pathlib.Path, config: RenderConfig) -> None:
  """Renders every video of ``config`` into ``root`` in the PoseTrack18 layout."""
  for split, count in config.num_videos:
    (root / "annotations" / split).mkdir(parents=True, exist_ok=True)
    for index in range(count):
      name, jpegs, data = render_video(config, split, index)
      folder = root / "images" / split / name
      folder.mkdir(parents=True, exist_ok=True)
      for t, jpeg in enumerate(jpegs):
        (folder / f"{t:06d}.jpg").write_bytes(jpeg)
      (root / "annotations" / split / f"{name}.json").write_text(json.dumps(data))
