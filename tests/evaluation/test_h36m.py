"""evaluate_h36m: official parity on the fixture clips, and the protocol's rules."""

from __future__ import annotations

import numpy as np
import pytest

from sasmamba_jax import metrics
from sasmamba_jax.evaluation import denormalize
from sasmamba_jax.evaluation import evaluate_h36m
from sasmamba_jax.evaluation import format_h36m_table

# ------------------------------------------------------------ official parity


def test_matches_official_evaluate(h36m_fixture):
  before = h36m_fixture["predictions"].copy()
  res = evaluate_h36m(h36m_fixture["predictions"], h36m_fixture["examples"])
  # The official code zeroes the root in place; ours leaves the caller's array alone.
  np.testing.assert_array_equal(h36m_fixture["predictions"], before)
  exp = h36m_fixture["expected"]
  assert res["p1_mm"] == pytest.approx(exp["e1_mpjpe_mm"], abs=1e-4)
  assert res["p2_mm"] == pytest.approx(exp["e2_p_mpjpe_mm"], abs=1e-4)
  assert list(res["per_action"]) == exp["action_names"]
  for action in exp["action_names"]:
    assert res["per_action"][action]["p1_mm"] == pytest.approx(
        exp["per_action"]["P1"][action], abs=1e-4)
    assert res["per_action"][action]["p2_mm"] == pytest.approx(
        exp["per_action"]["P2"][action], abs=1e-4)
  # One clip (s_09_act_05_subact_02) is excluded; the resampled Walk clip covers
  # 136 distinct frames of its 243 entries.
  assert res["num_clips"] == exp["n_test_clips"] == 6
  assert res["num_clips_excluded"] == 1
  assert res["per_action"]["Walk"]["num_frames"] == 136
  assert res["num_frames"] == 3 * 243 + 243 + 136
  assert res["num_clips_temporal"] == 4  # every evaluated clip but the resampled one
  assert res["accel_mm"] > 0 and res["mpjve_mm"] > 0


def test_list_of_clip_dicts_with_bytes_strings_gives_the_same(h36m_fixture):
  stacked = h36m_fixture["examples"]
  clips = []
  for i in range(len(stacked["frame_index"])):
    clip = {k: v[i] for k, v in stacked.items()}
    clip["source"] = str(clip["source"]).encode()  # TFDS returns text as bytes
    clip["action"] = str(clip["action"]).encode()
    clips.append(clip)
  a = evaluate_h36m(h36m_fixture["predictions"], stacked)
  b = evaluate_h36m(list(h36m_fixture["predictions"]), clips)
  assert a == b


def test_millimetre_predictions_match_the_official_intermediate(h36m_fixture):
  # results_all after the official evaluate(): root zeroed, denormalised, and
  # multiplied by 2.5d_factor for every clip except the excluded one (index 2).
  ex = h36m_fixture["examples"]
  pred = h36m_fixture["predictions"].copy()
  pred[:, :, 0, :] = 0
  pixels = denormalize(pred, ex["camera_resolution"])
  mm = pixels * ex["factor_2_5d"][..., None, None]
  expected = h36m_fixture["results_all"]
  for i in range(6):
    ours = pixels[i] if i == 2 else mm[i]
    np.testing.assert_allclose(ours, expected[i], rtol=1e-6, atol=1e-4)


def test_denormalize_matches_the_official_reader(h36m_fixture):
  reader = h36m_fixture["reader"]
  np.testing.assert_allclose(denormalize(reader["test_labels"], reader["test_hw"]),
                             reader["test_labels_denormalized"], rtol=1e-6, atol=1e-4)


def test_table(h36m_fixture):
  res = evaluate_h36m(h36m_fixture["predictions"], h36m_fixture["examples"])
  table = format_h36m_table(res)
  lines = table.splitlines()
  assert len(lines) == 4
  assert all(a in lines[0] for a in ("Direction", "Greet", "Walk", "Average"))
  assert lines[2].split("|")[1].strip() == "P1"
  assert f"{res['per_action']['Greet']['p2_mm']:.2f}" in lines[3]
  assert lines[2].split("|")[-2].strip() == f"{res['p1_mm']:.2f}"
  with pytest.raises(ValueError, match="per_action"):
    format_h36m_table({"p1_mm": 1.0})


# ------------------------------------------------------------ protocol rules

