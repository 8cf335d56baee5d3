"""Pictures of a lifted motion with Pillow: the 2D input beside the 3D pose.

Every picture explains itself: a header with the title, the frame number and time
and a legend (left / right / centre limbs, filled joints); a panel "2D input" with
pixel axes (over the video frame when given); a panel "3D (<units>)" seen from a
named azimuth and elevation, over a ground grid at the lowest joint with ticks in
the poses' units and the skeleton's shadow; notes in amber where the input is
suspect (one frame, nothing detected, a collapsed pose), so a degenerate picture
says why instead of just looking wrong. The same checks feed the HTML viewer
(``viz.html``).

GIF and PNG need nothing beyond Pillow; MP4 needs the optional ``viz`` extra
(``pip install 'sasmamba_jax[viz]'``, for the ffmpeg binary of imageio-ffmpeg).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
import functools
import math
import os
import pathlib
import subprocess
import tempfile

import numpy as np
from PIL import Image
from PIL import ImageDraw
from PIL import ImageFont

from sasmamba_jax import skeletons

LEFT, RIGHT, MID = (66, 135, 245), (245, 110, 66), (205, 205, 205)
FILLED = (255, 221, 87)  # the ring marking a filled joint
_BACKGROUND = (24, 24, 28)
_PANEL = (33, 34, 40)
_IMAGE = (44, 46, 54)
_INK = (232, 232, 236)
_DIM = (150, 152, 162)
_GRID = (72, 75, 86)
_SHADOW = (52, 54, 62)
_NOTE = (255, 190, 70)
MIN_WIDTH = 320


class VizError(ValueError):
  """A rendering request that cannot be met; the message says why."""


def limb_colours(skeleton: skeletons.Skeleton) -> list[tuple[int, int, int]]:
  """(J,) RGB per joint: the subject's left, right, or centre line."""
  return [LEFT if j in skeleton.left else RIGHT if j in skeleton.right else MID
          for j in range(skeleton.num_joints)]


def project_3d(poses: np.ndarray, azimuth_deg: float = 45.0,
               elevation_deg: float = 15.0) -> np.ndarray:
  """(F, J, 3) image-aligned poses (x right, y down, z away) -> (F, J, 2) view.

  The camera turns ``azimuth_deg`` about the vertical axis and looks
  ``elevation_deg`` down on the person; orthographic, y down as in images.
  """
  return _view(poses, azimuth_deg, elevation_deg)[..., :2]


def _view(poses: np.ndarray, azimuth_deg: float, elevation_deg: float) -> np.ndarray:
  """(..., 3) -> (..., 3) in the view frame: x right, y down, z depth."""
  a, e = np.deg2rad(azimuth_deg), np.deg2rad(elevation_deg)
  turn = np.array([[np.cos(a), 0, -np.sin(a)], [0, 1, 0], [np.sin(a), 0, np.cos(a)]])
  tilt = np.array([[1, 0, 0], [0, np.cos(e), -np.sin(e)], [0, np.sin(e), np.cos(e)]])
  return np.asarray(poses, np.float64) @ (tilt @ turn).T


def nice_ticks(low: float, high: float, count: int = 5, *,
               cover: bool = False) -> np.ndarray:
  """About ``count`` round values (steps of 1, 2 or 5 x 10^k) within [low, high].

  With ``cover`` the ticks reach just past both ends instead (a grid's lines).
  """
  span = high - low
  if not span > 0:
    return np.array([low])
  raw = span / max(1, count - 1)
  power = 10.0 ** math.floor(math.log10(raw))
  step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
  if cover:
    first, last = math.floor(low / step + 1e-9), math.ceil(high / step - 1e-9)
  else:
    first, last = math.ceil(low / step - 1e-9), math.floor(high / step + 1e-9)
  ticks = np.arange(first, last + 1) * step
  return np.round(ticks / step) * step  # no 0.30000000000000004


def _label(value: float) -> str:
  return f"{value:.4g}" if abs(value) >= 1e-9 else "0"


