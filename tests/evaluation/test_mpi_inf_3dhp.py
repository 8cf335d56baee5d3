"""evaluate_mpi_inf_3dhp on constructed errors (MATLAB-script definitions)."""

from __future__ import annotations

import numpy as np
import pytest

from sasmamba_jax.evaluation import centre_frame_predict
from sasmamba_jax.evaluation import evaluate_mpi_inf_3dhp
from sasmamba_jax.evaluation import format_mpi_inf_3dhp_table

ROOT = 14
RES = {"TS1": (2048.0, 2048.0), "TS2": (2048.0, 2048.0), "TS5": (1920.0, 1080.0)}
AUC_0_TO_65 = sum(min(k, 14) for k in range(31)) / (31 * 14)  # errors 0, 5, ..., 65


def make_clip(offsets_mm, source="TS1", frames=None, valid=None, seed=0):
  """(normalised prediction, example): prediction = root-relative gt + offsets."""
  offsets_mm = np.asarray(offsets_mm, np.float64)
  length = offsets_mm.shape[0]
  rng = np.random.default_rng(seed)
  gt = np.round(rng.normal(size=(length, 17, 3)) * 300) + np.array([0.0, 0.0, 4000.0])
  pred_mm = gt - gt[:, ROOT:ROOT + 1] + offsets_mm
  width, height = RES[source]
  pred = pred_mm / (width / 2)
  pred[:, ROOT] = rng.normal(size=(length, 3))  # discarded by the protocol
  example = {
      "frame_index": np.arange(length) if frames is None else np.asarray(frames),
      "source": source,
      "camera_resolution": np.array([width, height]),
      "gt_3d_mm": gt,
      "valid": np.ones(length, bool) if valid is None else np.asarray(valid),
  }
  return pred, example


def per_joint_offsets(errors):
  """(T, 17) errors -> (T, 17, 3) offsets along x."""
  errors = np.asarray(errors, np.float64)
  out = np.zeros(errors.shape + (3,))
  out[..., 0] = errors
  return out


def evaluate(*clips, **kwargs):
  return evaluate_mpi_inf_3dhp([c[0] for c in clips], [c[1] for c in clips], **kwargs)


def frame_a():
  """14 counted joints off by 0..65 mm, pelvis exact, spine and head off by 1000."""
  e = np.zeros(17)
  e[:14] = 5.0 * np.arange(14)
  e[15:] = 1000.0
  return e


def frame_b():
  e = np.full(17, 200.0)
  e[ROOT] = 0.0
  return e


def test_hand_computed_sequence_with_an_invalid_frame():
  errors = np.stack([frame_a(), frame_b(), np.full(17, 1e4)])
  errors[2, ROOT] = 0
  res = evaluate(make_clip(per_joint_offsets(errors), valid=[1, 1, 0]))
  mpjpe_a = (5.0 * np.arange(14).sum() + 2000.0) / 17
  mpjpe_b = 200.0 * 16 / 17
  assert res["num_frames"] == 2 and res["num_sequences"] == 1
  assert res["mpjpe_mm"] == pytest.approx((mpjpe_a + mpjpe_b) / 2)
  assert res["pck_pct"] == pytest.approx(50.0)
  assert res["auc_pct"] == pytest.approx(100 * AUC_0_TO_65 / 2)
  assert res["per_sequence"]["TS1"] == {
      "mpjpe_mm": res["mpjpe_mm"], "pck_pct": res["pck_pct"],
      "auc_pct": res["auc_pct"], "num_frames": 2}


def test_overall_is_frame_weighted():
  e1 = np.tile(frame_b(), (1, 1))
  e2 = np.tile(frame_a(), (3, 1))
  res = evaluate(make_clip(per_joint_offsets(e1), source="TS2", seed=1),
                 make_clip(per_joint_offsets(e2), source="TS1", seed=2))
  seq = res["per_sequence"]
  assert list(seq) == ["TS1", "TS2"]
  assert seq["TS2"]["pck_pct"] == 0.0 and seq["TS1"]["pck_pct"] == 100.0
  assert res["pck_pct"] == pytest.approx(75.0)
  assert res["mpjpe_mm"] == pytest.approx(
      (seq["TS1"]["mpjpe_mm"] * 3 + seq["TS2"]["mpjpe_mm"]) / 4)
  assert res["auc_pct"] == pytest.approx(100 * AUC_0_TO_65 * 3 / 4)


def test_resolution_of_ts5():
  res = evaluate(make_clip(per_joint_offsets(np.tile(frame_b(), (4, 1))), source="TS5"))
  assert res["mpjpe_mm"] == pytest.approx(200.0 * 16 / 17)


