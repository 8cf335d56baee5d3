"""Evaluates a checkpoint (a run of ours or an official PyTorch one); prints and saves.

  python -m experiments.evaluate --config=configs/h36m_sasmamba.py --checkpoint=runs/sas
  python -m experiments.evaluate --config=configs/h36m_posemamba.py:s \\
      --checkpoint=checkpoint/posemamba_s/best_epoch.bin
"""

from absl import flags

from sasmamba_jax import cli
from sasmamba_jax.train import evaluator

_CONFIG = cli.define_config_flag("Config file (file.py[:arg]): data, task and protocol.")
_CHECKPOINT = flags.DEFINE_string(
    "checkpoint", None, "A workdir of experiments.train, or an official checkpoint.")
_OUTPUT = flags.DEFINE_string("output", None, "JSON file for the results.")
_LATEST = flags.DEFINE_bool("latest", False,
                            "Evaluate a run's latest checkpoint instead of its best.")
flags.mark_flags_as_required(["checkpoint"])


def main(argv):
  cli.reject_extra_args(argv)
  evaluator.evaluate_checkpoint(_CONFIG.value, _CHECKPOINT.value, _OUTPUT.value,
                                latest=_LATEST.value)


if __name__ == "__main__":
  cli.run(main)