def as_tracks(poses_3d: np.ndarray, keypoints_2d: np.ndarray,
              skeleton: skeletons.Skeleton, who: str) -> tuple[np.ndarray, np.ndarray]:
  """(F, J, 3) poses and their (F, J, 2) keypoints as float64, or a ``VizError``
  from ``who`` that names the shapes (F >= 1, J the skeleton's joints)."""
  poses_3d = np.asarray(poses_3d, np.float64)
  keypoints_2d = np.asarray(keypoints_2d, np.float64)[..., :2]
  if poses_3d.ndim != 3 or poses_3d.shape[-1] != 3 or \
      keypoints_2d.shape[:2] != poses_3d.shape[:2]:
    raise VizError(f"{who}: expected (F, J, 3) poses and (F, J, 2) keypoints of "
                   f"the same F, J; got {poses_3d.shape} and {keypoints_2d.shape}")
  frames, joints = poses_3d.shape[:2]
  if frames == 0:
    raise VizError(f"{who}: no frames (F = 0)")
  if joints != skeleton.num_joints:
    raise VizError(f"{who}: {joints} joints, but the {skeleton.name} skeleton has "
                   f"{skeleton.num_joints}; pass skeleton=")
  return poses_3d, keypoints_2d


def check_poses(poses_3d: np.ndarray, keypoints_2d: np.ndarray,
                filled: np.ndarray | None = None) -> dict[str, list[str]]:
  """Notes on input that renders but looks wrong, so the picture can say why.

  Args:
    poses_3d: (F, J, 3) finite poses.
    keypoints_2d: (F, J, 2) finite keypoints.
    filled: (F, J) bool, or None.

  Returns:
    {"all": [...], "2d": [...], "3d": [...]}: sequence-wide notes and notes on
    each panel (empty lists when all is well).
  """
  notes: dict[str, list[str]] = {"all": [], "2d": [], "3d": []}
  frames = poses_3d.shape[0]
  if frames == 1:
    notes["all"].append("a single frame: nothing moves")
  if filled is not None and filled.all():
    notes["2d"].append("every joint is filled: nothing was detected, the 2D is "
                       "interpolated")
  if not np.ptp(keypoints_2d.reshape(-1, 2), axis=0).any():
    notes["2d"].append("all keypoints sit at one point: no pose to lift")
  centred = poses_3d - poses_3d.mean(1, keepdims=True)
  spread = np.linalg.svd(centred.reshape(-1, 3), compute_uv=False) / math.sqrt(
      centred.shape[0] * centred.shape[1])
  if spread[0] <= 1e-9 * max(1.0, float(np.abs(poses_3d).max())):
    notes["3d"].append("all joints at one point: the model output carries no pose "
                       "(untrained or failed model?)")
  elif spread[1] < 0.05 * spread[0]:
    notes["3d"].append("the joints lie almost on a line: a collapsed pose (weakly "
                       "trained model?)")
  return notes


@functools.lru_cache(maxsize=32)
def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
  return ImageFont.load_default(size=max(8, size))


@dataclasses.dataclass(frozen=True)
class Layout:
  """Where things go in a picture: (x0, y0, x1, y1) boxes in pixels."""

  size: tuple[int, int]
  scale: float                         # 1 at 1280 px wide: fonts and lines
  header: tuple[int, int, int, int]
  panels: tuple[tuple[int, int, int, int], ...]  # 2D input, 3D [, reference]
  plots: tuple[tuple[int, int, int, int], ...]   # inside each panel's axes


