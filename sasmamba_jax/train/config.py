"""The complete set of training knobs, their defaults, and their validation.

Every experiment config (``configs/*.py``) starts from ``base_config()`` and overrides
values; ``validate`` then rejects keys the base does not have and values out of
range, naming the key, so a typo in a config file or in ``--config.KEY=VALUE`` never
passes silently. The resolved config is saved in the run's workdir.
"""

from __future__ import annotations

from typing import Any, Iterable

import ml_collections

TASKS = ("lifting_3d",)
PROTOCOLS = ("h36m", "mpi_inf_3dhp")
PARAM_SHARDINGS = ("replicated", "fsdp")
COMPUTE_DTYPES = ("float32", "bfloat16")


def base_config() -> ml_collections.ConfigDict:
  """All knobs with their defaults (the official SasMamba H36M recipe)."""
  c = ml_collections.ConfigDict()
  c.task = "lifting_3d"
  c.seed = 0

  c.dataset = ml_collections.ConfigDict()
  c.dataset.name = "h36m/sh_243"        # registered "dataset/config"
  c.dataset.data_dir = ""               # "" = the TFDS default (~/tensorflow_datasets)
  c.dataset.manual_dir = ""             # downloaded files, for prepare_if_missing
  c.dataset.prepare_if_missing = False  # build the dataset before training if absent
  c.dataset.train_split = "train"
  c.dataset.eval_split = "test"
  c.dataset.skeleton = "h36m"           # joint layout (flips, joint count)
  c.dataset.use_confidence = False      # feed (x, y, conf) instead of (x, y)
  c.dataset.constant_confidence = False  # feed conf = 1 (MPI-INF-3DHP recipe)
  c.dataset.root_relative = True        # targets relative to the root joint
  c.dataset.protocol = "h36m"           # evaluation protocol
  c.dataset.num_threads = 2             # grain reader threads per process

  c.model = ml_collections.ConfigDict()
  c.model.name = "sasmamba"             # sasmamba_jax.models registry name
  # Keyword overrides for models.create (validated by the model itself).
  c.model.kwargs = ml_collections.ConfigDict()

  c.loss = ml_collections.ConfigDict()
  c.loss.mpjpe = 1.0
  c.loss.n_mpjpe = 0.5
  c.loss.velocity = 20.0
  c.loss.temporal_consistency = 0.0     # PoseMamba's L_diff
  c.loss.reprojection_2d = 0.0

  c.optimizer = ml_collections.ConfigDict()
  c.optimizer.learning_rate = 5e-4
  c.optimizer.weight_decay = 0.01
  c.optimizer.lr_decay_per_epoch = 0.99
  c.optimizer.b1 = 0.9
  c.optimizer.b2 = 0.999
  c.optimizer.eps = 1e-8
  c.optimizer.grad_clip_norm = 0.0      # 0 = no clipping

  c.batch_size = 16                     # global, over all devices and processes
  c.eval_batch_size = 16
  c.num_epochs = 300
  c.max_steps = 0                       # > 0 stops after that many steps
  c.flip_augment = True
  c.flip_test = True
  c.compute_dtype = "float32"           # "bfloat16" for mixed precision

  c.log_every_steps = 50
  c.eval_every_epochs = 1
  c.eval_every_steps = 0                # > 0 overrides eval_every_epochs
  c.checkpoint_every_steps = 0          # 0 = at every evaluation
  c.keep_checkpoints = 3
  c.early_stop_patience = 40            # evaluations without a better P1; 0 = off
  c.progress_bar = True

  c.mesh = ml_collections.ConfigDict()
  c.mesh.data = -1                      # devices on the data axis; -1 = all
  c.mesh.param_sharding = "replicated"  # or "fsdp": shard parameters over data

  c.distributed = ml_collections.ConfigDict()
  c.distributed.initialize = False      # call jax.distributed.initialize
  c.distributed.coordinator_address = ""  # "" = auto-detect (SLURM, TPU pods, ...)
  c.distributed.num_processes = 0       # 0 = auto-detect
  c.distributed.process_id = -1         # -1 = auto-detect
  return c


