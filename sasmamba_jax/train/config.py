"""Run configs: the trainer's own knobs, and the assembly of every component's section.

A run config has one section per component, each defined and validated where the
component lives: ``task`` (``tasks/<family>/config.py``), ``dataset``
(``datasets/config.py``), ``model`` (``models/config.py``: a registry name and that
model's typed options), ``optimizer`` (``train/optimizers.py``); the trainer's knobs
(batch sizes, steps, intervals, checkpoints, mesh, distributed) are defined here.
``base_config(task, model=...)`` assembles them with their defaults; experiment files
(``configs/*.py``) start from it and override values; ``validate`` rejects keys the
base does not have, wrong types and values out of range, naming the key, so a typo
in a config file or in ``--config.KEY=VALUE`` never passes silently. The resolved
config is saved in the run's workdir; ``load_saved`` reads it back (older layouts
upgraded), typed like a fresh one.
"""

from __future__ import annotations

import difflib
import json
import pathlib
from typing import Any, Iterable

import ml_collections

from sasmamba_jax import models
from sasmamba_jax import tasks
from sasmamba_jax.datasets import config as dataset_config
from sasmamba_jax.models import config as model_config
from sasmamba_jax.nn.dtypes import COMPUTE_DTYPES
from sasmamba_jax.train import optimizers

PARAM_SHARDINGS = ("replicated", "fsdp")


def base_config(task: str, model: str | None = None) -> ml_collections.ConfigDict:
  """Every knob of a run of ``task`` (a registered name, ``tasks.TASK_NAMES``).

  ``model``: the registered model (default: the family's); the ``model`` section
  holds its name and its typed options, None meaning the task's or the model's
  default.
  """
  spec = tasks.get(task)
  c = ml_collections.ConfigDict()
  c.seed = 0
  c.task = spec.default_config()

  c.dataset = dataset_config.default_config()
  c.dataset.name = spec.default_dataset

  c.model = model_config.default_config(model or spec.default_model)

  c.optimizer = optimizers.default_config()

  c.batch_size = 16                     # global, over all devices and processes
  c.eval_batch_size = 16
  c.num_epochs = 300
  c.max_steps = 0                       # > 0 stops after that many steps
  c.compute_dtype = "float32"           # "bfloat16" for mixed precision

  c.log_every_steps = 50
  c.eval_every_epochs = 1
  c.eval_every_steps = 0                # > 0 overrides eval_every_epochs
  c.checkpoint_every_steps = 0          # 0 = at every evaluation
  c.checkpoint_every_minutes = 5.0      # also save this often (0 = off): preemption
                                        # or a crash loses at most this much
  c.keep_checkpoints = 3
  c.early_stop_patience = 40            # evaluations without a better metric; 0 = off
  c.progress_bar = True                # without a terminal: a line every log_every_steps

  c.mesh = ml_collections.ConfigDict()
  c.mesh.data = -1                      # devices on the data axis; -1 = all
  c.mesh.param_sharding = "replicated"  # or "fsdp": shard parameters over data

  c.distributed = ml_collections.ConfigDict()
  c.distributed.initialize = False      # call jax.distributed.initialize
  c.distributed.coordinator_address = ""  # "" = auto-detect (SLURM, TPU pods, ...)
  c.distributed.num_processes = 0       # 0 = auto-detect
  c.distributed.process_id = -1         # -1 = auto-detect
  if spec.base_overrides is not None:
    spec.base_overrides(c)
  return c


def _flat_keys(cfg: ml_collections.ConfigDict, prefix: str = "") -> Iterable[str]:
  for key, value in cfg.items():
    path = f"{prefix}{key}"
    if isinstance(value, ml_collections.ConfigDict):
      yield from _flat_keys(value, path + ".")
    else:
      yield path


def _get(cfg: ml_collections.ConfigDict, path: str) -> Any:
  for part in path.split("."):
    cfg = cfg[part]
  return cfg


def _type_of(cfg: ml_collections.ConfigDict, path: str) -> type:
  """The type a key holds (a placeholder's declared type too)."""
  *parents, leaf = path.split(".")
  return _get(cfg, ".".join(parents)).get_type(leaf) if parents else cfg.get_type(leaf)