NUM_JOINTS = 17
# normalised * WIDTH / 2 * FACTOR = mm; powers of two and integer ground truth keep
# the chain exact, so a perfect prediction has exactly zero error.
WIDTH, HEIGHT, FACTOR = 1024.0, 1002.0, 2.0


def make_clip(frames, errors_mm, source="s_11_act_02_subact_01_ca_01",
              action="Direction", seed=0):
  """(prediction, example) whose per-frame MPJPE is ``errors_mm``.

  The prediction is the root-relative ground truth plus, on the 16 non-root joints,
  one offset of length e * 17 / 16 (the root error is 0 after zeroing).
  """
  rng = np.random.default_rng(seed)
  length = len(frames)
  gt = np.round(rng.normal(size=(length, NUM_JOINTS, 3)) * 200) + np.array(
      [500.0, 400.0, 3000.0])
  gt_rr = gt - gt[:, :1]
  direction = rng.normal(size=(length, 1, 3))
  direction /= np.linalg.norm(direction, axis=-1, keepdims=True)
  offset = direction * np.asarray(errors_mm, np.float64)[:, None, None] * 17 / 16
  pred_mm = gt_rr.copy()
  pred_mm[:, 1:] += offset
  pred = pred_mm / (WIDTH / 2 * FACTOR)
  pred[:, 0] = rng.normal(size=(length, 3))  # the root output is discarded
  example = {
      "frame_index": np.asarray(frames, np.int64),
      "source": source,
      "action": action,
      "camera_resolution": np.array([WIDTH, HEIGHT]),
      "factor_2_5d": np.full(length, FACTOR, np.float32),
      "gt_3d_mm": gt,
  }
  return pred, example


def evaluate(*clips, **kwargs):
  return evaluate_h36m([c[0] for c in clips], [c[1] for c in clips], **kwargs)


def test_made_clip_has_the_intended_errors():
  res = evaluate(make_clip([0, 1, 2], [2.0, 2.0, 2.0]))
  assert res["p1_mm"] == pytest.approx(2.0)
  assert res["p2_mm"] < 2.0  # Procrustes can only reduce the error


def test_repeated_frame_within_a_clip_counts_once_with_its_last_value():
  # NumPy fancy-index addition: frame 1 gets 4 (its last entry), counted once.
  res = evaluate(make_clip([0, 1, 1, 2], [1.0, 2.0, 4.0, 3.0]))
  assert res["p1_mm"] == pytest.approx((1 + 4 + 3) / 3)
  assert res["num_frames"] == 3
  assert res["num_clips_temporal"] == 0  # repeated frames: no velocity/acceleration
  assert res["accel_mm"] is None and res["mpjve_mm"] is None


def test_frame_covered_by_two_clips_is_averaged():
  res = evaluate(make_clip([0, 1, 2], [1.0, 1.0, 1.0], seed=1),
                 make_clip([2, 3, 4], [3.0, 3.0, 3.0], seed=2))
  assert res["p1_mm"] == pytest.approx((1 + 1 + 2 + 3 + 3) / 5)


def test_zero_error_frames_are_skipped():
  pred, ex = make_clip([0, 1, 2], [0.0, 2.0, 4.0])
  p = pred.copy()
  p[:, 0] = 0
  # The official chain reproduces the ground truth of frame 0 exactly.
  gt_rr = ex["gt_3d_mm"][0] - ex["gt_3d_mm"][0, :1]
  assert metrics.mpjpe(p[0] * WIDTH / 2 * FACTOR, gt_rr) == 0
  res = evaluate((pred, ex))
  assert res["p1_mm"] == pytest.approx(3.0)
  assert res["num_frames"] == 2 and res["num_frames_skipped_zero_error"] == 1


def test_mean_over_actions_not_frames():
  res = evaluate(make_clip([0, 1, 2], [1.0, 1.0, 1.0], action="Walk", seed=3),
                 make_clip([10], [5.0], action="Eating", seed=4))
  assert res["per_action"]["Walk"]["p1_mm"] == pytest.approx(1.0)
  assert res["per_action"]["Eating"]["p1_mm"] == pytest.approx(5.0)
  assert list(res["per_action"]) == ["Eating", "Walk"]
  assert res["p1_mm"] == pytest.approx(3.0)
  assert res["p2_mm"] == pytest.approx(np.mean(
      [res["per_action"][a]["p2_mm"] for a in ("Eating", "Walk")]))


