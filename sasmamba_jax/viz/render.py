"""Renders pose sequences with Pillow: the 2D input (over the video frame when
given) on the left, the 3D pose seen from a turned camera on the right.

GIF needs nothing beyond Pillow; MP4 needs the optional ``viz`` extra
(``pip install 'sasmamba_jax[viz]'``: imageio with its ffmpeg plugin).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
import pathlib

import numpy as np
from PIL import Image
from PIL import ImageDraw

from sasmamba_jax import skeletons

_LEFT, _RIGHT, _MID = (66, 135, 245), (245, 110, 66), (200, 200, 200)
_BACKGROUND = (24, 24, 28)


class VizError(ValueError):
  """A rendering request that cannot be met; the message says why."""


def _colours(skeleton: skeletons.Skeleton) -> list[tuple[int, int, int]]:
  out = []
  for j in range(skeleton.num_joints):
    out.append(_LEFT if j in skeleton.left else _RIGHT if j in skeleton.right
               else _MID)
  return out


def project_3d(poses: np.ndarray, azimuth_deg: float = 45.0,
               elevation_deg: float = 15.0) -> np.ndarray:
  """(F, J, 3) image-aligned poses (x right, y down, z away) -> (F, J, 2) view.

  The camera turns ``azimuth_deg`` about the vertical axis and looks
  ``elevation_deg`` down on the person; orthographic, y down as in images.
  """
  a, e = np.deg2rad(azimuth_deg), np.deg2rad(elevation_deg)
  turn = np.array([[np.cos(a), 0, -np.sin(a)], [0, 1, 0], [np.sin(a), 0, np.cos(a)]])
  tilt = np.array([[1, 0, 0], [0, np.cos(e), -np.sin(e)], [0, np.sin(e), np.cos(e)]])
  view = np.asarray(poses, np.float64) @ (tilt @ turn).T
  return view[..., :2]


def _draw(draw: ImageDraw.ImageDraw, points: np.ndarray,
          skeleton: skeletons.Skeleton, width: int, faded: np.ndarray | None = None):
  colours = _colours(skeleton)
  for j, parent in enumerate(skeleton.parents):
    if parent >= 0:
      colour = colours[j]
      if faded is not None and (faded[j] or faded[parent]):
        colour = tuple(c // 2 for c in colour)
      draw.line([tuple(points[parent]), tuple(points[j])], fill=colour, width=width)
  r = max(1, width)
  for j, (x, y) in enumerate(points):
    colour = (120, 120, 120) if faded is not None and faded[j] else colours[j]
    draw.ellipse([x - r, y - r, x + r, y + r], fill=colour)


def render_frames(poses_3d: np.ndarray, keypoints_2d: np.ndarray,
                  image_size: Sequence[float], *, panel: int = 256,
                  images: Callable[[int], np.ndarray | None] | None = None,
                  filled: np.ndarray | None = None, azimuth_deg: float = 45.0,
                  skeleton: skeletons.Skeleton = skeletons.H36M,
                  progress: Callable[[int], None] | None = None,
                  reference_3d: np.ndarray | None = None) -> list[Image.Image]:
  """One picture per frame: 2D input | 3D pose [| reference], ``panel`` px high.

  Args:
    poses_3d: (F, J, 3) root-relative 3D poses (any unit).
    keypoints_2d: (F, J, 2+) 2D keypoints in the pixels of ``image_size``.
    image_size: (width, height) of the 2D keypoints' image.
    panel: height of each half in pixels.
    images: frame index -> (H, W, 3) uint8 video frame to draw the 2D pose on
      (None for a plain background).
    filled: (F, J) bool, joints drawn faded (filled, not detected).
    azimuth_deg: view direction of the 3D half.
    progress: called with 1 after each frame (a progress bar's ``update``).
    reference_3d: (F, J, 3) root-relative poses (e.g. the ground truth) drawn in
      a third panel, at the same scale and view as ``poses_3d``.

  Returns:
    F ``PIL.Image`` pictures.
  """
  poses_3d = np.asarray(poses_3d, np.float64)
  keypoints_2d = np.asarray(keypoints_2d, np.float64)[..., :2]
  if poses_3d.ndim != 3 or poses_3d.shape[-1] != 3 or \
      keypoints_2d.shape[:2] != poses_3d.shape[:2]:
    raise VizError(f"render_frames: expected (F, J, 3) poses and (F, J, 2) "
                   f"keypoints of the same F, J; got {poses_3d.shape} and "
                   f"{keypoints_2d.shape}")
  if reference_3d is not None:
    reference_3d = np.asarray(reference_3d, np.float64)
    if reference_3d.shape != poses_3d.shape:
      raise VizError(f"render_frames: reference_3d has shape {reference_3d.shape}, "
                     f"poses_3d {poses_3d.shape}; they must match")
  if not (np.all(np.isfinite(poses_3d)) and np.all(np.isfinite(keypoints_2d))
          and (reference_3d is None or np.all(np.isfinite(reference_3d)))):
    raise VizError("render_frames: the poses hold NaN or infinite values")
  width, height = (float(v) for v in image_size)
  left_w = max(1, int(round(panel * width / height)))
  scale_2d = panel / height
  view = project_3d(poses_3d, azimuth_deg)
  ref_view = None if reference_3d is None else project_3d(reference_3d, azimuth_deg)
  extent = max(np.abs(view).max(),
               0.0 if ref_view is None else np.abs(ref_view).max()) or 1.0
  scale_3d = 0.45 * panel / extent
  line = max(1, panel // 128)
  out = []
  for f in range(poses_3d.shape[0]):
    panels = 1 if ref_view is None else 2
    canvas = Image.new("RGB", (left_w + panels * panel, panel), _BACKGROUND)
    frame = images(f) if images is not None else None
    if frame is not None:
      canvas.paste(Image.fromarray(np.asarray(frame, np.uint8)).convert("RGB").resize(
          (left_w, panel), Image.BILINEAR), (0, 0))
    draw = ImageDraw.Draw(canvas)
    fade = None if filled is None else filled[f]
    _draw(draw, keypoints_2d[f] * scale_2d, skeleton, line, fade)
    draw.line([(left_w, 0), (left_w, panel)], fill=(80, 80, 80))
    _draw(draw, view[f] * scale_3d + [left_w + panel / 2, panel / 2], skeleton, line)
    if ref_view is not None:
      x0 = left_w + panel
      draw.line([(x0, 0), (x0, panel)], fill=(80, 80, 80))
      _draw(draw, ref_view[f] * scale_3d + [x0 + panel / 2, panel / 2], skeleton, line)
    out.append(canvas)
    if progress is not None:
      progress(1)
  return out


def save_animation(frames: Sequence[Image.Image], path: str | pathlib.Path,
                   fps: float = 25.0) -> pathlib.Path:
  """Writes frames as a GIF (Pillow) or an MP4 (imageio-ffmpeg), by suffix."""
  path = pathlib.Path(path)
  if not frames:
    raise VizError("save_animation: no frames to write")
  fps = float(fps) if fps and fps > 0 else 25.0
  if path.suffix == ".gif":
    duration = max(20, int(round(1000 / fps)))  # GIF delays are in 10 ms steps
    frames[0].save(path, save_all=True, append_images=list(frames[1:]),
                   duration=duration, loop=0, optimize=False)
    return path
  if path.suffix == ".mp4":
    try:
      import imageio.v2 as imageio  # pylint: disable=g-import-not-at-top
      import imageio_ffmpeg  # pylint: disable=g-import-not-at-top,unused-import # noqa: F401
    except ImportError:
      raise VizError("MP4 needs imageio with ffmpeg: pip install "
                     "'sasmamba_jax[viz]' (or use --render=gif)") from None
    w, h = frames[0].size
    size = (w - w % 2, h - h % 2)  # H.264 wants even sizes
    with imageio.get_writer(path, fps=fps, codec="libx264", macro_block_size=1,
                            quality=7) as writer:
      for f in frames:
        writer.append_data(np.asarray(f.resize(size) if f.size != size else f))
    return path
  raise VizError(f"save_animation: unknown suffix {path.suffix!r}; use .gif or .mp4")


def save_strip(frames: Sequence[Image.Image], path: str | pathlib.Path,
               count: int = 4) -> pathlib.Path:
  """A static PNG of ``count`` evenly spaced frames side by side."""
  if not frames:
    raise VizError("save_strip: no frames")
  picks = np.unique(np.linspace(0, len(frames) - 1, min(count, len(frames))).round()
                    .astype(int))
  w, h = frames[0].size
  strip = Image.new("RGB", (w, h * len(picks)), _BACKGROUND)
  for row, i in enumerate(picks):
    strip.paste(frames[i], (0, row * h))
  path = pathlib.Path(path)
  strip.save(path)
  return path
