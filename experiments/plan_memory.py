"""Memory plan from the compiler: a run's train step on a GPU or TPU we may not have.

  python -m experiments.plan_memory --config=configs/h36m_sasmamba.py --device=h100
  python -m experiments.plan_memory --config=configs/h36m_posemamba.py:l \\
      --device=h100x8,v5e:2x4 --param_sharding=replicated,fsdp
  python -m experiments.plan_memory --table      # every recipe config, every device
  python -m experiments.plan_memory --table --resume   # go on after an interruption
  python -m experiments.plan_memory --table --nosearch --device=h100,v5e  # quicker

Prints, per device, the compiled step's memory per device at the config's batch
size and the largest batch that fits (80 GB per H100, 16 GB per v5e chip; change
with --budget_gb), and with FSDP how much parameter and optimizer memory each device
saves. Needs the compiler plugins: pip install -e '.[aot]' (sasmamba_jax/aot).
--table writes benchmarks/results/plan_memory.json.
"""

import json
import pathlib

from absl import flags
from ml_collections import config_flags

from sasmamba_jax import cli
from sasmamba_jax.aot import plan_table

_CONFIG = cli.define_config_flag("Run config to plan (configs/FILE.py[:arg]).",
                                 required=False)
_DEVICE = flags.DEFINE_list(
    "device", ["h100"], "Targets: " + ", ".join(plan_table.targets_lib.TARGETS) + ".")
_PARAM_SHARDING = flags.DEFINE_list(
    "param_sharding", None, "replicated and/or fsdp (default: the config's; both on "
    "several devices).")
_BUDGET_GB = flags.DEFINE_float("budget_gb", None,
                                "Memory per device in GB (default: the device's).")
_MAX_BATCH = flags.DEFINE_integer("max_batch", 1 << 16,
                                  "Search no global batch above this.")
_TABLE = flags.DEFINE_bool("table", False, "Plan every recipe config on every device "
                           "(or those --device names) and write "
                           "benchmarks/results/plan_memory.json.")
_RESUME = flags.DEFINE_bool("resume", False, "With --table: keep the configs already "
                            "in the results file and plan the others.")
_SEARCH = flags.DEFINE_bool("search", True, "Search the largest batch that fits "
                            "(--nosearch: compile at the config's batch only, "
                            "unless it does not fit).")
_RESULTS_DIR = flags.DEFINE_string("results_dir", "benchmarks/results",
                                   "Where --table writes its JSON.")


def main(argv):
  cli.reject_extra_args(argv)
  if _TABLE.value:
    done = []
    previous = pathlib.Path(_RESULTS_DIR.value) / "plan_memory.json"
    if _RESUME.value and previous.is_file():
      done = json.loads(previous.read_text())["rows"]
    save = lambda payload: plan_table.save(payload, _RESULTS_DIR.value)
    # --device narrows the table's devices only when given.
    devices = (_DEVICE.value if flags.FLAGS["device"].present
               else plan_table.DEVICES)
    payload = plan_table.run_table(cli.load_config_file, log=print, done=done,
                                   save=save, devices=devices,
                                   search=_SEARCH.value)
    path = save(payload)
    print(plan_table.markdown(payload))
    print(f"saved {path}")
    return
  if _CONFIG.value is None:
    raise cli.UsageError("give --config=configs/FILE.py[:arg] (or --table)")
  budget = int(_BUDGET_GB.value * 1e9) if _BUDGET_GB.value else None
  spec = config_flags.get_config_filename(flags.FLAGS["config"])
  rows = plan_table.plan_config(_CONFIG.value, spec, _DEVICE.value,
                                shardings=_PARAM_SHARDING.value, budget_bytes=budget,
                                max_batch=_MAX_BATCH.value, search=_SEARCH.value,
                                log=print)
  print(plan_table.markdown({"rows": rows}))


if __name__ == "__main__":
  cli.run(main)
