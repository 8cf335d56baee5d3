"""synthetic_video_pose: deterministic renders, the PoseTrack18 layout, evaluation."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from sasmamba_jax import datasets
from sasmamba_jax import evaluation
from sasmamba_jax.datasets.synthetic_video_pose import render

TINY = render.RenderConfig(num_videos=(("train", 1), ("val", 1)), frames_per_video=6,
                           width=96, height=72, person_height=(45.0, 60.0),
                           crowd_prob=1.0, corrupt_prob=0.5)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
  return datasets.prepare("synthetic_video_pose/tiny",
                          data_dir=tmp_path_factory.mktemp("tfds"))


def test_render_is_deterministic_and_seeded():
  a = render.render_video(TINY, "val", 0)
  b = render.render_video(TINY, "val", 0)
  assert a[0] == b[0] and a[1] == b[1] and a[2] == b[2]
  other = render.render_video(render.RenderConfig(**{**TINY.__dict__, "seed": 1}),
                              "val", 0)
  assert other[1] != a[1]


def test_render_has_posetrack18_annotations_and_hard_frames():
  name, jpegs, data = render.render_video(TINY, "val", 0)
  assert name == "000501_mpii_test" and len(jpegs) == len(data["images"]) == 6
  image = np.asarray(Image.open(io.BytesIO(jpegs[0])))
  assert image.shape == (72, 96, 3) and image.std() > 10
  assert [im["is_labeled"] for im in data["images"]] == [True, False] * 3
  assert all(im["ignore_regions_x"] for im in data["images"])  # crowd_prob = 1
  for ann in data["annotations"]:
    kp = np.asarray(ann["keypoints"]).reshape(17, 3)
    assert not kp[[3, 4]].any()  # ears empty, as in PoseTrack18
    visible = kp[:, 2] > 0
    assert visible.sum() >= 10
    x, y, w, h = ann["bbox"]
    assert np.all((kp[visible, 0] >= x) & (kp[visible, 0] <= x + w))
    hx, hy, hw, hh = ann["bbox_head"]
    assert hw > 2 and abs(hx + hw / 2 - kp[2, 0]) < hw  # head box around the head
  # Temporal context: some frames are corrupted (their pixels near a person differ
  # from a re-render without corruption).
  clean = render.render_video(render.RenderConfig(**{**TINY.__dict__,
                                                     "corrupt_prob": 0.0}), "val", 0)
  diffs = [np.abs(np.asarray(Image.open(io.BytesIO(x)), float)
                  - np.asarray(Image.open(io.BytesIO(y)), float)).mean()
           for x, y in zip(jpegs, clean[1])]
  assert 0 < sum(d > 1 for d in diffs) < len(diffs)


def test_left_and_right_limbs_differ_in_hue():
  """One frame tells the sides apart: left limbs warm (red - blue up), right cool."""
  colours = np.random.default_rng(0).uniform(0, 1, (200, 3))
  warmth = lambda c: c[:, 0] - c[:, 2]  # pylint: disable=unnecessary-lambda-assignment
  gap = warmth(render._side_colour(colours, 1)) - warmth(render._side_colour(colours, -1))
  assert gap.min() > 0.7


def test_tiny_build_and_perfect_predictions_score_100(tiny):
  train, val = datasets.load(tiny, "train"), datasets.load(tiny, "val")
  assert len(train) > 0 and len(val) > 0
  example = val[0]
  assert example["frames"].shape == (3,) and example["keypoints"].shape == (17, 3)
  # The ground truth of the evaluation is the rendered folder's annotations/val.
  ev = evaluation.PoseTrackEvaluator(tiny.info.metadata["annotations"]["val"])
  examples = [val[i] for i in range(len(val))]
  keypoints = np.stack([e["keypoints"] for e in examples])
  keypoints[..., 2] = 0.9
  ev.update(keypoints, {"image_id": np.asarray([e["image_id"] for e in examples])})
  result = ev.result()
  assert result["Total"] == pytest.approx(100.0)
  shifted = evaluation.PoseTrackEvaluator(tiny.info.metadata["annotations"]["val"])
  keypoints[..., :2] += 200  # far from every person
  shifted.update(keypoints, {"image_id": np.asarray([e["image_id"] for e in examples])})
  assert shifted.result()["Total"] == 0.0
