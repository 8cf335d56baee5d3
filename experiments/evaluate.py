"""Evaluates a checkpoint (a run of ours or an official PyTorch one); prints and saves.

  python -m experiments.evaluate --checkpoint=runs/sas          # the run's own config
  python -m experiments.evaluate --checkpoint=runs/sas --latest --output=sas.json
  python -m experiments.evaluate --config=configs/h36m_posemamba.py:s \\
      --checkpoint=checkpoint/posemamba_s/best_epoch.bin

A run directory brings its config (config.json); --config replaces it (and is needed
for an official checkpoint, which brings only weights).
"""

import pathlib

from absl import flags
import ml_collections

from sasmamba_jax import cli
from sasmamba_jax.checkpoints import sources
from sasmamba_jax.train import config as config_lib
from sasmamba_jax.train import evaluator

_CONFIG = cli.define_config_flag(
    "Config file (file.py[:arg]): data, task and protocol. Default for a run "
    "directory: its config.json.", required=False)
_CHECKPOINT = flags.DEFINE_string(
    "checkpoint", None, "A workdir of experiments.train, or an official checkpoint.")
_OUTPUT = flags.DEFINE_string(
    "output", None, "JSON file for the results (default: RUN/eval/final.json, or "
    "<checkpoint>.eval.json beside an official one).")
_LATEST = flags.DEFINE_bool("latest", False,
                            "Evaluate a run's latest checkpoint instead of its best.")
flags.mark_flags_as_required(["checkpoint"])


def _config(checkpoint: pathlib.Path) -> ml_collections.ConfigDict:
  if _CONFIG.given:
    return _CONFIG.value
  saved = checkpoint / "config.json"
  if sources.is_run_dir(checkpoint) and saved.is_file():
    return cli.apply_overrides(config_lib.load_saved(saved), _CONFIG.overrides)
  raise cli.UsageError(f"{checkpoint} is not a run directory with a config.json: pass "
                       "--config=configs/FILE.py (the config it was trained with)")


def main(argv):
  cli.reject_extra_args(argv)
  checkpoint = pathlib.Path(_CHECKPOINT.value)
  if not checkpoint.exists():
    raise FileNotFoundError(f"checkpoint {checkpoint} does not exist")
  evaluator.evaluate_checkpoint(_config(checkpoint), checkpoint, _OUTPUT.value,
                                latest=_LATEST.value)


if __name__ == "__main__":
  cli.run(main)
