"""The on-device check of the GPU path: kernel correctness, scan and train-step
timings, the Pallas kernel's tuning; one JSON in benchmarks/results.

  python -m experiments.check_gpu                  # on a GPU: about 10 min on an H100
  python -m experiments.check_gpu --parts=kernel,scans
  python -m experiments.check_gpu --smoke          # any machine: tiny, interpreted

Exits non-zero when a part fails or the kernel differs from the reference
(sasmamba_jax/benchmarking/gpu_check.py; how to run it on a lent GPU:
sasmamba_jax/benchmarking/README.md).
"""

import json
import pathlib

from absl import flags

from sasmamba_jax import benchmarking
from sasmamba_jax import cli
from sasmamba_jax.benchmarking import gpu_check

_PARTS = flags.DEFINE_list("parts", list(gpu_check.PARTS),
                           f"Parts to run: {', '.join(gpu_check.PARTS)}.")
_SMOKE = flags.DEFINE_bool("smoke", False, "Tiny sizes, the interpreted kernel, any "
                           "machine (what CI runs).")
_REPEATS = flags.DEFINE_integer("repeats", 5, "Timed calls per measurement.")
_OUTPUT = flags.DEFINE_string("output", str(benchmarking.RESULTS_DIR),
                              "Folder of the JSON (check_gpu_<backend>_<device>.json).")


def main(argv):
  cli.reject_extra_args(argv)
  payload = gpu_check.run(_PARTS.value, smoke=_SMOKE.value, repeats=_REPEATS.value)
  name = "check_gpu_smoke" if _SMOKE.value else "check_gpu"
  path = benchmarking.save_results(name, payload, pathlib.Path(_OUTPUT.value))
  print(f"saved {path}")
  if payload["failures"]:
    raise RuntimeError(f"failed: {', '.join(payload['failures'])} (details in {path}: "
                       + json.dumps({k: v["result"].get("error")
                                     for k, v in payload["parts"].items()
                                     if isinstance(v["result"], dict)
                                     and "error" in v["result"]})[:300] + ")")


if __name__ == "__main__":
  cli.run(main)
