"""The config a run saved: WORKDIR/config.json, upgraded to today's keys and types.

  python -m experiments.evaluate --config=configs/run.py:runs/sas --checkpoint=runs/sas
  python -m experiments.train --config=configs/run.py:runs/sas --workdir=runs/sas \\
      --config.max_steps=2000        # resume it, with a safe change

``experiments.evaluate`` reads a run's config this way when --config is not given.
"""

import pathlib

from sasmamba_jax.train import config as config_lib


def get_config(workdir: str):
  saved = pathlib.Path(workdir) / "config.json"
  if not saved.is_file():
    raise ValueError(f"{saved} not found: configs/run.py:WORKDIR takes a run "
                     "directory of experiments.train")
  return config_lib.load_saved(saved)
