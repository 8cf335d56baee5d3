"""Benchmarks ViTPose's forward and the top-down path (estimate_2d); prints and saves JSON.

  python -m experiments.benchmark_topdown                                  # ViTPose-B
  python -m experiments.benchmark_topdown --models=vitpose_tiny --images=4 --people=2

Results go to benchmarks/results/benchmark_topdown_<backend>_<device>.json.
"""

from absl import flags

from sasmamba_jax import benchmarking
from sasmamba_jax import cli
from sasmamba_jax.benchmarking import topdown as benchmark

_MODELS = flags.DEFINE_list("models", ["vitpose_b"], "Registered ViTPose models.")
_IMAGES = flags.DEFINE_integer("images", 16, "Synthetic 640 x 480 images per call.")
_PEOPLE = flags.DEFINE_integer("people", 4, "Person boxes per image.")
_BATCH = flags.DEFINE_integer("batch", 32, "Crops per model call.")
_REPEATS = flags.DEFINE_integer("repeats", 3, "Timed calls.")
_FLIP = flags.DEFINE_bool("flip", True, "Flip test (twice the model work).")
_DTYPE = flags.DEFINE_enum("dtype", "float32", ["float32", "bfloat16"], "Compute dtype.")
_RESULTS_DIR = flags.DEFINE_string("results_dir", str(benchmarking.RESULTS_DIR),
                                   "Where the JSON goes.")


def main(argv):
  cli.reject_extra_args(argv)
  payload = benchmark.run(_MODELS.value, images=_IMAGES.value, people=_PEOPLE.value,
                          batch=_BATCH.value, repeats=_REPEATS.value, flip=_FLIP.value,
                          dtype=_DTYPE.value)
  columns = ["model", "params", "dtype", "crop", "batch", "flip", "forward_crops_per_s",
             "estimate_2d_people_per_s", "estimate_2d_images_per_s",
             "forward_compile_s", "estimate_2d_first_call_s"]
  benchmarking.report("benchmark_topdown", payload, columns, _RESULTS_DIR.value)


if __name__ == "__main__":
  cli.run(main)
