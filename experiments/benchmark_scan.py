"""Benchmarks every selective-scan implementation; prints a table and saves JSON.

  python -m experiments.benchmark_scan                      # all impls, both shapes
  python -m experiments.benchmark_scan --shapes=small --impls=chunked,sequential

Results go to benchmarks/results/benchmark_scan_<backend>_<device>.json.
"""

from absl import flags

from sasmamba_jax import benchmarking
from sasmamba_jax import cli
from sasmamba_jax.benchmarking import scan as benchmark

_SHAPES = flags.DEFINE_list("shapes", ["small", "posemamba_s"],
                            f"Shapes to run: {', '.join(benchmark.SHAPES)}.")
_IMPLS = flags.DEFINE_list("impls", None,
                           "Implementations (default: all that run natively here).")
_CHUNK_SIZES = flags.DEFINE_list("chunk_sizes", ["32", "64", "128", "256"],
                                 "Chunk sizes tried for impl=chunked.")
_REPEATS = flags.DEFINE_integer("repeats", 3, "Timed calls per measurement.")
_RESULTS_DIR = flags.DEFINE_string("results_dir", str(benchmarking.RESULTS_DIR),
                                   "Where the JSON goes.")


def main(argv):
  cli.reject_extra_args(argv)
  impls = _IMPLS.value or benchmark.default_impls()
  payload = benchmark.run(_SHAPES.value, impls, [int(c) for c in _CHUNK_SIZES.value],
                          _REPEATS.value)
  columns = ["shape", "impl", "fwd_ms", "fwd_bwd_ms", "fwd_mem_estimate_gib",
             "fwd_bwd_mem_estimate_gib", "fwd_gb_per_s", "fwd_bandwidth_fraction",
             "fwd_bwd_speedup_vs_associative"]
  benchmarking.report("benchmark_scan", payload, columns, _RESULTS_DIR.value)
  print(f"auto resolves to {payload['auto_resolves_to']}")


if __name__ == "__main__":
  cli.run(main)
