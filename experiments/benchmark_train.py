"""Benchmarks the train step of each model at T = 243; prints a table and saves JSON.

  python -m experiments.benchmark_train --models=sasmamba,posemamba_s,mlp_baseline \\
      --batch=2 --repeats=2

Results go to benchmarks/results/benchmark_train_<backend>_<device>.json.
"""

from absl import flags

from sasmamba_jax import benchmarking
from sasmamba_jax import cli
from sasmamba_jax import models
from sasmamba_jax.benchmarking import train_step as benchmark

_MODELS = flags.DEFINE_list("models", list(models.names("lifter")),
                            "Models to run (pose lifters).")
_BATCH = flags.DEFINE_integer("batch", 16, "Clips per step (global).")
_FRAMES = flags.DEFINE_integer("frames", 243, "Frames per clip (T).")
_REPEATS = flags.DEFINE_integer("repeats", 3, "Timed steps per model.")
_DTYPE = flags.DEFINE_enum("compute_dtype", "float32", ["float32", "bfloat16"],
                           "Compute dtype.")
_RESULTS_DIR = flags.DEFINE_string("results_dir", str(benchmarking.RESULTS_DIR),
                                   "Where the JSON goes.")


def main(argv):
  cli.reject_extra_args(argv)
  payload = benchmark.run(_MODELS.value, batch=_BATCH.value, frames=_FRAMES.value,
                          repeats=_REPEATS.value, compute_dtype=_DTYPE.value)
  columns = ["model", "params", "batch", "frames", "clips_per_s", "ms_per_step",
             "mem_estimate_mib", "device_peak_mib", "compile_s"]
  benchmarking.report("benchmark_train", payload, columns, _RESULTS_DIR.value)


if __name__ == "__main__":
  cli.run(main)