def _flat_keys(cfg: ml_collections.ConfigDict, prefix: str = "") -> Iterable[str]:
  for key, value in cfg.items():
    path = f"{prefix}{key}"
    if isinstance(value, ml_collections.ConfigDict) and path != "model.kwargs":
      yield from _flat_keys(value, path + ".")
    else:
      yield path


def _get(cfg: ml_collections.ConfigDict, path: str) -> Any:
  for part in path.split("."):
    cfg = cfg[part]
  return cfg


def validate(cfg: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """Checks ``cfg`` against ``base_config()``; returns it locked, or raises ValueError."""
  base = base_config()
  known = set(_flat_keys(base))
  given = set(_flat_keys(cfg))
  unknown = sorted(given - known)
  if unknown:
    raise ValueError(f"unknown config key(s): {', '.join(unknown)}. Known keys: "
                     f"{', '.join(sorted(known))}")
  missing = sorted(known - given)
  if missing:
    raise ValueError(f"config is missing key(s) {', '.join(missing)}: start configs "
                     "from sasmamba_jax.train.config.base_config()")
  errors = []

  def check(path, ok, what):
    if not ok:
      errors.append(f"{path} = {_get(cfg, path)!r}: {what}")

  for path in known - {"model.kwargs"}:
    expected, value = type(_get(base, path)), _get(cfg, path)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
      continue
    if not isinstance(value, expected):
      errors.append(f"{path} = {value!r}: expected {expected.__name__}")
  if errors:
    raise ValueError("invalid config: " + "; ".join(sorted(errors)))

  check("task", cfg.task in TASKS, f"must be one of {TASKS}")
  check("dataset.protocol", cfg.dataset.protocol in PROTOCOLS,
        f"must be one of {PROTOCOLS}")
  check("mesh.param_sharding", cfg.mesh.param_sharding in PARAM_SHARDINGS,
        f"must be one of {PARAM_SHARDINGS}")
  check("compute_dtype", cfg.compute_dtype in COMPUTE_DTYPES,
        f"must be one of {COMPUTE_DTYPES}")
  for path in ("batch_size", "eval_batch_size", "num_epochs", "log_every_steps",
               "eval_every_epochs", "keep_checkpoints", "dataset.num_threads"):
    check(path, _get(cfg, path) >= 1, "must be >= 1")
  for path in ("max_steps", "eval_every_steps", "checkpoint_every_steps",
               "early_stop_patience", "optimizer.weight_decay",
               "optimizer.grad_clip_norm", "loss.mpjpe", "loss.n_mpjpe",
               "loss.velocity", "loss.temporal_consistency", "loss.reprojection_2d"):
    check(path, _get(cfg, path) >= 0, "must be >= 0")
  check("optimizer.learning_rate", cfg.optimizer.learning_rate > 0, "must be > 0")
  check("optimizer.lr_decay_per_epoch", 0 < cfg.optimizer.lr_decay_per_epoch <= 1,
        "must be in (0, 1]")
  check("optimizer.b1", 0 <= cfg.optimizer.b1 < 1, "must be in [0, 1)")
  check("optimizer.b2", 0 <= cfg.optimizer.b2 < 1, "must be in [0, 1)")
  check("mesh.data", cfg.mesh.data == -1 or cfg.mesh.data >= 1, "must be -1 or >= 1")
  check("dataset.use_confidence",
        not (cfg.dataset.use_confidence and cfg.dataset.constant_confidence),
        "use_confidence and constant_confidence exclude each other")
  check("loss.mpjpe", sum(_get(cfg, f"loss.{k}") for k in (
      "mpjpe", "n_mpjpe", "velocity", "temporal_consistency", "reprojection_2d")) > 0,
        "at least one loss weight must be positive")
  if errors:
    raise ValueError("invalid config: " + "; ".join(sorted(errors)))
  cfg.lock()
  return cfg
