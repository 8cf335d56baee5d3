"""Plumbing shared by the entry points in ``experiments/``: config, flags, logs, errors.

An entry point defines its flags (``define_config_flag`` for ``--config``: stock
``ml_collections.config_flags``, so ``--config=configs/FILE.py[:arg]`` loads the file
and ``--config.KEY=VALUE`` overrides any key, typed by the config: model options
included, ``--config.model.dim=32``), writes ``main(argv)`` and ends with
``cli.run(main)``. Then:
- a missing config file, an unknown key or a value of the wrong type is a one-line
  error (with a "did you mean");
- library INFO logs are off unless ``--verbosity=0`` asks for them;
- every error prints one ``error: ...`` line and exits 1 (an interrupt: 130); the
  traceback appears only with ``--debug``.
"""

from __future__ import annotations

import difflib
import pathlib
import re
import sys
from typing import Callable, Sequence

from absl import app
from absl import flags
from absl import logging
import ml_collections
from ml_collections import config_flags
from ml_collections.config_flags.config_flags import ConfigFileFlagParser

_DEBUG = flags.DEFINE_bool("debug", False, "Show full Python tracebacks of errors.")
_CONFIG = "config"
_HELP_KEYS = " (all keys: sasmamba_jax/train/README.md)"


class UsageError(ValueError):
  """A mistake on the command line."""


def _check_config_file(spec: str) -> pathlib.Path:
  path = pathlib.Path(spec.partition(":")[0])
  if not path.is_file():
    nearby = (sorted(p.name for p in path.parent.glob("*.py"))
              if path.parent.is_dir() else [])
    hint = difflib.get_close_matches(path.name, nearby, n=1)
    raise UsageError(f"config file {path} not found"
                     + (f"; did you mean {path.parent / hint[0]}?" if hint else "")
                     + " (the shipped configs are in configs/)")
  return path


def load_config_file(spec: str) -> ml_collections.ConfigDict:
  """``configs/FILE.py[:arg]`` -> its ``get_config(arg)``, read as ``--config=`` reads
  it (``config_flags``), unlocked."""
  _check_config_file(spec)
  config = ConfigFileFlagParser(_CONFIG, lock_config=False).parse(spec)
  if not isinstance(config, ml_collections.ConfigDict):
    raise UsageError(f"{spec}: get_config() must return an ml_collections.ConfigDict")
  return config


def define_config_flag(help_text: str, *, required: bool = True
                       ) -> flags.FlagHolder:
  """The entry point's ``--config=FILE.py[:arg]`` flag with its ``--config.KEY``
  overrides (``config_flags.DEFINE_config_file``)."""
  holder = config_flags.DEFINE_config_file(
      _CONFIG, None, help_text + " Override any key with --config.KEY=VALUE" + _HELP_KEYS
      + ".")
  if required:
    flags.mark_flags_as_required([_CONFIG])
  return holder


def reject_extra_args(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise UsageError(f"unexpected arguments: {' '.join(argv[1:])}")


def one_line(error: BaseException, limit: int = 600) -> str:
  """An exception as one readable line (long library messages cut)."""
  message = error.args[0] if isinstance(error, KeyError) and error.args else error
  text = " ".join(str(message).split())
  if len(text) > limit:
    text = text[:limit] + " ... (--debug shows everything)"
  if not isinstance(error, (ValueError, OSError, KeyError, RuntimeError,
                            FloatingPointError)) or type(error) is RuntimeError:
    text = f"{type(error).__name__}: {text}"
  return text


def _flag_error(error: Exception, argv: Sequence[str]) -> str:
  """A command-line error as one line; an unknown config key names its flag."""
  text = str(error)
  if "Error whilst parsing config file" in text:
    # config_flags wraps get_config's error in its traceback: the last line says it.
    last = [line for line in text.splitlines() if line.strip()][-1]
    return " ".join(re.sub(r"^\w+(Error|Exception): ", "", last).split())
  if isinstance(error, (AttributeError, KeyError)):
    # ConfigDict's "'dimm' ... Did you mean "dim" instead of "dimm"?" for an override.
    close = re.search(r'Did you mean "([^"]+)" instead of "([^"]+)"', text)
    words = re.findall(r"[A-Za-z_]\w*", text)
    missing = close.group(2) if close else (words[0] if words else "")
    for arg in argv:
      key = arg.partition("=")[0][len(f"--{_CONFIG}."):]
      if arg.startswith(f"--{_CONFIG}.") and missing in key.split("."):
        hint = (f"; did you mean --{_CONFIG}.{key.rsplit(missing, 1)[0]}"
                f"{close.group(1)}?" if close else "")
        return f"unknown config key --{_CONFIG}.{key}{hint}{_HELP_KEYS}"
  return one_line(error)


def run(main: Callable[[Sequence[str]], int | None],
        argv: Sequence[str] | None = None, *,
        default_config: Callable[[Sequence[str]], str | None] | None = None) -> None:
  """``app.run(main)`` with one-line errors (flags included) and quiet logs.

  Args:
    main: the entry point.
    argv: the command line (default ``sys.argv``).
    default_config: given the command line without ``--config=``, the config spec
      to load instead (e.g. a run directory's saved config), or None.
  """
  argv = list(sys.argv if argv is None else argv)
  debug = "--debug" in argv

  def fail(text: str, code: int = 1):
    print(f"error: {text}", file=sys.stderr)
    sys.exit(code)

  if default_config is not None and not any(
      re.match(rf"^--{_CONFIG}(=|$)", a) for a in argv):
    spec = default_config(argv)
    if spec:
      argv.insert(1, f"--{_CONFIG}={spec}")

  def parse_flags(args):
    saved_argv = sys.argv
    sys.argv = list(args)   # config_flags reads its overrides from sys.argv
    try:
      for a in args:
        if a.startswith(f"--{_CONFIG}="):
          _check_config_file(a.partition("=")[2])
      return flags.FLAGS(args)
    except Exception as e:  # pylint: disable=broad-except  # The command line.
      if debug:
        raise
      fail(_flag_error(e, args))
    finally:
      sys.argv = saved_argv

  def wrapped(args):
    # Orbax and TFDS log every file operation at INFO, and a library sets the absl
    # verbosity to INFO on import (so a flag default does not hold): set WARNING
    # here, after parsing, unless --verbosity was given on the command line.
    if not flags.FLAGS["verbosity"].present:
      logging.set_verbosity(logging.WARNING)
    try:
      return main(args)
    except KeyboardInterrupt:
      if _DEBUG.value:
        raise
      fail("interrupted", 130)
    except Exception as e:  # pylint: disable=broad-except  # The program's boundary.
      if _DEBUG.value:
        raise
      signum = getattr(e, "signum", None)  # A run stopped by a signal, saved.
      print(f"{'stopped' if signum else 'error'}: {one_line(e)}", file=sys.stderr)
      sys.exit(128 + signum if signum else 1)

  app.run(wrapped, argv=argv, flags_parser=parse_flags)
