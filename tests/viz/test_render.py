"""Pictures: layout and legibility, video under the 2D pose, GIF / strip / MP4,
notes on bad input, plots."""

from __future__ import annotations

import warnings

import numpy as np
from PIL import Image
import pytest

from sasmamba_jax import skeletons
from sasmamba_jax import viz
from sasmamba_jax.viz import render
from tests.helpers import swaying_poses as _poses


def _count(image, colour, box=None, tol=10):
  pixels = np.asarray(image.convert("RGB").crop(box) if box else image.convert("RGB"),
                      np.int32)
  return int(np.all(np.abs(pixels - colour) <= tol, -1).sum())


def test_layout_is_readable_on_a_laptop_and_configurable():
  p3, p2 = _poses(2)
  default = viz.render_frames(p3, p2, (640, 480))
  assert default[0].size == (1280, 720)
  small = viz.render_frames(p3, p2, (640, 480), width=640, height=400)
  assert small[0].size == (640, 400)
  lay = viz.layout(1280)
  assert lay.header[3] <= lay.plots[0][1] and lay.panels[0][2] < lay.panels[1][0]
  with pytest.raises(viz.VizError, match="at least 320 px"):
    viz.render_frames(p3, p2, (640, 480), width=200)


def test_left_right_limbs_in_both_panels_and_frame_header():
  p3, p2 = _poses(3)
  pictures = viz.render_frames(p3, p2, (640, 480), fps=25, title="t")
  lay = viz.layout(1280)
  for box in lay.panels:  # the 2D input and the 3D pose
    assert _count(pictures[0], render.LEFT, box) > 50
    assert _count(pictures[0], render.RIGHT, box) > 50
  # The legend's swatches are in the header.
  assert _count(pictures[0], render.LEFT, lay.header) > 20
  # The same pose at another frame number: only the header's text changes.
  still = viz.render_frames(np.repeat(p3[:1], 2, 0), np.repeat(p2[:1], 2, 0),
                            (640, 480), frame_numbers=[7, 8])
  a, b = np.asarray(still[0]), np.asarray(still[1])
  header = lay.header[3]
  assert not np.array_equal(a[:header], b[:header])
  np.testing.assert_array_equal(a[header:], b[header:])


def test_ticks_are_round_numbers():
  np.testing.assert_allclose(render.nice_ticks(0, 1000, 6), [0, 200, 400, 600, 800,
                                                             1000])
  np.testing.assert_allclose(render.nice_ticks(-0.47, 0.47, 7, cover=True),
                             [-0.6, -0.4, -0.2, 0, 0.2, 0.4, 0.6])
  np.testing.assert_allclose(render.nice_ticks(3.0, 3.0), [3.0])


def test_video_under_the_2d_pose_gif_and_strip(tmp_path):
  p3, p2 = _poses(5)
  video = lambda i: np.full((480, 640, 3), 40 * i, np.uint8)
  pictures = viz.render_frames(p3, p2, (640, 480), images=video, width=640)
  (x0, y0, x1, y1), _ = viz.image_box(viz.layout(640), (640, 480))
  assert pictures[4].getpixel((x0 + 2, y0 + 2)) == (160, 160, 160)
  assert pictures[4].getpixel((x0 - 3, y0 + 2)) != (160, 160, 160)  # only there
  gif = viz.save_animation(pictures, tmp_path / "a.gif", fps=10)
  with Image.open(gif) as img:
    assert img.n_frames == 5
    img.seek(4)  # one palette for all frames still keeps each frame's colours
    frame = img.convert("RGB")
    assert _count(frame, render.LEFT, tol=0) > 20 and _count(frame, render.RIGHT,
                                                             tol=0) > 20
    assert frame.getpixel((x0 + 2, y0 + 2)) == (160, 160, 160)
  with Image.open(viz.save_strip(pictures, tmp_path / "s.png", count=3)) as img:
    assert img.size == (640, 3 * 360)
  # A few rows only: the same pictures as the whole sequence's.
  rows = viz.render_frames(p3, p2, (640, 480), images=video, width=640, rows=[0, 3])
  assert [np.array_equal(np.asarray(r), np.asarray(pictures[i]))
          for r, i in zip(rows, (0, 3))] == [True, True]
  with pytest.raises(viz.VizError, match="rows must lie in"):
    viz.render_frames(p3, p2, (640, 480), rows=[5])


def test_filled_joints_are_ringed():
  p3, p2 = _poses(2)
  filled = np.zeros((2, 17), bool)
  filled[1, skeletons.H36M.index("left_wrist")] = True
  pictures = viz.render_frames(p3, p2, (640, 480), filled=filled, width=640)
  body = viz.layout(640).panels[0]
  assert _count(pictures[0], render.FILLED, body, tol=0) == 0
  assert _count(pictures[1], render.FILLED, body, tol=0) > 10


