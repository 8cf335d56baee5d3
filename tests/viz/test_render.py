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


def test_reference_panel_shares_the_scale():
  p3, p2 = _poses(3)
  pictures = viz.render_frames(p3, p2, (100, 50), panel=64, reference_3d=p3)
  assert pictures[0].size == (128 + 2 * 64, 64)
  # The same poses at the same scale: the two 3D panels are identical pictures.
  img = np.asarray(pictures[1])
  np.testing.assert_array_equal(img[:, 129:192], img[:, 193:256])
  # A reference twice as large shrinks the prediction panel: it no longer matches.
  img2 = np.asarray(viz.render_frames(p3, p2, (100, 50), panel=64,
                                      reference_3d=2 * p3)[1])
  assert not np.array_equal(img2[:, 129:192], img[:, 129:192])
  with pytest.raises(viz.VizError, match="reference_3d has shape"):
    viz.render_frames(p3, p2, (100, 50), reference_3d=p3[:2])


def test_plot_curves(tmp_path):
  steps = np.arange(1, 21)
  image = viz.plot_curves({"loss": (steps, 1 / steps), "val": ([5, 20], [0.4, 0.1])},
                          title="losses", log_y=True, size=(300, 200))
  assert image.size == (300, 200)
  pixels = np.asarray(image).reshape(-1, 3)
  for colour in ((66, 135, 245), (245, 110, 66)):  # both curves are drawn
    assert np.any(np.all(pixels == colour, axis=1))
  image.save(tmp_path / "p.png")
  with pytest.raises(viz.VizError, match="values <= 0"):
    viz.plot_curves({"loss": ([1, 2], [0.0, 1.0])}, log_y=True)
  with pytest.raises(viz.VizError, match="same length"):
    viz.plot_curves({"loss": ([1, 2], [1.0])})
  with pytest.raises(viz.VizError, match="no curves"):
    viz.plot_curves({})
