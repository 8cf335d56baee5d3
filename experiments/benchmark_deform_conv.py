"""Benchmarks the deformable convolution against a plain convolution of the same size.

  python -m experiments.benchmark_deform_conv                       # default shapes
  python -m experiments.benchmark_deform_conv --shapes=small --repeats=5

Results go to benchmarks/results/benchmark_deform_conv_<backend>_<device>.json.
"""

from absl import flags

from sasmamba_jax import benchmarking
from sasmamba_jax import cli
from sasmamba_jax.benchmarking import deform_conv as benchmark

_SHAPES = flags.DEFINE_list("shapes", ["sasmamba_quickstart", "glsmamba_tiny",
                                      "glsmamba_tiny_depthwise", "glsmamba_stmm_b8"],
                            f"Shapes to run: {', '.join(benchmark.SHAPES)}.")
_REPEATS = flags.DEFINE_integer("repeats", 3, "Timed calls per measurement.")
_RESULTS_DIR = flags.DEFINE_string("results_dir", str(benchmarking.RESULTS_DIR),
                                   "Where the JSON goes.")


def main(argv):
  cli.reject_extra_args(argv)
  payload = benchmark.run(_SHAPES.value, _REPEATS.value)
  columns = ["shape", "op", "fwd_ms", "fwd_bwd_ms", "fwd_vs_plain", "fwd_bwd_vs_plain",
             "fwd_mem_mib", "fwd_bwd_mem_mib", "columns_mib", "compile_s"]
  benchmarking.report("benchmark_deform_conv", payload, columns, _RESULTS_DIR.value)


if __name__ == "__main__":
  cli.run(main)
