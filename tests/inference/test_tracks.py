"""Tracks across frames and the filling of missing joints."""

from __future__ import annotations

import numpy as np
import pytest

from sasmamba_jax import inference
from sasmamba_jax import skeletons
from sasmamba_jax.inference import Detections
from sasmamba_jax.inference import Person


def _person(x, y, track=None, score=1.0):
  k = np.zeros((17, 3))
  k[:, 0] = x + np.linspace(0, 20, 17)
  k[:, 1] = y + np.linspace(0, 40, 17)
  k[:, 2] = 0.9
  return Person(k, score, track, np.array([x, y, 20.0, 40.0]))


def test_iou_linker_follows_people_whatever_their_order():
  frames = []
  for f in range(6):
    a, b = _person(10 + 2 * f, 10), _person(200 - 2 * f, 10)
    people = [a, b] if f % 2 else [b, a]  # detectors list people in any order
    if f == 3:
      people = [a]                         # b missed for one frame
    frames.append(people)
  tracks = inference.link_tracks(Detections("coco", "coco", frames,
                                            [str(i) for i in range(6)]))
  assert len(tracks) == 2
  left = min(tracks, key=lambda t: t.keypoints[0, 0, 0])
  right = max(tracks, key=lambda t: t.keypoints[0, 0, 0])
  np.testing.assert_array_equal(left.frames, np.arange(6))
  np.testing.assert_array_equal(right.frames, [0, 1, 2, 4, 5])
  assert np.all(np.diff(left.keypoints[:, 0, 0]) > 0)
  assert np.all(np.diff(right.keypoints[:, 0, 0]) < 0)
  # Far beyond max_gap, a reappearing person starts a new track.
  far = [[_person(10, 10)]] + [[] for _ in range(12)] + [[_person(10, 10)]]
  assert len(inference.link_tracks(Detections("coco", "coco", far, [""] * 14),
                                   max_gap=10)) == 2


def test_given_track_ids_win_and_duplicates_keep_the_best():
  frames = [[_person(0, 0, "7", 0.5), _person(0, 0, "7", 0.9)],
            [_person(300, 0, "7")], [_person(0, 0, "8")]]
  tracks = inference.link_tracks(Detections("coco", "coco", frames, ["a", "b", "c"]))
  assert [t.track_id for t in tracks] == ["7", "8"]
  assert tracks[0].scores.tolist() == [0.9, 1.0]


def test_fill_missing_interpolates_and_holds_the_edges():
  k = np.zeros((6, 17, 3))
  k[:, :, 0] = np.arange(6)[:, None] * 10.0
  missing = np.zeros((6, 17), bool)
  missing[[0, 2, 3, 5], 4] = True
  missing[:, 9] = True                       # never seen
  k[missing] = 12345.0                        # must be ignored
  out, filled = inference.fill_missing(k, missing)
  np.testing.assert_allclose(out[:, 4, 0], [10, 10, 20, 30, 40, 40])
  np.testing.assert_array_equal(filled, missing)
  seen = np.ones(17, bool)
  seen[9] = False
  np.testing.assert_allclose(out[:, 9], out[:, seen].mean(1), rtol=1e-6)
  with pytest.raises(ValueError, match="no joint is visible"):
    inference.fill_missing(k, np.ones((6, 17), bool))


def test_prepare_track_fills_gaps_and_built_joints():
  frames = np.array([3, 4, 6])
  kp = np.random.default_rng(0).uniform(0, 100, (3, 17, 3))
  kp[..., 2] = 0.9
  kp[1, 11, 2] = 0.1                          # COCO left hip, low score
  track = inference.Track("0", frames, kp, np.array([0.8, 0.8, 0.8]))
  out = inference.prepare_track(track, "coco", score_threshold=0.3)
  np.testing.assert_array_equal(out.frames, [3, 4, 5, 6])
  np.testing.assert_array_equal(out.detected, [True, True, False, True])
  assert out.filled[2].all()                  # frame 5: nobody detected
  h = skeletons.H36M.index
  assert {skeletons.H36M.joint_names[j] for j in np.flatnonzero(out.filled[1])} == {
      "pelvis", "left_hip", "spine"}          # built from the low-score hip
  np.testing.assert_allclose(out.keypoints[2, h("nose")],
                             (out.keypoints[1, h("nose")]
                              + out.keypoints[3, h("nose")]) / 2, rtol=1e-5)
  assert np.isfinite(out.keypoints).all() and out.keypoints.dtype == np.float32
