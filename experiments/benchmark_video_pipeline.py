"""Times the synthetic_video_pose build and the top-down clip pipeline (crops/s).

  python -m experiments.benchmark_video_pipeline                 # delta2, 256x192
  python -m experiments.benchmark_video_pipeline --config=tiny --crop=48,64 \\
      --workers=0 --batches=2

Results go to benchmarks/results/benchmark_video_pipeline_<backend>_<device>.json.
"""

from absl import flags

from sasmamba_jax import benchmarking
from sasmamba_jax import cli
from sasmamba_jax.benchmarking import video_pipeline as benchmark

_CONFIG = flags.DEFINE_string("config", "delta2", "synthetic_video_pose config.")
_CROP = flags.DEFINE_list("crop", ["192", "256"], "Crop width,height.")
_WORKERS = flags.DEFINE_list("workers", ["0", "2"], "grain worker counts to time.")
_BATCH = flags.DEFINE_integer("batch_size", 16, "Examples per batch.")
_BATCHES = flags.DEFINE_integer("batches", 8, "Timed batches (after one warm-up).")
_RESULTS_DIR = flags.DEFINE_string("results_dir", str(benchmarking.RESULTS_DIR),
                                   "Where the JSON goes.")


def main(argv):
  cli.reject_extra_args(argv)
  payload = benchmark.run(_CONFIG.value, [int(c) for c in _CROP.value],
                          [int(w) for w in _WORKERS.value], _BATCH.value,
                          _BATCHES.value)
  build = payload["build"]
  print(f"build synthetic_video_pose/{build['config']}: {build['seconds']} s "
        f"({build['train_examples']} train, {build['val_examples']} val examples)")
  columns = ["config", "crop", "frames_per_example", "workers", "batch",
             "examples_per_s", "crops_per_s"]
  benchmarking.report("benchmark_video_pipeline", payload, columns,
                      _RESULTS_DIR.value)


if __name__ == "__main__":
  cli.run(main)