def layout(width: int = 1280, height: int | None = None, num_3d: int = 1) -> Layout:
  """The layout of a ``width`` x ``height`` picture with ``num_3d`` 3D panels."""
  if width < MIN_WIDTH:
    raise VizError(f"width = {width}: pictures need at least {MIN_WIDTH} px to read")
  height = int(round(width * 9 / 16)) if height is None else int(height)
  if height < width // 4:
    raise VizError(f"height = {height}: at least a quarter of the width ({width})")
  s = width / 1280
  header = (0, 0, width, int(round(56 * s)))
  count = 1 + num_3d
  gap = max(2, int(round(8 * s)))
  pw = (width - gap * (count + 1)) // count  # whole pixels: equal panels
  panels, plots = [], []
  for i in range(count):
    x0 = gap + i * (pw + gap)
    box = (x0, header[3], x0 + pw, height - gap)
    panels.append(box)
    title, axis_left, axis_bottom, pad = (int(round(v * s)) for v in (34, 58, 40, 12))
    if i == 0:
      plots.append((box[0] + axis_left, box[1] + title, box[2] - pad,
                    box[3] - axis_bottom))
    else:  # the 3D axes are drawn inside the scene
      plots.append((box[0] + pad, box[1] + title, box[2] - pad, box[3] - pad))
  return Layout((width, height), s, header, tuple(panels), tuple(plots))


def image_box(lay: Layout, image_size: Sequence[float]
              ) -> tuple[tuple[int, int, int, int], float]:
  """Where the 2D input's image goes: ((x0, y0, x1, y1) box, pixels per image px)."""
  plot = lay.plots[0]
  w, h = (float(v) for v in image_size)
  k = min((plot[2] - plot[0]) / w, (plot[3] - plot[1]) / h)
  box_w, box_h = int(round(w * k)), int(round(h * k))
  x0 = int(plot[0] + (plot[2] - plot[0] - box_w) / 2)
  y0 = int(plot[1] + (plot[3] - plot[1] - box_h) / 2)
  return (x0, y0, x0 + box_w, y0 + box_h), k


def _text(draw, xy, text, size, fill=_INK, anchor="la"):
  draw.text(xy, text, fill=fill, font=_font(size), anchor=anchor)


