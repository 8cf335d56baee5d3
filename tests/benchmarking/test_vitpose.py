"""The ViTPose benchmark measures the forward of a registered ViTPose."""

import pytest

from sasmamba_jax import benchmarking
from sasmamba_jax.benchmarking import vitpose


def test_vitpose_benchmark_runs(tmp_path):
  payload = vitpose.run(["vitpose_tiny"], batch=1, repeats=1)
  (row,) = payload["results"]
  assert (row["params_backbone"], row["params_head"], row["params"]) == (
      50_496, 33_457, 83_953)
  assert row["images_per_s"] > 0 and row["gflops_per_image"] > 0
  assert row["image"] == "64x48"
  assert benchmarking.save_results("benchmark_vitpose", payload, tmp_path).is_file()
  with pytest.raises(ValueError, match="not a ViTPose"):
    vitpose.bench_model("sasmamba", batch=1, repeats=1)
