"""Benchmarks the registered models at T = 243; prints a table and saves JSON.

  python -m experiments.benchmark_models                         # every model
  python -m experiments.benchmark_models --models=sasmamba,posemamba_s,mlp_baseline \
      --batch=1 --repeats=2

Results go to benchmarks/results/benchmark_models_<backend>_<device>.json.
"""

from absl import flags

from sasmamba_jax import benchmarking
from sasmamba_jax import cli
from sasmamba_jax import models
from sasmamba_jax.benchmarking import models as benchmark

_MODELS = flags.DEFINE_list("models", list(models.names("lifter")),
                            "Models to run (pose lifters).")
_BATCH = flags.DEFINE_integer("batch", 1, "Clips per forward call.")
_FRAMES = flags.DEFINE_integer("frames", 243, "Frames per clip (T).")
_REPEATS = flags.DEFINE_integer("repeats", 3, "Timed calls per model.")
_FLOPS = flags.DEFINE_bool("flops", True, "Also compile a loop-free build for FLOPs.")
_DTYPE = flags.DEFINE_enum("dtype", "float32", ["float32", "bfloat16"],
                           "Compute dtype.")
_RESULTS_DIR = flags.DEFINE_string("results_dir", str(benchmarking.RESULTS_DIR),
                                   "Where the JSON goes.")


def main(argv):
  cli.reject_extra_args(argv)
  payload = benchmark.run(_MODELS.value, batch=_BATCH.value, frames=_FRAMES.value,
                          repeats=_REPEATS.value, flops=_FLOPS.value, dtype=_DTYPE.value)
  columns = ["model", "params", "gflops_per_frame", "frames_per_s", "ms_per_clip_batch",
             "mem_estimate_mib", "device_peak_mib", "compile_s"]
  benchmarking.report("benchmark_models", payload, columns, _RESULTS_DIR.value)


if __name__ == "__main__":
  cli.run(main)
