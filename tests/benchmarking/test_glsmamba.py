"""The GLSMamba pipeline benchmark runs the trainer's step and predict, crops in."""

import pytest

from sasmamba_jax import benchmarking
from sasmamba_jax.benchmarking import glsmamba


@pytest.mark.slow
def test_pipeline_benchmark_runs_train_and_eval_paths(tmp_path):
  payload = glsmamba.run_pipeline(model="glsmamba_tiny", backbone="vitpose_tiny",
                                  frames=3, height=64, width=48, batch=2, repeats=1,
                                  **{"codec.dark_kernel": 3})
  rows = payload["results"]
  assert [(r["mode"], r["input"], r.get("flip_test")) for r in rows] == [
      ("train", "images", None), ("train", "features", None),
      ("eval", "images", True), ("eval", "images", False)]
  train_images, train_features = rows[:2]
  # The frozen ViTPose is held apart, untrained, in both train paths.
  assert train_images["frozen_params"] > 0
  assert train_images["trained_params"] == train_features["trained_params"] > 0
  for row in rows:
    rate = row["clips_per_s"] if row["mode"] == "train" else row["crops_per_s"]
    assert rate == pytest.approx(2 / row["seconds"]) and rate > 0
    assert row["frames"] == 3 and row["crop"] == "64x48" and row["batch"] == 2
  settings = payload["settings"]
  assert settings["freeze"] == ["^backbone/"] and settings["crop"] == [64, 48]
  assert payload["environment"]["jax"]
  path = benchmarking.save_results("benchmark_glsmamba_pipeline", payload, tmp_path)
  assert path.is_file()


def test_pipeline_benchmark_rejects_an_empty_batch():
  with pytest.raises(ValueError, match="batch"):
    glsmamba.bench_pipeline(model="glsmamba_tiny", backbone="vitpose_tiny",
                            frames=3, height=64, width=48, batch=0)