def test_mp4_spawns_ffmpeg_without_jax_fork_warning(tmp_path):
  """imageio's writer forks through a preexec_fn; JAX warns about os.fork()."""
  imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg",
                                       reason="MP4 needs the 'viz' extra")
  import jax  # pylint: disable=g-import-not-at-top
  jax.numpy.zeros(2).block_until_ready()  # JAX's threads and its fork hook are up
  p3, p2 = _poses(4)
  pictures = viz.render_frames(p3, p2, (640, 480), width=330, height=187)
  with warnings.catch_warnings():
    warnings.simplefilter("error")
    path = viz.save_animation(pictures, tmp_path / "a.mp4", fps=8)
  assert imageio_ffmpeg.count_frames_and_secs(str(path))[0] == 4
  assert not list(tmp_path.glob(".*"))  # no partial file left behind
  with pytest.raises(viz.VizError, match="unknown suffix '.avi'"):
    viz.save_animation(pictures, tmp_path / "a.avi")


def test_bad_input_is_refused_clearly():
  p3, p2 = _poses(3)
  with pytest.raises(viz.VizError, match="NaN"):
    viz.render_frames(np.full_like(p3, np.nan), p2, (640, 480))
  with pytest.raises(viz.VizError, match="same F, J"):
    viz.render_frames(p3, p2[:2], (640, 480))
  with pytest.raises(viz.VizError, match="render_frames: no frames"):
    viz.render_frames(p3[:0], p2[:0], (640, 480))
  with pytest.raises(viz.VizError, match="16 joints, but the h36m skeleton has 17"):
    viz.render_frames(p3[:, :16], p2[:, :16], (640, 480))
  with pytest.raises(viz.VizError, match="filled has shape"):
    viz.render_frames(p3, p2, (640, 480), filled=np.zeros((3, 5), bool))
  with pytest.raises(viz.VizError, match="no frames to write"):
    viz.save_animation([], "x.gif")


def _has_note(picture):
  lay = viz.layout(*picture.size)
  note = render._NOTE  # pylint: disable=protected-access
  return _count(picture, note, (0, lay.header[3]) + picture.size, tol=25) > 20


@pytest.mark.parametrize("case", ["one_frame", "all_filled", "one_point", "line"])
def test_suspect_input_renders_with_a_note(case, tmp_path):
  p3, p2 = _poses(4)
  filled = None
  want = {"one_frame": "a single frame", "all_filled": "every joint is filled",
          "one_point": "all joints at one point", "line": "almost on a line"}[case]
  if case == "one_frame":
    p3, p2 = p3[:1], p2[:1]
  elif case == "all_filled":
    filled = np.ones(p3.shape[:2], bool)
  elif case == "one_point":
    p3, p2 = np.zeros_like(p3), np.full_like(p2, 320.0)
  else:  # what a weakly trained model gives: a vertical line of joints
    p3 = p3 * [0.001, 1, 0.001]
  notes = viz.check_poses(p3, p2, filled)
  assert any(want in n for n in sum(notes.values(), []))
  pictures = viz.render_frames(p3, p2, (640, 480), filled=filled)
  assert len(pictures) == len(p3) and _has_note(pictures[0])
  gif = viz.save_animation(pictures, tmp_path / f"{case}.gif")
  assert gif.stat().st_size > 1000
  with Image.open(gif) as img:
    assert img.n_frames == len(p3)
  # A sound sequence carries no note.
  sound, sound_2d = _poses(4)
  assert not sum(viz.check_poses(sound, sound_2d).values(), [])
  assert not _has_note(viz.render_frames(sound, sound_2d, (640, 480))[0])


def test_projection_turns_about_the_vertical_axis():
  pose = np.array([[[1.0, 2.0, 0.0]]])
  np.testing.assert_allclose(viz.project_3d(pose, 0, 0), [[[1, 2]]])
  np.testing.assert_allclose(viz.project_3d(pose, 90, 0), [[[0, 2]]], atol=1e-12)


def test_reference_panel_shares_the_scale():
  p3, p2 = _poses(3)
  pictures = viz.render_frames(p3, p2, (640, 480), width=960, reference_3d=p3)
  assert pictures[0].size == (960, 540)
  lay = viz.layout(960, num_3d=2)
  one, two = lay.plots[1], lay.plots[2]
  assert one[2] - one[0] == two[2] - two[0]
  img = np.asarray(pictures[1])
  crop = lambda a, b: a[b[1]:b[3], b[0]:b[2]]
  # The same poses at the same scale: the two 3D panels are identical pictures.
  np.testing.assert_array_equal(crop(img, one), crop(img, two))
  # A reference twice as large shrinks the prediction panel: it no longer matches.
  img2 = np.asarray(viz.render_frames(p3, p2, (640, 480), width=960,
                                      reference_3d=2 * p3)[1])
  assert not np.array_equal(crop(img2, one), crop(img, one))
  with pytest.raises(viz.VizError, match="reference_3d has shape"):
    viz.render_frames(p3, p2, (640, 480), reference_3d=p3[:2])


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