def test_excluded_sequences_by_source_without_camera():
  kept = make_clip([0, 1, 2], [1.0, 1.0, 1.0], seed=5)
  blocked = make_clip([3, 4, 5], [9.0, 9.0, 9.0], source="s_09_act_13_subact_01_ca_04",
                      seed=6)
  res = evaluate(kept, blocked)
  assert res["p1_mm"] == pytest.approx(1.0)
  assert res["num_clips_excluded"] == 1 and res["num_clips_evaluated"] == 1
  res = evaluate(kept, blocked, excluded_sequences=())
  assert res["p1_mm"] == pytest.approx((3 + 27) / 6)
  with pytest.raises(ValueError, match="excluded"):
    evaluate(blocked)


def test_p2_is_the_mean_of_per_frame_p_mpjpe():
  pred, ex = make_clip([0, 1, 2, 3], [1.0, 2.0, 3.0, 4.0], seed=7)
  res = evaluate_h36m([pred], [ex])
  p = pred.copy()
  p[:, 0] = 0
  p_mm = p * WIDTH / 2 * FACTOR
  gt_rr = ex["gt_3d_mm"] - ex["gt_3d_mm"][:, :1]
  assert res["p2_mm"] == pytest.approx(np.mean(metrics.p_mpjpe(p_mm, gt_rr)))


def test_velocity_and_acceleration_errors_in_mm():
  # Prediction = ground truth + a drift of 3 mm per frame on the 16 non-root joints:
  # velocity error 3 * 16 / 17 per frame, acceleration error 0.
  pred, ex = make_clip([5, 6, 7, 8, 9], [0.0] * 5, seed=8)
  drift = np.zeros((5, NUM_JOINTS, 3))
  drift[:, 1:, 0] = 3.0 * np.arange(5)[:, None]
  pred = pred + drift / (WIDTH / 2 * FACTOR)
  res = evaluate_h36m([pred], [ex])
  assert res["mpjve_mm"] == pytest.approx(3.0 * 16 / 17)
  assert res["accel_mm"] == pytest.approx(0.0, abs=1e-9)
  assert res["num_clips_temporal"] == 1


# ------------------------------------------------------------ bad input


def test_missing_feature_is_named():
  pred, ex = make_clip([0, 1], [1.0, 1.0])
  del ex["factor_2_5d"]
  with pytest.raises(ValueError, match="factor_2_5d"):
    evaluate_h36m([pred], [ex])
  stacked = {k: [v] for k, v in make_clip([0, 1], [1.0, 1.0])[1].items()}
  del stacked["gt_3d_mm"]
  with pytest.raises(ValueError, match="gt_3d_mm"):
    evaluate_h36m(pred[None], stacked)


def test_mismatched_lengths_are_errors():
  pred, ex = make_clip([0, 1, 2], [1.0, 1.0, 1.0])
  with pytest.raises(ValueError, match="2 predicted clips for 1 examples"):
    evaluate_h36m([pred, pred], [ex])
  with pytest.raises(ValueError, match="frame_index"):
    evaluate_h36m([pred[:2]], [ex])
  bad = dict(ex, gt_3d_mm=ex["gt_3d_mm"][:, :16])
  with pytest.raises(ValueError, match="gt_3d_mm"):
    evaluate_h36m([pred], [bad])
  bad = dict(ex, camera_resolution=np.array([1000.0]))
  with pytest.raises(ValueError, match="camera_resolution"):
    evaluate_h36m([pred], [bad])
  stacked = {k: [v, v] for k, v in ex.items()}
  stacked["action"] = ["Direction"]
  with pytest.raises(ValueError, match="'action' has 1 entries"):
    evaluate_h36m(np.stack([pred, pred]), stacked)
  with pytest.raises(ValueError, match="NaN"):
    evaluate_h36m([pred * np.nan], [ex])
  with pytest.raises(ValueError, match="integers"):
    evaluate_h36m([pred], [dict(ex, frame_index=np.array([0.0, 1.0, 2.0]))])


def test_frame_index_shared_by_different_sources_is_an_error():
  a = make_clip([0, 1, 2], [1.0, 1.0, 1.0], source="s_11_act_02_subact_01_ca_01")
  b = make_clip([0, 1, 2], [1.0, 1.0, 1.0], source="s_11_act_03_subact_01_ca_01")
  with pytest.raises(ValueError, match="whole test split"):
    evaluate(a, b)