def _type_errors(cfg, base, known) -> list[str]:
  errors = []
  for path in sorted(known):
    expected, value = _type_of(base, path), _get(cfg, path)
    if value is None and _get(base, path) is None:
      continue   # a placeholder left at its default
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
      continue
    if expected is tuple and isinstance(value, list):
      continue
    if not isinstance(value, expected):
      errors.append(f"{path} = {value!r}: expected {expected.__name__}")
  return errors


def validate(cfg: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """Checks ``cfg`` against ``base_config(cfg.task.name)``; returns it locked.

  Raises:
    ValueError: naming every unknown, missing, mistyped or out-of-range key.
  """
  task = cfg.get("task")
  if not isinstance(task, ml_collections.ConfigDict) or "name" not in task:
    raise ValueError("config.task must be a section with a name; start configs "
                     "from sasmamba_jax.train.config.base_config(TASK), TASK one of "
                     f"{', '.join(tasks.TASK_NAMES)}")
  if isinstance(cfg.get("model"), ml_collections.ConfigDict):
    # A model of another family than the section's keys: its own keys.
    conformed = model_config.conform(cfg.model)
    if conformed is not cfg.model:
      cfg.model = conformed
  name = cfg.get("model", {}).get("name")
  base = base_config(task.name, model=name if name in models.MODEL_NAMES else None)
  known = set(_flat_keys(base))
  given = set(_flat_keys(cfg))
  unknown = sorted(given - known)
  if unknown:
    hints = []
    for key in unknown:
      close = difflib.get_close_matches(key, sorted(known), n=1)
      hints.append(f"{key} (did you mean {close[0]}?)" if close else key)
    raise ValueError(f"unknown config key(s): {', '.join(hints)}; every key is listed "
                     "in sasmamba_jax/train/README.md")
  missing = sorted(known - given)
  if missing:
    raise ValueError(f"config is missing key(s) {', '.join(missing)}: start configs "
                     f"from sasmamba_jax.train.config.base_config({task.name!r})")
  errors = _type_errors(cfg, base, known)
  if errors:
    raise ValueError("invalid config: " + "; ".join(errors))

  def check(path, ok, what):
    if not ok:
      errors.append(f"{path} = {_get(cfg, path)!r}: {what}")

  check("mesh.param_sharding", cfg.mesh.param_sharding in PARAM_SHARDINGS,
        f"must be one of {PARAM_SHARDINGS}")
  check("compute_dtype", cfg.compute_dtype in COMPUTE_DTYPES,
        f"must be one of {COMPUTE_DTYPES}")
  errors += model_config.validate(cfg.model)
  for path in ("batch_size", "eval_batch_size", "num_epochs", "log_every_steps",
               "eval_every_epochs", "keep_checkpoints"):
    check(path, _get(cfg, path) >= 1, "must be >= 1")
  for path in ("max_steps", "eval_every_steps", "checkpoint_every_steps",
               "checkpoint_every_minutes", "early_stop_patience"):
    check(path, _get(cfg, path) >= 0, "must be >= 0")
  check("mesh.data", cfg.mesh.data == -1 or cfg.mesh.data >= 1, "must be -1 or >= 1")
  errors += dataset_config.validate(cfg.dataset)
  errors += optimizers.validate(cfg.optimizer)
  spec = tasks.get(task.name)
  errors += spec.validate_config(cfg.task)
  if spec.validate_run is not None and not errors:
    errors += spec.validate_run(cfg)
  if errors:
    raise ValueError("invalid config: " + "; ".join(sorted(errors)))
  cfg.lock()
  return cfg


# Keys a resumed run may change: they do not alter what is being trained.
RESUME_SAFE = ("max_steps", "num_epochs", "eval_batch_size", "log_every_steps",
               "eval_every_epochs", "eval_every_steps", "checkpoint_every_steps",
               "checkpoint_every_minutes", "keep_checkpoints", "early_stop_patience",
               "progress_bar", "dataset.data_dir", "dataset.manual_dir",
               "dataset.prepare_if_missing", "dataset.num_threads",
               "dataset.num_workers", "mesh.data", "mesh.param_sharding",
               "distributed.initialize", "distributed.coordinator_address",
               "distributed.num_processes", "distributed.process_id")


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
  out = {}
  for key, value in tree.items():
    path = f"{prefix}{key}"
    if isinstance(value, dict) and value:
      out.update(_flatten(value, path + "."))
    else:
      out[path] = value
  return out


def with_new_keys(saved: dict[str, Any]) -> dict[str, Any]:
  """A saved config (dict) in today's layout, with the keys added since at defaults.

  A run saved by an older version lacks the keys added later; their defaults keep
  the behaviour it was trained with, so the run still evaluates, exports and
  resumes. Keys that moved keep their values: the model options of the old free-form
  ``model.kwargs`` become the typed ``model`` section's, and a task family's moved
  keys follow its ``TaskSpec.upgrade``. Keys it has are kept as they are
  (``validate`` still checks them).
  """
  task = saved.get("task", {}).get("name") if isinstance(saved, dict) else None
  if task not in tasks.TASK_NAMES:
    return saved   # validate says what is wrong with it
  model = dict(saved.get("model") or {})
  if isinstance(model.get("kwargs"), dict):
    kwargs = model.pop("kwargs")
    model = {**kwargs, **model}
    saved = dict(saved, model=model)
  upgrade = tasks.get(task).upgrade
  if upgrade is not None:   # keys the family moved since: values kept
    saved = dict(saved, task=upgrade(saved["task"]))

  def fill(have: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    out = dict(have)
    for key, value in base.items():
      if key not in out:
        out[key] = value
      elif isinstance(value, dict) and value and isinstance(out[key], dict):
        out[key] = fill(out[key], value)
    return out

  name = model.get("name")
  base = base_config(task, model=name if name in models.MODEL_NAMES else None)
  return fill(saved, json.loads(base.to_json_best_effort()))


def _assign(node: ml_collections.ConfigDict, values: dict[str, Any]) -> None:
  """``values`` into a typed section (lists become tuples where tuples belong)."""
  for key, value in values.items():
    if (key in node and isinstance(node[key], ml_collections.ConfigDict)
        and isinstance(value, dict)):
      _assign(node[key], value)
      continue
    try:
      node[key] = value
    except (TypeError, ValueError):
      with node.ignore_type():   # validate names the key and the type it wants
        node[key] = value


def load_saved(path: str | pathlib.Path) -> ml_collections.ConfigDict:
  """A run's saved ``config.json`` (``with_new_keys`` applied), not yet validated.

  Typed like ``base_config``'s (placeholders, tuples), so ``--config.KEY=VALUE``
  overrides of it parse as a fresh config's.
  """
  path = pathlib.Path(path)
  try:
    saved = json.loads(path.read_text())
  except (OSError, UnicodeDecodeError, ValueError, RecursionError) as e:
    problem = ("its JSON is nested too deeply to read" if isinstance(e, RecursionError)
               else str(e))
    raise ValueError(f"{path} is not a readable run config ({problem}); put back the "
                     "run's config.json, or pass --config=configs/FILE.py (the "
                     "config it was trained with)") from None
  if not isinstance(saved, dict):
    raise ValueError(f"{path} is not a run config (a JSON {type(saved).__name__}, "
                     "not an object); put back the run's config.json, or pass "
                     "--config=configs/FILE.py")
  saved = with_new_keys(saved)
  task = saved.get("task", {}).get("name") if isinstance(saved, dict) else None
  if task not in tasks.TASK_NAMES:
    return ml_collections.ConfigDict(saved)
  name = saved["model"].get("name")
  config = base_config(task, model=name if name in models.MODEL_NAMES else None)
  _assign(config, saved)
  return config


def resume_changes(saved: dict[str, Any], config: ml_collections.ConfigDict
                   ) -> tuple[list[str], list[str]]:
  """(safe, unsafe) changes of ``config`` against a run's saved config.json.

  Each change reads "key: old -> new"; ``RESUME_SAFE`` lists the keys a resumed run
  may change. Keys added to the library after the run was saved count at their
  defaults (``with_new_keys``).
  """
  new = _flatten(json.loads(config.to_json_best_effort()))
  old = _flatten(with_new_keys(saved))
  safe, unsafe = [], []
  for key in sorted(set(new) | set(old)):
    if new.get(key, "<absent>") != old.get(key, "<absent>"):
      line = f"{key}: {old.get(key, '<absent>')!r} -> {new.get(key, '<absent>')!r}"
      (safe if key in RESUME_SAFE else unsafe).append(line)
  return safe, unsafe