def _draw_skeleton(draw: ImageDraw.ImageDraw, points: np.ndarray, depth: np.ndarray,
                   skeleton: skeletons.Skeleton, width: int,
                   filled: np.ndarray | None):
  """Bones far to near (``depth`` grows away), joints on top; filled ringed."""
  colours = limb_colours(skeleton)
  bones = [(j, p) for j, p in enumerate(skeleton.parents) if p >= 0]
  bones.sort(key=lambda b: -(depth[b[0]] + depth[b[1]]))
  for j, p in bones:
    colour = colours[j]
    if filled is not None and (filled[j] or filled[p]):
      colour = tuple((c + 2 * b) // 3 for c, b in zip(colour, _PANEL))
    draw.line([tuple(points[p]), tuple(points[j])], fill=colour, width=width)
  r = width + 1
  for j in np.argsort(-depth):
    x, y = points[j]
    if filled is not None and filled[j]:
      draw.ellipse([x - r - 2, y - r - 2, x + r + 2, y + r + 2], outline=FILLED,
                   width=max(1, width // 2 + 1))
    else:
      draw.ellipse([x - r, y - r, x + r, y + r], fill=colours[j])


def _wrap(text: str, font, width: float) -> list[str]:
  lines, line = [], ""
  for word in text.split():
    if line and font.getlength(f"{line} {word}") > width:
      lines.append(line)
      line = word
    else:
      line = f"{line} {word}".strip()
  return lines + [line]


def _notes(draw, box, notes, s):
  """Amber lines at the bottom of ``box``, wrapped to its width."""
  y = box[3] - int(10 * s)
  size = int(round(15 * s))
  lines = [line for note in notes
           for line in _wrap(note, _font(size), box[2] - box[0] - 28 * s)]
  for note in reversed(lines):
    bbox = draw.textbbox((box[0] + 10 * s, y), note, font=_font(size), anchor="ld")
    draw.rectangle([bbox[0] - 4, bbox[1] - 3, bbox[2] + 4, bbox[3] + 3],
                   fill=_BACKGROUND)
    _text(draw, (box[0] + 10 * s, y), note, size, _NOTE, "ld")
    y = bbox[1] - int(8 * s)


class _Scene:
  """The fixed 3D frame of a sequence: ground, grid, ticks and the view scale."""

  def __init__(self, poses: list[np.ndarray], plot: tuple[int, int, int, int],
               azimuth: float, elevation: float, margin: float = 0.0):
    points = np.concatenate([p.reshape(-1, 3) for p in poses])
    self.azimuth, self.elevation = azimuth, elevation
    self.ground = float(points[:, 1].max())  # y grows down: the lowest joint
    top = float(points[:, 1].min())
    reach = float(np.abs(points[:, [0, 2]]).max())
    size = max(reach, 0.3 * (self.ground - top))
    if not size > 0:  # every joint at one point: a unit frame around it
      size, top = 1.0, self.ground - 1.0
    self.ticks = nice_ticks(-size, size, 7, cover=True)
    self.half = float(max(abs(self.ticks[0]), abs(self.ticks[-1]), size))
    self.height = self.ground - top
    corners = np.array([[x, y, z] for x in (-self.half, self.half)
                        for y in (top, self.ground) for z in (-self.half, self.half)])
    view = _view(np.concatenate([corners, points]), azimuth, elevation)
    low, high = view[:, :2].min(0), view[:, :2].max(0)
    # ``margin`` px are kept free left and right for the axis names.
    w, h = max(1.0, plot[2] - plot[0] - 2 * margin), plot[3] - plot[1]
    self.scale = 0.9 * min(w / max(high[0] - low[0], 1e-12),
                            h / max(high[1] - low[1], 1e-12))
    self.offset = np.array([(plot[0] + plot[2]) / 2, (plot[1] + plot[3]) / 2]
                           ) - self.scale * (low + high) / 2

  def to_screen(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    view = _view(points, self.azimuth, self.elevation)
    return view[..., :2] * self.scale + self.offset, view[..., 2]

  def draw_frame(self, draw: ImageDraw.ImageDraw, units: str, s: float):
    g, h = self.ground, self.half
    line = max(1, int(round(s)))
    for t in self.ticks:
      for a, b in (((t, g, -h), (t, g, h)), ((-h, g, t), (h, g, t))):
        (p, q), _ = self.to_screen(np.array([a, b]))
        draw.line([tuple(p), tuple(q)], fill=_GRID, width=line)
    size = int(round(13 * s))
    # Tick labels along the grid's nearest x and z edges.
    near_z = -h if self.to_screen(np.array([0, g, -h]))[1] < \
        self.to_screen(np.array([0, g, h]))[1] else h
    near_x = -h if self.to_screen(np.array([-h, g, 0]))[1] < \
        self.to_screen(np.array([h, g, 0]))[1] else h
    pad = 0.08 * h
    # Interior ticks only (the corners' labels would collide), every other one
    # where the grid is too small on screen for all of them.
    step_px = np.ptp(self.to_screen(np.array([[self.ticks[0], g, near_z],
                                              [self.ticks[1], g, near_z]]))[0], 0)
    every = 1 if np.hypot(*step_px) > 2.6 * size else 2
    for t in self.ticks[1:-1][every - 1::every]:
      (p,), _ = self.to_screen(np.array([[t, g, near_z + np.sign(near_z) * pad]]))
      _text(draw, tuple(p), _label(t), size, _DIM, "mm")
      (p,), _ = self.to_screen(np.array([[near_x + np.sign(near_x) * pad, g, t]]))
      _text(draw, tuple(p), _label(t), size, _DIM, "mm")
    # Axis names beside the grid's side corners, where the edges end.
    for name, corner in ((f"x ({units})", (-near_x, near_z)),
                         (f"z ({units})", (near_x, -near_z))):
      (p,), _ = self.to_screen(np.array([[corner[0], g, corner[1]]]))
      (c,), _ = self.to_screen(np.array([[0.0, g, 0.0]]))
      right = p[0] >= c[0]
      _text(draw, (p[0] + (10 if right else -10) * s, p[1]), name, size, _INK,
            "lm" if right else "rm")
    # A vertical axis at the grid's leftmost corner: height above the lowest joint.
    corners = [(x, z) for x in (-h, h) for z in (-h, h)]
    cx, cz = min(corners, key=lambda c: self.to_screen(np.array([c[0], g, c[1]]))[0][0])
    heights = nice_ticks(0, self.height, 6)
    ends, _ = self.to_screen(np.array([[cx, g, cz], [cx, g - heights[-1], cz]]))
    draw.line([tuple(ends[0]), tuple(ends[1])], fill=_DIM, width=line)
    for v in heights[1:]:  # 0 is the grid's level
      (p,), _ = self.to_screen(np.array([[cx, g - v, cz]]))
      draw.line([(p[0] - 4 * s, p[1]), (p[0] + 4 * s, p[1])], fill=_DIM, width=line)
      _text(draw, (p[0] - 7 * s, p[1]), _label(v), size, _DIM, "rm")
    _text(draw, (ends[1][0], ends[1][1] - 10 * s), f"up ({units})", size, _INK, "md")


def render_frames(poses_3d: np.ndarray, keypoints_2d: np.ndarray,
                  image_size: Sequence[float], *, width: int = 1280,
                  height: int | None = None,
                  images: Callable[[int], np.ndarray | None] | None = None,
                  filled: np.ndarray | None = None, azimuth_deg: float = 45.0,
                  elevation_deg: float = 15.0, units: str = "model units",
                  fps: float | None = None, frame_numbers: Sequence[int] | None = None,
                  title: str = "", skeleton: skeletons.Skeleton = skeletons.H36M,
                  progress: Callable[[int], None] | None = None,
                  reference_3d: np.ndarray | None = None,
                  reference_label: str = "reference",
                  rows: Sequence[int] | None = None) -> list[Image.Image]:
  """One picture per frame: header | 2D input | 3D pose [| reference].

  Args:
    poses_3d: (F, J, 3) root-relative 3D poses, image-aligned (x right, y down,
      z away from the camera), in ``units``.
    keypoints_2d: (F, J, 2+) 2D keypoints in the pixels of ``image_size``.
    image_size: (width, height) of the 2D keypoints' image.
    width: picture width in pixels (>= 320; fonts and lines scale with it).
    height: picture height; default 9/16 of the width.
    images: frame index -> (H, W, 3) uint8 video frame to draw the 2D pose on
      (None for a plain background).
    filled: (F, J) bool, joints that were filled (not detected): ringed.
    azimuth_deg, elevation_deg: the 3D panels' view (named in their titles).
    units: of ``poses_3d`` ("model units", "mm", ...), named on the 3D axes.
    fps: frames per second, to print the time of each frame.
    frame_numbers: (F,) the input frame number of each row (default 0..F-1).
    title: printed first in the header (e.g. the track name).
    skeleton: the joint layout (colours: its left / right joints).
    progress: called with 1 after each frame (a progress bar's ``update``).
    reference_3d: (F, J, 3) root-relative poses (e.g. the ground truth) drawn in
      a third panel, at the same scale and view as ``poses_3d``.
    reference_label: that panel's title.
    rows: draw only these frames (e.g. a few for a still); the scale, the grid
      and the notes still come from the whole sequence.

  Returns:
    F (or ``len(rows)``) ``PIL.Image`` pictures, ``width`` x ``height``.
  """
  poses_3d, keypoints_2d = as_tracks(poses_3d, keypoints_2d, skeleton,
                                     "render_frames")
  frames, joints = poses_3d.shape[:2]
  if reference_3d is not None:
    reference_3d = np.asarray(reference_3d, np.float64)
    if reference_3d.shape != poses_3d.shape:
      raise VizError(f"render_frames: reference_3d has shape {reference_3d.shape}, "
                     f"poses_3d {poses_3d.shape}; they must match")
  if not (np.all(np.isfinite(poses_3d)) and np.all(np.isfinite(keypoints_2d))
          and (reference_3d is None or np.all(np.isfinite(reference_3d)))):
    raise VizError("render_frames: the poses hold NaN or infinite values")
  if filled is not None:
    filled = np.asarray(filled, bool)
    if filled.shape != (frames, joints):
      raise VizError(f"render_frames: filled has shape {filled.shape}, expected "
                     f"{(frames, joints)}")
  img_w, img_h = (float(v) for v in image_size)
  if not (img_w > 0 and img_h > 0):
    raise VizError(f"render_frames: image_size = {tuple(image_size)} must be > 0")
  numbers = np.arange(frames) if frame_numbers is None else np.asarray(frame_numbers)
  if numbers.shape != (frames,):
    raise VizError(f"render_frames: {len(numbers)} frame_numbers for {frames} frames")
  rows = range(frames) if rows is None else [int(r) for r in rows]
  if any(not 0 <= r < frames for r in rows):
    raise VizError(f"render_frames: rows must lie in [0, {frames}), got {list(rows)}")

  lay = layout(width, height, 1 if reference_3d is None else 2)
  s = lay.scale
  notes = check_poses(poses_3d, keypoints_2d, filled)
  line = max(2, int(round(3 * s)))
  (ix0, iy0, ix1, iy1), k = image_box(lay, (img_w, img_h))
  box_w, box_h = ix1 - ix0, iy1 - iy0
  sequences = [poses_3d] + ([] if reference_3d is None else [reference_3d])
  name_width = max(_font(int(round(13 * s))).getlength(f"{a} ({units})")
                   for a in "xz") + 14 * s
  scenes = [_Scene(sequences, plot, azimuth_deg, elevation_deg, name_width)
            for plot in lay.plots[1:]]
  titles = [f"3D ({units})"] + ([] if reference_3d is None
                                else [f"{reference_label} ({units})"])

  # Everything that does not move is drawn once.
  base = Image.new("RGB", lay.size, _BACKGROUND)
  draw = ImageDraw.Draw(base)
  for box in lay.panels:
    draw.rectangle(box, fill=_PANEL)
  _text(draw, (lay.panels[0][0] + 10 * s, lay.panels[0][1] + 8 * s), "2D input",
        int(round(17 * s)))
  draw.rectangle([ix0, iy0, ix0 + box_w, iy0 + box_h], fill=_IMAGE)
  tick = int(round(13 * s))
  for v in nice_ticks(0, img_w, 6):
    x = ix0 + v * k
    draw.line([(x, iy0 + box_h), (x, iy0 + box_h + 5 * s)], fill=_DIM)
    _text(draw, (x, iy0 + box_h + 7 * s), _label(v), tick, _DIM, "ma")
  for v in nice_ticks(0, img_h, 6):
    y = iy0 + v * k
    draw.line([(ix0 - 5 * s, y), (ix0, y)], fill=_DIM)
    _text(draw, (ix0 - 7 * s, y), _label(v), tick, _DIM, "rm")
  _text(draw, (ix0 + box_w / 2, iy0 + box_h + 22 * s), "x (px)", tick, _INK, "ma")
  _vertical_text(base, (lay.panels[0][0] + 6 * s, iy0 + box_h / 2), "y (px)", tick)
  for scene, box, name in zip(scenes, lay.panels[1:], titles):
    _text(draw, (box[0] + 10 * s, box[1] + 8 * s), name, int(round(17 * s)))
    _text(draw, (box[2] - 10 * s, box[1] + 10 * s),
          f"view: azimuth {azimuth_deg:g}°, elevation {elevation_deg:g}°",
          tick, _DIM, "ra")
    _text(draw, (box[2] - 10 * s, box[1] + 28 * s),
          "x right, z away from the camera, grid at the lowest joint", tick, _DIM,
          "ra")
    layer = Image.new("RGBA", lay.size, (0, 0, 0, 0))
    scene.draw_frame(ImageDraw.Draw(layer), units, s)
    _paste_clipped(base, layer, box)
  # Legend, right of the header.
  x = lay.header[2] - 12 * s
  cy = (lay.header[1] + lay.header[3]) / 2
  legend = [("filled joint (not detected)", None), ("centre", MID), ("right", RIGHT),
            ("left", LEFT)]
  size = int(round(15 * s))
  for name, colour in legend:
    _text(draw, (x, cy), name, size, _INK, "rm")
    x -= draw.textlength(name, font=_font(size)) + 8 * s
    if colour is None:
      r = 6 * s
      draw.ellipse([x - 2 * r, cy - r, x, cy + r], outline=FILLED,
                   width=max(1, line // 2 + 1))
      x -= 2 * r + 22 * s
    else:
      draw.line([(x - 26 * s, cy), (x, cy)], fill=colour, width=line + 1)
      x -= 26 * s + 22 * s

  out = []
  for f in rows:
    canvas = base.copy()
    draw = ImageDraw.Draw(canvas)
    frame = images(f) if images is not None else None
    if frame is not None:
      picture = Image.fromarray(np.asarray(frame, np.uint8)).convert("RGB")
      canvas.paste(picture.resize((box_w, box_h), Image.BILINEAR), (ix0, iy0))
    fade = None if filled is None else filled[f]
    # Each panel is drawn on its own layer so that nothing spills over its edges.
    layer = Image.new("RGBA", lay.size, (0, 0, 0, 0))
    ld = ImageDraw.Draw(layer)
    xy = keypoints_2d[f] * k + [ix0, iy0]
    _draw_skeleton(ld, xy, np.zeros(joints), skeleton, line, fade)
    _paste_clipped(canvas, layer, lay.panels[0])
    for scene, box, poses in zip(scenes, lay.panels[1:], sequences):
      layer = Image.new("RGBA", lay.size, (0, 0, 0, 0))
      ld = ImageDraw.Draw(layer)
      shadow = poses[f].copy()
      shadow[:, 1] = scene.ground
      sxy, _ = scene.to_screen(shadow)
      for j, p in enumerate(skeleton.parents):
        if p >= 0:
          ld.line([tuple(sxy[p]), tuple(sxy[j])], fill=_SHADOW, width=line)
      pxy, depth = scene.to_screen(poses[f])
      _draw_skeleton(ld, pxy, depth, skeleton, line, fade)
      _paste_clipped(canvas, layer, box)
    draw = ImageDraw.Draw(canvas)
    head = [title] if title else []
    head.append(f"frame {int(numbers[f])}")
    if fps:
      head.append(f"{numbers[f] / fps:.2f} s")
    head.append(f"{f + 1} / {frames}")
    _text(draw, (12 * s, cy), "   ·   ".join(head), int(round(20 * s)), _INK, "lm")
    left = notes["all"] + notes["2d"]
    if fade is not None and fade.all() and not filled.all():
      left = left + ["person not detected in this frame: joints interpolated"]
    _notes(draw, lay.panels[0], left, s)
    _notes(draw, lay.panels[1], notes["3d"], s)  # on the poses, not the reference
    out.append(canvas)
    if progress is not None:
      progress(1)
  return out


def _vertical_text(image: Image.Image, xy, text: str, size: int, fill=_INK):
  """Text turned 90 degrees (read bottom to top), left-middle anchored at ``xy``."""
  font = _font(size)
  box = font.getbbox(text)
  label = Image.new("RGBA", (box[2] + 2, box[3] + 2), (0, 0, 0, 0))
  ImageDraw.Draw(label).text((1, 1), text, fill=fill, font=font)
  label = label.rotate(90, expand=True)
  image.paste(label, (int(xy[0]), int(xy[1] - label.size[1] / 2)), label)


def _paste_clipped(canvas: Image.Image, layer: Image.Image, box):
  region = tuple(int(v) for v in box)
  canvas.paste(layer.crop(region), region[:2], layer.crop(region))


def _ffmpeg_exe() -> str:
  try:
    import imageio_ffmpeg  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise VizError("MP4 needs ffmpeg: pip install 'sasmamba_jax[viz]' (or use "
                   "--render=gif)") from None
  return imageio_ffmpeg.get_ffmpeg_exe()


def write_mp4(frames: Sequence[Image.Image], path: pathlib.Path, fps: float) -> None:
  """H.264 through a pipe to imageio-ffmpeg's binary.

  Started with ``process_group=0`` rather than imageio's ``preexec_fn``: a
  ``preexec_fn`` runs Python's fork hooks, and JAX's hook warns that ``os.fork()``
  was called (a JAX process must not fork); without one, CPython spawns the
  process without forking the interpreter, and ffmpeg still ignores the Ctrl-C
  meant for us.
  """
  w, h = frames[0].size
  size = (w - w % 2, h - h % 2)  # yuv420p wants even sizes
  cmd = [_ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "rawvideo",
         "-pix_fmt", "rgb24", "-s", f"{size[0]}x{size[1]}", "-r", f"{fps:g}",
         "-i", "-", "-an", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "20",
         "-movflags", "+faststart", str(path)]
  with tempfile.TemporaryFile() as errors:
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stderr=errors, process_group=0, close_fds=True)
    try:
      for f in frames:
        f = f.convert("RGB")
        proc.stdin.write((f.crop((0, 0) + size) if f.size != size else f).tobytes())
    except BrokenPipeError:
      pass  # ffmpeg stopped: its message is read below
    finally:
      proc.stdin.close()
      code = proc.wait()
    if code != 0:
      errors.seek(0)
      message = errors.read().decode(errors="replace").strip()[-800:]
      raise VizError(f"ffmpeg could not write {path} (exit {code}): {message}")


def _shared_palette(frames: Sequence[Image.Image]) -> list[Image.Image]:
  """Frames on one 255-colour palette drawn from a few of them.

  Against a palette per frame: the GIF is ~40% smaller (unchanged pixels keep
  their index, so frame differences stay small) and written ~8x faster.
  """
  picks = np.unique(np.linspace(0, len(frames) - 1, min(4, len(frames))).round()
                    .astype(int))
  w, h = frames[0].size
  sample = Image.new("RGB", (w * len(picks), h))
  for n, i in enumerate(picks):
    sample.paste(frames[i].convert("RGB"), (n * w, 0))
  palette = sample.quantize(colors=255, method=Image.Quantize.MEDIANCUT)
  return [f.convert("RGB").quantize(palette=palette, dither=Image.Dither.NONE)
          for f in frames]


def save_animation(frames: Sequence[Image.Image], path: str | pathlib.Path,
                   fps: float = 25.0) -> pathlib.Path:
  """Writes frames as a GIF (Pillow) or an MP4 (H.264 via ffmpeg), by suffix.

  The file appears whole or not at all (written aside, then renamed).
  """
  path = pathlib.Path(path)
  if not frames:
    raise VizError("save_animation: no frames to write")
  if path.suffix not in (".gif", ".mp4"):
    raise VizError(f"save_animation: unknown suffix {path.suffix!r}; use .gif or .mp4")
  fps = float(fps) if fps and fps > 0 else 25.0
  tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
  try:
    if path.suffix == ".gif":
      duration = max(20, int(round(1000 / fps)))  # GIF delays are in 10 ms steps
      indexed = _shared_palette(frames)
      indexed[0].save(tmp, save_all=True, append_images=indexed[1:],
                      duration=duration, loop=0, optimize=False)
    else:
      write_mp4(frames, tmp, fps)
    os.replace(tmp, path)
  finally:
    tmp.unlink(missing_ok=True)
  return path


def save_strip(frames: Sequence[Image.Image], path: str | pathlib.Path,
               count: int = 4) -> pathlib.Path:
  """A static PNG of ``count`` evenly spaced frames, one above the other."""
  if not frames:
    raise VizError("save_strip: no frames")
  picks = np.unique(np.linspace(0, len(frames) - 1, min(count, len(frames))).round()
                    .astype(int))
  w, h = frames[0].size
  strip = Image.new("RGB", (w, h * len(picks)), _BACKGROUND)
  for row, i in enumerate(picks):
    strip.paste(frames[i], (0, row * h))
  path = pathlib.Path(path)
  strip.save(path, optimize=True)
  return path
