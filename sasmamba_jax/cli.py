"""Plumbing shared by the entry points in ``experiments/``: flags, logs, errors.

An entry point defines its flags, writes ``main(argv)`` and ends with
``cli.run(main)``: library INFO logs are off unless ``--verbosity=0`` asks for them,
and the errors a user can cause (a bad config, a missing file, a damaged
checkpoint) print one ``error: ...`` line and exit 1 instead of a traceback.
"""

from __future__ import annotations

import sys
from typing import Callable, Sequence

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from sasmamba_jax.checkpoints import CheckpointError
from sasmamba_jax.datasets import DataFileError
from sasmamba_jax.train import CheckpointRestoreError
from sasmamba_jax.train import NonFiniteLossError

# What a user's input can raise; anything else is a bug and keeps its traceback.
USER_ERRORS: tuple[type[BaseException], ...] = (
    ValueError, FileNotFoundError, KeyError, CheckpointError, CheckpointRestoreError,
    NonFiniteLossError, DataFileError)


def define_config_flag(help_text: str, *, required: bool = True):
  """The ``--config=configs/FILE.py[:arg]`` flag, with ``--config.KEY=VALUE`` overrides."""
  flag = config_flags.DEFINE_config_file(
      "config", None, help_text + " Override any key with --config.KEY=VALUE (all "
      "keys: sasmamba_jax/train/README.md).", lock_config=True)
  if required:
    flags.mark_flags_as_required(["config"])
  return flag


def reject_extra_args(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")


def run(main: Callable[[Sequence[str]], int | None]) -> None:
  """``app.run(main)`` with quiet library logs and one-line user errors."""

  def wrapped(argv):
    # Orbax and TFDS log every file operation at INFO, and a library sets the absl
    # verbosity to INFO on import (so a flag default does not hold): set WARNING
    # here, after parsing, unless --verbosity was given on the command line.
    if not flags.FLAGS["verbosity"].present:
      logging.set_verbosity(logging.WARNING)
    try:
      return main(argv)
    except USER_ERRORS as e:
      message = e.args[0] if isinstance(e, KeyError) and e.args else e
      print(f"error: {message}", file=sys.stderr)
      sys.exit(1)

  app.run(wrapped)
