"""Plumbing shared by the entry points in ``experiments/``: config, flags, logs, errors.

An entry point defines its flags, writes ``main(argv)`` and ends with
``cli.run(main)``. Then:
- ``--config=configs/FILE.py[:arg]`` is loaded by ``ConfigFlag`` and every
  ``--config.KEY=VALUE`` is applied to it, including keys the file did not set under
  the free-form ``model.kwargs`` (``--config.model.kwargs.remat=True``); an unknown
  key or a bad value is a one-line error with a "did you mean";
- library INFO logs are off unless ``--verbosity=0`` asks for them;
- every error prints one ``error: ...`` line and exits 1 (an interrupt: 130); the
  traceback appears only with ``--debug``.
"""

from __future__ import annotations

import ast
import difflib
import importlib.util
import pathlib
import sys
from typing import Any, Callable, Sequence

from absl import app
from absl import flags
from absl import logging
import ml_collections

_DEBUG = flags.DEFINE_bool("debug", False, "Show full Python tracebacks of errors.")
_OVERRIDE_PREFIX = "--config."
# Subtrees whose keys a config file need not list (validated by their owner).
_FREE_FORM = ("model.kwargs",)


class UsageError(ValueError):
  """A mistake on the command line."""


def load_config_file(spec: str) -> ml_collections.ConfigDict:
  """``configs/FILE.py[:arg]`` -> its ``get_config(arg)``."""
  path, _, arg = spec.partition(":")
  file = pathlib.Path(path)
  if not file.is_file():
    nearby = sorted(p.name for p in file.parent.glob("*.py")) if file.parent.is_dir() \
        else []
    hint = difflib.get_close_matches(file.name, nearby, n=1)
    raise UsageError(
        f"config file {path} not found"
        + (f"; did you mean {file.parent / hint[0]}?" if hint else "")
        + " (the shipped configs are in configs/)")
  spec_ = importlib.util.spec_from_file_location(f"_config_{file.stem}", file)
  module = importlib.util.module_from_spec(spec_)
  spec_.loader.exec_module(module)
  if not hasattr(module, "get_config"):
    raise UsageError(f"{path} defines no get_config()")
  config = module.get_config(arg) if arg else module.get_config()
  if not isinstance(config, ml_collections.ConfigDict):
    raise UsageError(f"{path}: get_config() must return an ml_collections.ConfigDict")
  return config


def _flat_keys(cfg: ml_collections.ConfigDict, prefix: str = "") -> list[str]:
  keys = []
  for key, value in cfg.items():
    path = f"{prefix}{key}"
    keys.append(path)
    if isinstance(value, ml_collections.ConfigDict):
      keys += _flat_keys(value, path + ".")
  return keys


def _parse_value(text: str, current: Any, key: str) -> Any:
  """``text`` as the type of the key's current value (any literal for a new key)."""
  if isinstance(current, bool):
    if text.lower() in ("true", "1", "yes"):
      return True
    if text.lower() in ("false", "0", "no"):
      return False
    raise UsageError(f"--config.{key}={text}: expected True or False")
  if isinstance(current, str):
    return text
  try:
    value = ast.literal_eval(text)
  except (ValueError, SyntaxError):
    if current is None:
      return text  # A new free-form key with a plain string value.
    raise UsageError(f"--config.{key}={text}: expected "
                     f"{type(current).__name__}") from None
  if isinstance(current, float) and isinstance(value, int) and not isinstance(
      value, bool):
    return float(value)
  if isinstance(current, tuple) and isinstance(value, (list, tuple)):
    return tuple(value)
  if isinstance(current, tuple) and isinstance(value, (str, int, float)):
    return (value,)
  if current is not None and not isinstance(value, type(current)):
    raise UsageError(f"--config.{key}={text}: expected {type(current).__name__}, got "
                     f"{type(value).__name__}")
  return value


def apply_overrides(config: ml_collections.ConfigDict,
                    overrides: Sequence[str]) -> ml_collections.ConfigDict:
  """Applies ``KEY=VALUE`` strings (without the ``--config.`` prefix)."""
  known = _flat_keys(config)
  for item in overrides:
    key, sep, text = item.partition("=")
    if not sep:
      raise UsageError(f"--config.{key} needs a value: --config.{key}=VALUE")
    *parents, leaf = key.split(".")
    node = config
    for part in parents:
      if not isinstance(node, ml_collections.ConfigDict) or part not in node:
        node = None
        break
      node = node[part]
    free = any(key.startswith(f + ".") for f in _FREE_FORM)
    if not isinstance(node, ml_collections.ConfigDict) or (leaf not in node and
                                                          not free):
      hint = difflib.get_close_matches(key, known, n=1)
      raise UsageError(f"unknown config key --config.{key}"
                       + (f"; did you mean --config.{hint[0]}?" if hint else "")
                       + " (all keys: sasmamba_jax/train/README.md)")
    value = _parse_value(text, node.get(leaf), key)
    with node.ignore_type():
      node[leaf] = value
  return config


class ConfigFlag:
  """``--config=FILE.py[:arg]`` plus its ``--config.KEY=VALUE`` overrides."""

  def __init__(self, help_text: str, required: bool = True):
    self._flag = flags.DEFINE_string(
        "config", None, help_text + " Override any key with --config.KEY=VALUE (all "
        "keys: sasmamba_jax/train/README.md).")
    if required:
      flags.mark_flags_as_required(["config"])
    self.overrides: list[str] = []
    self._value = None

  @property
  def given(self) -> bool:
    return self._flag.value is not None

  @property
  def value(self) -> ml_collections.ConfigDict:
    if self._value is None:
      if self._flag.value is None:
        raise UsageError("--config is required")
      self._value = apply_overrides(load_config_file(self._flag.value),
                                    self.overrides)
    return self._value


_CONFIG_FLAG: ConfigFlag | None = None


def define_config_flag(help_text: str, *, required: bool = True) -> ConfigFlag:
  """The entry point's ``--config`` flag (one per program)."""
  global _CONFIG_FLAG
  _CONFIG_FLAG = ConfigFlag(help_text, required)
  return _CONFIG_FLAG


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


def run(main: Callable[[Sequence[str]], int | None],
        argv: Sequence[str] | None = None) -> None:
  """``app.run(main)`` with config overrides, quiet logs and one-line errors."""
  argv = list(sys.argv if argv is None else argv)
  overrides = [a[len(_OVERRIDE_PREFIX):] for a in argv[1:]
               if a.startswith(_OVERRIDE_PREFIX)]
  argv = [a for a in argv if not a.startswith(_OVERRIDE_PREFIX)]
  if overrides and _CONFIG_FLAG is None:
    print("error: this program takes no --config.KEY=VALUE overrides", file=sys.stderr)
    sys.exit(2)
  if _CONFIG_FLAG is not None:
    _CONFIG_FLAG.overrides = overrides

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
      print("error: interrupted", file=sys.stderr)
      sys.exit(130)
    except Exception as e:  # pylint: disable=broad-except  # The program's boundary.
      if _DEBUG.value:
        raise
      signum = getattr(e, "signum", None)  # A run stopped by a signal, saved.
      print(f"{'stopped' if signum else 'error'}: {one_line(e)}", file=sys.stderr)
      sys.exit(128 + signum if signum else 1)

  app.run(wrapped, argv=argv)
