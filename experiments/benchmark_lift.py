"""Benchmarks lifting (experiments.lift's Lifter): frames/s over a long sequence.

  python -m experiments.benchmark_lift                      # sasmamba, posemamba_s
  python -m experiments.benchmark_lift --models=sasmamba --length=1215 --repeats=1

Results go to benchmarks/results/benchmark_lift_<backend>_<device>.json.
"""

from absl import flags

from sasmamba_jax import benchmarking
from sasmamba_jax import cli
from sasmamba_jax.benchmarking import lifting

_MODELS = flags.DEFINE_list("models", ["sasmamba", "posemamba_s"], "Models to run.")
_FRAMES = flags.DEFINE_integer("frames", 243, "Model window T.")
_LENGTH = flags.DEFINE_integer("length", 2430, "Frames in the lifted sequence.")
_BATCH = flags.DEFINE_integer("batch_size", 4, "Windows per model call.")
_FLIP = flags.DEFINE_bool("flip_test", True, "Flip-average as experiments.lift does.")
_REPEATS = flags.DEFINE_integer("repeats", 2, "Timed runs per model (best kept).")
_RESULTS_DIR = flags.DEFINE_string("results_dir", str(benchmarking.RESULTS_DIR),
                                   "Where the JSON goes.")


def main(argv):
  cli.reject_extra_args(argv)
  payload = lifting.run(_MODELS.value, frames=_FRAMES.value, length=_LENGTH.value,
                        batch_size=_BATCH.value, flip_test=_FLIP.value,
                        repeats=_REPEATS.value)
  columns = ["model", "window", "stride", "flip_test", "sequence_frames", "seconds",
             "frames_per_s", "first_call_s"]
  benchmarking.report("benchmark_lift", payload, columns, _RESULTS_DIR.value)


if __name__ == "__main__":
  cli.run(main)
