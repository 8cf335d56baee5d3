"""Pictures: frames, GIF frame counts, strips, MP4, bad input."""

from __future__ import annotations

import numpy as np
from PIL import Image
import pytest

from sasmamba_jax import viz


def _poses(frames=5):
  rng = np.random.default_rng(0)
  return rng.normal(size=(frames, 17, 3)), rng.uniform(0, 100, (frames, 17, 2))


def test_frames_gif_and_strip(tmp_path):
  p3, p2 = _poses()
  video = lambda i: np.full((50, 100, 3), 40 * i, np.uint8)
  pictures = viz.render_frames(p3, p2, (100, 50), panel=64, images=video)
  assert len(pictures) == 5 and pictures[0].size == (128 + 64, 64)
  # The video frame is drawn under the 2D pose.
  assert pictures[4].getpixel((1, 1)) == (160, 160, 160)
  gif = viz.save_animation(pictures, tmp_path / "a.gif", fps=10)
  with Image.open(gif) as img:
    assert img.n_frames == 5
  with Image.open(viz.save_strip(pictures, tmp_path / "s.png", count=3)) as img:
    assert img.size == (192, 3 * 64)


def test_projection_turns_about_the_vertical_axis():
  pose = np.array([[[1.0, 2.0, 0.0]]])
  np.testing.assert_allclose(viz.project_3d(pose, 0, 0), [[[1, 2]]])
  np.testing.assert_allclose(viz.project_3d(pose, 90, 0), [[[0, 2]]], atol=1e-12)


def test_mp4_and_errors(tmp_path):
  p3, p2 = _poses(4)
  pictures = viz.render_frames(p3, p2, (100, 50), panel=33)
  pytest.importorskip("imageio_ffmpeg", reason="MP4 needs the 'viz' extra")
  assert viz.save_animation(pictures, tmp_path / "a.mp4").stat().st_size > 0
  with pytest.raises(viz.VizError, match="unknown suffix '.avi'"):
    viz.save_animation(pictures, tmp_path / "a.avi")
  with pytest.raises(viz.VizError, match="NaN"):
    viz.render_frames(np.full_like(p3, np.nan), p2, (100, 50))
  with pytest.raises(viz.VizError, match="same F, J"):
    viz.render_frames(p3, p2[:2], (100, 50))
