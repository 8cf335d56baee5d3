"""Trains and evaluates a config; resumes when --workdir already holds the run.

  python -m experiments.train --config=configs/h36m_sasmamba.py --workdir=runs/sas
  python -m experiments.train --config=configs/h36m_posemamba.py:b --workdir=runs/pm_b
  python -m experiments.train --config=configs/synthetic_sasmamba.py \\
      --workdir=runs/quickstart --config.max_steps=100
"""

import sys

from absl import app
from absl import flags
from ml_collections import config_flags

from sasmamba_jax import train

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Config file, optionally with an argument: file.py:arg.",
    lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory (checkpoints, logs).")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  try:
    train.train_and_evaluate(_CONFIG.value, _WORKDIR.value)
  except (ValueError, FileNotFoundError, train.CheckpointRestoreError,
          train.NonFiniteLossError) as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(1)


if __name__ == "__main__":
  # Orbax and TFDS log every file operation at INFO; --verbosity=0 brings them back.
  flags.FLAGS.set_default("verbosity", -1)
  app.run(main)