def test_frame_in_two_clips_is_evaluated_once_with_the_mean_prediction():
  offsets = np.zeros((3, 17, 3))
  offsets[:, :ROOT, 0] = 40.0
  pred_a, ex_a = make_clip(offsets, frames=[0, 1, 2], seed=3)
  pred_b, ex_b = make_clip(-offsets, frames=[0, 1, 2], seed=3)  # same gt, opposite
  res = evaluate((pred_a, ex_a), (pred_b, ex_b))
  assert res["num_frames"] == 3
  assert res["mpjpe_mm"] == pytest.approx(0.0, abs=1e-9)
  _, ex_c = make_clip(offsets, frames=[0, 1, 2], seed=4)  # different gt, same frames
  with pytest.raises(ValueError, match="different ground truth"):
    evaluate((pred_a, ex_a), (pred_a, ex_c))


def test_stacked_and_list_examples_agree():
  a = make_clip(per_joint_offsets(np.tile(frame_a(), (2, 1))), source="TS1", seed=5)
  b = make_clip(per_joint_offsets(np.tile(frame_b(), (2, 1))), source="TS2", seed=6)
  stacked = {k: [a[1][k], b[1][k]] for k in a[1]}
  assert evaluate_mpi_inf_3dhp(np.stack([a[0], b[0]]), stacked) == evaluate(a, b)


def test_factor_multiplies_the_denormalised_prediction():
  pred, ex = make_clip(per_joint_offsets(np.tile(frame_b(), (2, 1))))
  ex["factor_2_5d"] = np.ones(2)
  assert evaluate((pred, ex))["mpjpe_mm"] == pytest.approx(200.0 * 16 / 17)
  ex["factor_2_5d"] = np.full(2, 2.0)
  assert evaluate((pred, ex))["mpjpe_mm"] != pytest.approx(200.0 * 16 / 17)


def test_centre_windows_with_an_oracle_model():
  # Input = normalised ground truth; the identity model makes every valid frame
  # exact: MPJPE 0, PCK 100 %, AUC 30/31 (threshold 0 counts nothing: strict <).
  pred, ex = make_clip(np.zeros((20, 17, 3)), valid=np.arange(20) % 3 != 0, seed=7)
  valid_frames = np.flatnonzero(ex["valid"])
  centre = centre_frame_predict(lambda x: x, pred, num_frames=9,
                                frame_indices=valid_frames, batch_size=4)
  seq_example = {k: ex[k] for k in ("source", "camera_resolution")}
  seq_example.update(frame_index=valid_frames, gt_3d_mm=ex["gt_3d_mm"][valid_frames],
                     valid=np.ones(valid_frames.size))
  res = evaluate_mpi_inf_3dhp([centre], [seq_example])
  assert res["num_frames"] == 13
  assert res["mpjpe_mm"] == pytest.approx(0.0, abs=1e-9)
  assert res["pck_pct"] == 100.0
  assert res["auc_pct"] == pytest.approx(100 * 30 / 31)


def test_table():
  res = evaluate(make_clip(per_joint_offsets(np.tile(frame_a(), (2, 1))), source="TS1"),
                 make_clip(per_joint_offsets(np.tile(frame_b(), (1, 1))), source="TS2"))
  lines = format_mpi_inf_3dhp_table(res).splitlines()
  assert "PCK@150mm" in lines[0]
  assert [line.split("|")[1].strip() for line in lines[2:]] == ["TS1", "TS2", "All"]
  assert lines[-1].split("|")[2].strip() == "3"
  assert lines[-1].split("|")[4].strip() == f"{res['pck_pct']:.2f}"


def test_bad_input():
  pred, ex = make_clip(np.zeros((3, 17, 3)))
  with pytest.raises(ValueError, match="valid"):
    evaluate_mpi_inf_3dhp([pred], [{k: v for k, v in ex.items() if k != "valid"}])
  with pytest.raises(ValueError, match="no valid frame"):
    evaluate_mpi_inf_3dhp([pred], [dict(ex, valid=np.zeros(3))])
  with pytest.raises(ValueError, match="'valid'"):
    evaluate_mpi_inf_3dhp([pred], [dict(ex, valid=np.ones(4))])
  with pytest.raises(ValueError, match="frame_index"):
    evaluate_mpi_inf_3dhp([pred], [dict(ex, frame_index=np.arange(2))])
  with pytest.raises(ValueError, match="out of range"):
    evaluate_mpi_inf_3dhp([pred[:, :14]], [dict(ex, gt_3d_mm=ex["gt_3d_mm"][:, :14])])
  with pytest.raises(ValueError, match="1 predicted clips for 2"):
    evaluate_mpi_inf_3dhp([pred], [ex, ex])
