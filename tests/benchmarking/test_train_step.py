"""The train-step benchmark runs the trainer's step on the task's batch spec."""

from sasmamba_jax import benchmarking
from sasmamba_jax.benchmarking import train_step


def test_train_benchmark_runs(tmp_path):
  payload = train_step.run(["mlp_baseline"], batch=4, frames=9, repeats=1)
  (row,) = payload["results"]
  assert row["clips_per_s"] > 0 and row["params"] == 4_296_755
  assert payload["task"] == "lifting_3d" and row["frames"] == 9
  assert benchmarking.save_results("benchmark_train", payload, tmp_path).is_file()
