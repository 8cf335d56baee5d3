"""Lifter: windows without seams, one compilation, units; the lifting pipeline."""

from __future__ import annotations

import json

from flax import nnx
import jax
import numpy as np
from PIL import Image
import pytest

from sasmamba_jax import evaluation
from sasmamba_jax import loading
from sasmamba_jax import inference
from sasmamba_jax import models
from sasmamba_jax import skeletons
from sasmamba_jax import viz

from tests.helpers import copy_run
from tests.helpers import run_main

T = 9


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
  model = models.create("sasmamba", dim=8, depth=1, num_frames=T, in_channels=3,
                        rngs=nnx.Rngs(0))
  return loading.save_pretrained(model, tmp_path_factory.mktemp("m") / "model")


@pytest.fixture(scope="module")
def lifter(model_dir):
  return inference.Lifter.load(model_dir, batch_size=4)


def test_any_length_matches_the_windowed_model_and_compiles_once(lifter, model_dir):
  model = loading.load(model_dir)
  direct = jax.jit(evaluation.flip_test(lambda x: model(x, deterministic=True),
                                        skeletons.H36M))
  rng = np.random.default_rng(1)
  for length in (1, T - 1, T, 5 * T + 3):
    x = rng.uniform(-1, 1, (length, 17, 3)).astype(np.float32)
    out = lifter.lift_normalized(x)
    want = evaluation.sliding_window_predict(direct, x, T, stride=T // 2,
                                             batch_size=16)
    want = want - want[:, :1]
    assert out.shape == (length, 17, 3)
    np.testing.assert_allclose(out, want, atol=2e-5)
    np.testing.assert_array_equal(out[:, 0], 0)  # root-relative
  assert lifter._forward._cache_size() == 1  # pylint: disable=protected-access


def test_units_and_input_checks(lifter):
  rng = np.random.default_rng(2)
  px = np.concatenate([rng.uniform(0, 640, (12, 17, 2)),
                       rng.uniform(0.5, 1, (12, 17, 1))], -1)
  result = lifter.lift(px, (640, 480), mm_per_pixel=4.0)
  np.testing.assert_allclose(result.poses_3d_pixels, result.poses_3d * 320, rtol=1e-6)
  np.testing.assert_allclose(result.poses_3d_mm, result.poses_3d_pixels * 4, rtol=1e-6)
  np.testing.assert_allclose(result.inputs[..., 0], px[..., 0] / 320 - 1, atol=1e-6)
  assert lifter.lift(px, (640, 480)).poses_3d_mm is None
  with pytest.warns(UserWarning, match="no confidence; feeding 1"):
    lifter.lift(px[..., :2], (640, 480))
  with pytest.raises(ValueError, match=r"\(F, 17, 2\) or \(F, 17, 3\)"):
    lifter.lift(px[:, :16], (640, 480))
  with pytest.raises(ValueError, match="image_size must be"):
    lifter.lift(px, (0, 480))
  with pytest.raises(ValueError, match="NaN or infinite"):
    lifter.lift(np.full((3, 17, 3), np.nan), (640, 480))
  with pytest.raises(ValueError, match="stride 20 is longer"):
    inference.Lifter(models.create("mlp_baseline", num_frames=T), stride=20)


def _alphapose(path, frames=12):
  rng = np.random.default_rng(3)
  items = []
  for f in range(frames):
    for p in range(2):
      if p == 1 and f in (4, 5):
        continue  # the second person is missed twice
      k = np.concatenate([rng.uniform(50, 150, (26, 2)) + 300 * p,
                          rng.uniform(0.6, 1, (26, 1))], 1)
      if p == 0:
        k[9, 2] = 0.05  # a low-score wrist
      items.append({"image_id": f"{f}.jpg", "category_id": 1,
                    "keypoints": k.ravel().tolist(), "score": 1.5,
                    "box": [50 + 300 * p, 50 + 300 * p, 100, 100]})
  items.append({"image_id": "3.jpg", "category_id": 1,  # a one-frame ghost
                "keypoints": (np.ones((26, 3)) * [900, 900, 0.9]).ravel().tolist(),
                "score": 0.3, "box": [880, 880, 30, 30]})
  path.write_text(json.dumps(items))
  return path


