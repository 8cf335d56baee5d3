"""Trains and evaluates a config; resumes when --workdir already holds the run.

  python -m experiments.train --config=configs/h36m_sasmamba.py --workdir=runs/sas
  python -m experiments.train --config=configs/h36m_posemamba.py:b --workdir=runs/pm_b
  python -m experiments.train --config=configs/synthetic_sasmamba.py \\
      --workdir=runs/quickstart --config.max_steps=100
"""

from absl import flags

from sasmamba_jax import cli
from sasmamba_jax import train

_CONFIG = cli.define_config_flag("Config file, optionally with an argument: file.py:arg.")
_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory (checkpoints, logs).")
flags.mark_flags_as_required(["workdir"])


def main(argv):
  cli.reject_extra_args(argv)
  train.train_and_evaluate(_CONFIG.value, _WORKDIR.value)


if __name__ == "__main__":
  cli.run(main)
