"""Evaluates a checkpoint (a run of ours or an official PyTorch one); prints and saves.

  python -m experiments.evaluate --checkpoint=runs/sas          # the run's own config
  python -m experiments.evaluate --checkpoint=runs/sas --latest --output=sas.json
  python -m experiments.evaluate --config=configs/h36m_posemamba.py:s \\
      --checkpoint=checkpoint/posemamba_s/best_epoch.bin

A run directory brings its config (config.json, read by configs/run.py); --config
replaces it (and is needed for an official checkpoint, which brings only weights).
"""

import pathlib

from absl import flags

from sasmamba_jax import cli
from sasmamba_jax.checkpoints import sources
from sasmamba_jax.train import evaluator

_CONFIG = cli.define_config_flag(
    "Config file (file.py[:arg]): data, task and protocol. Default for a run "
    "directory: its config.json (configs/run.py:RUN).", required=False)
_CHECKPOINT = flags.DEFINE_string(
    "checkpoint", None, "A workdir of experiments.train, or an official checkpoint.")
_OUTPUT = flags.DEFINE_string(
    "output", None, "JSON file for the results (default: RUN/eval/final.json, or "
    "<checkpoint>.eval.json beside an official one).")
_LATEST = flags.DEFINE_bool("latest", False,
                            "Evaluate a run's latest checkpoint instead of its best.")
flags.mark_flags_as_required(["checkpoint"])

_RUN_CONFIG = pathlib.Path(__file__).resolve().parents[1] / "configs" / "run.py"


def _saved_config(argv):
  """configs/run.py:RUN for --checkpoint=RUN, a run directory with its config."""
  for arg in argv:
    if arg.startswith("--checkpoint="):
      run = pathlib.Path(arg.partition("=")[2])
      if sources.is_run_dir(run) and (run / "config.json").is_file():
        return f"{_RUN_CONFIG}:{run}"
  return None


def main(argv):
  cli.reject_extra_args(argv)
  checkpoint = pathlib.Path(_CHECKPOINT.value)
  if not checkpoint.exists():
    raise FileNotFoundError(f"checkpoint {checkpoint} does not exist")
  if _CONFIG.value is None:
    raise cli.UsageError(evaluator.config_needed(checkpoint))
  evaluator.evaluate_checkpoint(_CONFIG.value, checkpoint, _OUTPUT.value,
                                latest=_LATEST.value)


if __name__ == "__main__":
  cli.run(main, default_config=_saved_config)
