"""Evaluates a checkpoint (a run of ours or an official PyTorch one); prints and saves.

  python -m experiments.evaluate --config=configs/h36m_sasmamba.py --checkpoint=runs/sas
  python -m experiments.evaluate --config=configs/h36m_posemamba.py:s \\
      --checkpoint=checkpoint/posemamba_s/best_epoch.bin
"""

import sys

from absl import app
from absl import flags
from ml_collections import config_flags

from sasmamba_jax import train
from sasmamba_jax.checkpoints import CheckpointError
from sasmamba_jax.train import evaluate

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Config file (file.py[:arg]): data, task and protocol.",
    lock_config=True)
_CHECKPOINT = flags.DEFINE_string(
    "checkpoint", None, "A workdir of experiments.train, or an official checkpoint.")
_OUTPUT = flags.DEFINE_string("output", None, "JSON file for the results.")
_LATEST = flags.DEFINE_bool("latest", False,
                            "Evaluate a run's latest checkpoint instead of its best.")
flags.mark_flags_as_required(["config", "checkpoint"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  try:
    evaluate.evaluate_checkpoint(_CONFIG.value, _CHECKPOINT.value, _OUTPUT.value,
                                 latest=_LATEST.value)
  except (ValueError, FileNotFoundError, CheckpointError,
          train.CheckpointRestoreError) as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(1)


if __name__ == "__main__":
  # Orbax and TFDS log every file operation at INFO; --verbosity=0 brings them back.
  flags.FLAGS.set_default("verbosity", -1)
  app.run(main)