def test_lift_detections_writes_everything(lifter, tmp_path):
  det = inference.read_keypoints(_alphapose(tmp_path / "ap.json"))
  out = inference.prepare_output(tmp_path / "out", overwrite=False)
  summary = inference.lift_detections(
      det, lifter, out, inference.LiftOptions(image_size=(640, 480), fps=30),
      log=lambda _: None)
  assert [t["num_frames"] for t in summary["tracks"]] == [12, 12]
  assert summary["skipped"][0]["reason"].startswith("1 frame(s)")
  saved = json.loads((out / "summary.json").read_text())
  assert saved["tracks"] == summary["tracks"] and saved["layout"] == "halpe26"
  second = np.load(out / f"{summary['tracks'][1]['files'][0]}")
  assert second["poses_3d"].shape == (12, 17, 3)
  np.testing.assert_array_equal(second["detected"], np.arange(12) // 2 != 2)
  assert second["filled"][4:6].all() and not second["filled"][:4].any()
  assert list(second["joint_names"]) == list(skeletons.H36M.joint_names)
  first = np.load(out / "track_0.npz")
  wrist = skeletons.H36M.index("left_wrist")
  assert first["filled"][:, wrist].all() and first["filled"].sum() == 12
  gif = Image.open(out / "track_0.gif")
  assert gif.n_frames == 12 and gif.size == (1280, 720)
  assert Image.open(out / "track_0.png").size == (1280, 4 * 720)
  assert "index" not in summary and not (out / "index.html").exists()
  with pytest.raises(inference.LiftError, match="--overwrite"):
    inference.prepare_output(out, overwrite=False)
  with pytest.raises(inference.LiftError, match="pass --image_size"):
    inference.lift_detections(det, lifter, out, inference.LiftOptions())
  with pytest.raises(inference.LiftError, match="no track could be lifted.*"
                     "lower --min_track_frames"):
    inference.lift_detections(det, lifter, out, inference.LiftOptions(
        image_size=(640, 480), min_track_frames=50, render="none"))


@pytest.mark.parametrize("render", ["html", "png"])
def test_lift_detections_renders_html_and_png(lifter, tmp_path, render):
  det = inference.read_keypoints(_alphapose(tmp_path / "ap.json", frames=6))
  out = inference.prepare_output(tmp_path / "out", overwrite=False)
  summary = inference.lift_detections(
      det, lifter, out, inference.LiftOptions(image_size=(640, 480), render=render,
                                              render_width=640, mm_per_pixel=2.0),
      log=lambda _: None)
  files = sorted(p.name for p in out.iterdir())
  if render == "png":
    assert files == ["summary.json", "track_0.npz", "track_0.png", "track_1.npz",
                     "track_1.png"]
    assert Image.open(out / "track_0.png").size == (640, 4 * 360)
    return
  assert files == ["index.html", "summary.json", "track_0.html", "track_0.npz",
                   "track_0.png", "track_1.html", "track_1.npz", "track_1.png"]
  assert summary["index"] == "index.html"
  assert summary["tracks"][0]["files"] == ["track_0.npz", "track_0.html",
                                           "track_0.png"]
  index = (out / "index.html").read_text()
  assert 'href="track_0.html"' in index and 'href="track_1.html"' in index
  page = (out / "track_0.html").read_text()
  assert '"units":"mm"' in page and '"frame_numbers":[0,1,2,3,4,5]' in page


def test_render_options_are_checked():
  with pytest.raises(inference.LiftError, match="render = 'avi'"):
    inference.LiftOptions(render="avi").validate()
  with pytest.raises(inference.LiftError, match="render_width = 100: at least 320"):
    inference.LiftOptions(render_width=100).validate()


def test_command_line(model_dir, tmp_path):
  source = _alphapose(tmp_path / "ap.json", frames=6)
  before = source.read_bytes()
  run = lambda *a: run_main("experiments.lift", *a)
  ok = run(f"--input={source}", f"--checkpoint={model_dir}",
           f"--output={tmp_path / 'out'}", "--image_size=640,480", "--render=mp4")
  assert ok.returncode == 0, ok.stderr[-3000:]
  assert "2 track(s) lifted" in ok.stdout
  assert (tmp_path / "out" / "track_1.mp4").stat().st_size > 0
  assert source.read_bytes() == before
  bad = run(f"--input={source}", f"--checkpoint={model_dir}",
            f"--output={tmp_path / 'out2'}")
  assert bad.returncode == 1 and "Traceback" not in bad.stderr
  assert "pass --image_size=W,H" in bad.stderr


def test_video_to_3d_on_synthetic_frames(model_dir, tmp_path):
  """--video/--boxes/--pose2d: frames rendered by synthetic_video_pose, a ViTPose."""
  from sasmamba_jax.datasets.synthetic_video_pose import render  # pylint: disable=g-import-not-at-top
  config = render.RenderConfig(num_videos=(("train", 1),), frames_per_video=5,
                               corrupt_prob=0.0, crowd_prob=0.0, max_persons=1)
  _, jpegs, annotations = render.render_video(config, "train", 0)
  frames = tmp_path / "frames"
  frames.mkdir()
  for t, jpeg in enumerate(jpegs):
    (frames / f"{t:06d}.jpg").write_bytes(jpeg)
  first_id = annotations["images"][0]["id"]
  boxes = [{"image_id": a["image_id"] - first_id, "category_id": 1,
            "bbox": a["bbox"], "score": 0.9} for a in annotations["annotations"]]
  (tmp_path / "boxes.json").write_text(json.dumps(boxes))
  pose2d = loading.save_pretrained(
      models.create("vitpose_tiny", rngs=nnx.Rngs(0)), tmp_path / "vitpose")
  out = run_main("experiments.lift", f"--video={frames}",
                 f"--boxes={tmp_path / 'boxes.json'}", f"--pose2d={pose2d}",
                 f"--checkpoint={model_dir}", f"--output={tmp_path / 'out'}",
                 "--score_threshold=0", "--fps=5")
  assert out.returncode == 0, out.stderr[-3000:]
  summary = json.loads((tmp_path / "out" / "summary.json").read_text())
  assert summary["format"] == "video" and summary["image_size"] == [160, 120]
  assert summary["tracks"][0]["num_frames"] == 5
  lifted = np.load(tmp_path / "out" / "track_0.npz")
  assert lifted["poses_3d"].shape == (5, 17, 3)
  with Image.open(tmp_path / "out" / "track_0.gif") as gif:
    assert gif.n_frames == 5
    # The 2D panel is drawn over the video frame, not on the plain background.
    (x0, y0, x1, y1), _ = viz.image_box(viz.layout(*gif.size), (160, 120))
    picture = np.asarray(gif.convert("RGB"), np.int32)[y0:y1, x0:x1]
    assert np.abs(picture - viz.render._IMAGE).max(-1).mean() > 20  # pylint: disable=protected-access


def _tracked(path, frames=12, size=(640, 480), scores=0.9):
  """A COCO results file of one tracked person moving in an image of ``size``."""
  rng = np.random.default_rng(4)
  items = []
  for f in range(frames):
    k = np.concatenate([rng.uniform(0.3, 0.7, (17, 2)) * size, np.full((17, 1),
                                                                        scores)], 1)
    items.append({"image_id": f, "category_id": 1, "keypoints": k.ravel().tolist(),
                  "score": 1.0, "track_id": 0})
  path.write_text(json.dumps(items))
  return items


def test_nonphysical_joints_are_filled_and_said(lifter, tmp_path):
  items = _tracked(tmp_path / "k.json")
  clean = inference.lift_detections(
      inference.read_keypoints(tmp_path / "k.json"), lifter,
      inference.prepare_output(tmp_path / "clean", False),
      inference.LiftOptions(image_size=(640, 480), render="none"), log=lambda _: None)
  assert not clean.get("warnings") and not clean.get("nonphysical_joints")
  items[5]["keypoints"][3 * 9] = 1e30      # frame 5, COCO joint 9 (left wrist): x
  (tmp_path / "k.json").write_text(json.dumps(items))
  lines = []
  summary = inference.lift_detections(
      inference.read_keypoints(tmp_path / "k.json"), lifter,
      inference.prepare_output(tmp_path / "out", False),
      inference.LiftOptions(image_size=(640, 480), render="none"), log=lines.append)
  track = np.load(tmp_path / "out" / "track_0.npz")
  before = np.load(tmp_path / "clean" / "track_0.npz")
  # Poses of the usual size, not thrown by a coordinate of 1e30.
  assert np.abs(track["poses_3d"]).max() < 2 * np.abs(before["poses_3d"]).max()
  assert np.abs(track["keypoints_2d"][..., :2]).max() < 640
  wrist = skeletons.H36M.index("left_wrist")
  assert track["filled"][5, wrist] and track["filled"].sum() == 1
  assert summary["nonphysical_joints"] == 1
  assert lines[0].startswith("warning: 1 joint(s) lie beyond any plausible position "
                             "in a 640x480 image (x = 1e+30, y = ")
  assert "in frame 5): treated as missing and filled over time" in lines[0]


def test_keypoints_far_outside_the_image_size_are_warned(lifter, tmp_path):
  _tracked(tmp_path / "k.json", size=(1920, 1080))
  lines = []
  summary = inference.lift_detections(
      inference.read_keypoints(tmp_path / "k.json"), lifter,
      inference.prepare_output(tmp_path / "out", False),
      inference.LiftOptions(image_size=(640, 480), render="none"), log=lines.append)
  assert lines and lines[0].startswith("warning: 117 of 204 keypoints")
  (warning,) = summary["warnings"]
  assert warning.startswith("117 of 204 keypoints lie far outside the 640x480 image "
                            "(they span x 582..1343, y 325..754)")
  assert warning.endswith("unless --image_size is the size of the frames the "
                          "keypoints were detected on")
  assert lines[0] == f"warning: {warning}"


def test_no_joint_above_the_score_threshold_is_one_line(lifter, tmp_path):
  _tracked(tmp_path / "k.json", scores=0.0)
  lines = []
  with pytest.raises(inference.LiftError) as error:
    inference.lift_detections(
        inference.read_keypoints(tmp_path / "k.json"), lifter,
        inference.prepare_output(tmp_path / "out", False),
        inference.LiftOptions(image_size=(640, 480), render="none"), log=lines.append)
  assert str(error.value) == (
      "no joint of any of the 12 detections scores >= --score_threshold=0.3 (the "
      "highest score is 0): nothing to lift; lower --score_threshold if the "
      "detector scores on another scale, or check its output")
  assert not lines


def test_a_run_directory_decides_the_flip_test_and_the_confidence(tiny_run, tmp_path):
  """A run's saved task settings travel with it into the lifter, unless overridden."""
  saved = json.loads((tiny_run.workdir / "config.json").read_text())
  lifter = inference.Lifter.load(tiny_run.workdir)
  assert lifter.flip_test == saved["task"].get("flip_test", True)
  assert lifter.constant_confidence == saved["task"].get("constant_confidence", False)
  run = copy_run(tiny_run.workdir, tmp_path / "run")
  saved["task"]["flip_test"] = not lifter.flip_test
  (run / "config.json").write_text(json.dumps(saved))
  changed = inference.Lifter.load(run)
  assert changed.flip_test != lifter.flip_test
  assert changed.constant_confidence == lifter.constant_confidence  # Builds the model.
  assert inference.Lifter.load(run, flip_test=True).flip_test
