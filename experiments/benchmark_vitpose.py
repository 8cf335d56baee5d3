"""Benchmarks the ViTPose models' forward (images -> heatmaps); prints and saves JSON.

  python -m experiments.benchmark_vitpose                        # ViTPose-B, 256 x 192
  python -m experiments.benchmark_vitpose --models=vitpose_s,vitpose_b --batch=4 \
      --dtype=bfloat16

Results go to benchmarks/results/benchmark_vitpose_<backend>_<device>.json.
"""

from absl import flags

from sasmamba_jax import benchmarking
from sasmamba_jax import cli
from sasmamba_jax.benchmarking import vitpose as benchmark

_MODELS = flags.DEFINE_list("models", ["vitpose_b"], "ViTPose models to run.")
_BATCH = flags.DEFINE_integer("batch", 2, "Person crops per forward call.")
_SIZE = flags.DEFINE_list("image_size", [], "Crop H,W (default: the model's, 256,192).")
_REPEATS = flags.DEFINE_integer("repeats", 3, "Timed calls per model.")
_DTYPE = flags.DEFINE_enum("dtype", "float32", ["float32", "bfloat16"],
                           "Compute dtype.")
_RESULTS_DIR = flags.DEFINE_string("results_dir", str(benchmarking.RESULTS_DIR),
                                   "Where the JSON goes.")


def main(argv):
  cli.reject_extra_args(argv)
  size = tuple(int(s) for s in _SIZE.value) or None
  payload = benchmark.run(_MODELS.value, batch=_BATCH.value, repeats=_REPEATS.value,
                          image_size=size, dtype=_DTYPE.value)
  columns = ["model", "image", "batch", "dtype", "params_backbone", "params_head",
             "gflops_per_image", "images_per_s", "ms_per_batch", "mem_estimate_mib",
             "compile_s"]
  benchmarking.report("benchmark_vitpose", payload, columns, _RESULTS_DIR.value)


if __name__ == "__main__":
  cli.run(main)
