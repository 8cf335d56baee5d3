"""Streaming evaluators: batch-by-batch equals all-at-once; states merge across hosts."""

from __future__ import annotations

import numpy as np
import pytest

from sasmamba_jax import evaluation
from sasmamba_jax.evaluation import base


def _stack(clips, keys):
  return {k: np.stack([np.asarray(c[k]) for c in clips]) for k in keys}


def _h36m_batch(h36m_fixture, rows):
  ex = h36m_fixture["examples"]
  keys = evaluation.H36MEvaluator.metadata_keys
  return (h36m_fixture["predictions"][rows], {k: ex[k][rows] for k in keys})


def test_h36m_batches_equal_the_whole_to_the_last_digit(h36m_fixture):
  whole = evaluation.evaluate_h36m(h36m_fixture["predictions"],
                                   h36m_fixture["examples"])
  ev = evaluation.H36MEvaluator()
  n = len(h36m_fixture["predictions"])
  for rows in (slice(0, 2), slice(2, 5), slice(5, n)):
    ev.update(*_h36m_batch(h36m_fixture, rows))
  assert ev.result() == whole


def test_h36m_states_merge_like_two_hosts(h36m_fixture):
  whole = evaluation.evaluate_h36m(h36m_fixture["predictions"],
                                   h36m_fixture["examples"])
  n = len(h36m_fixture["predictions"])
  hosts = [evaluation.H36MEvaluator() for _ in range(2)]
  for pid, ev in enumerate(hosts):  # Host p sees clips p, p + 2, ... as the pipeline.
    ev.update(*_h36m_batch(h36m_fixture, np.arange(pid, n, 2)))
  merged = evaluation.H36MEvaluator()
  base.merge_states(merged, [base.state_to_bytes(ev.state()) for ev in hosts])
  result = merged.result()
  assert result["p1_mm"] == pytest.approx(whole["p1_mm"], rel=1e-12)
  assert result["p2_mm"] == pytest.approx(whole["p2_mm"], rel=1e-12)
  for key in ("num_clips", "num_clips_excluded", "num_frames"):
    assert result[key] == whole[key], key
  for action, values in whole["per_action"].items():
    assert result["per_action"][action] == pytest.approx(values, rel=1e-12)


def test_h36m_merge_detects_frames_of_different_actions(h36m_fixture):
  a, b = evaluation.H36MEvaluator(), evaluation.H36MEvaluator()
  preds, meta = _h36m_batch(h36m_fixture, slice(0, 1))
  a.update(preds, meta)
  meta = dict(meta, action=np.asarray(["Other"]))
  b.update(preds, meta)
  with pytest.raises(ValueError, match="appears in clips of different actions"):
    a.merge(base.state_from_bytes(base.state_to_bytes(b.state())))


def _mpi_clips(seed=0, n=10):
  rng = np.random.default_rng(seed)
  gt = {s: rng.normal(0, 300, (120, 17, 3)) for s in ("TS1", "TS5")}
  clips = []
  for i in range(n):
    frames = np.arange((i % 5) * 15, (i % 5) * 15 + 27)
    source = ("TS1", "TS5")[i % 2]
    clips.append({"frame_index": frames, "source": source,
                  "camera_resolution": np.array([2048.0, 2048.0]),
                  "gt_3d_mm": gt[source][frames], "valid": rng.random(27) < 0.8,
                  "factor_2_5d": np.ones(27)})
  return rng.normal(0, 0.2, (n, 27, 17, 3)), clips


def test_mpi_inf_3dhp_batches_and_merged_hosts_equal_the_whole():
  preds, clips = _mpi_clips()
  keys = evaluation.MPIInf3DHPEvaluator.metadata_keys
  whole = evaluation.evaluate_mpi_inf_3dhp(preds, clips)
  ev = evaluation.MPIInf3DHPEvaluator()
  for rows in (slice(0, 3), slice(3, 10)):
    ev.update(preds[rows], _stack(clips[rows], keys))
  assert ev.result() == whole
  hosts = [evaluation.MPIInf3DHPEvaluator() for _ in range(2)]
  for pid, host in enumerate(hosts):
    host.update(preds[pid::2], _stack(clips[pid::2], keys))
  merged = evaluation.MPIInf3DHPEvaluator()
  base.merge_states(merged, [base.state_to_bytes(h.state()) for h in hosts])
  result = merged.result()
  for key in ("mpjpe_mm", "pck_pct", "auc_pct"):
    assert result[key] == pytest.approx(whole[key], rel=1e-12)
  assert result["num_frames"] == whole["num_frames"]
  assert result["num_clips"] == whole["num_clips"] == 10


def test_empty_evaluators_say_so():
  with pytest.raises(ValueError, match="no clips to evaluate"):
    evaluation.H36MEvaluator().result()
  with pytest.raises(ValueError, match="no clips to evaluate"):
    evaluation.MPIInf3DHPEvaluator().result()


def test_state_bytes_refuse_objects():
  with pytest.raises(TypeError, match="object array"):
    base.state_to_bytes({"x": np.asarray([{}], dtype=object)})
