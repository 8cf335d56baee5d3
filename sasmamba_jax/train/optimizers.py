"""Optimizers of the trainer: AdamW, learning-rate schedules, layer-wise decay, masks.

The ``optimizer`` config section (``default_config``) chooses:
- the schedule: ``exponential_per_epoch`` (lr x ``lr_decay_per_epoch`` every epoch,
  the MotionBERT-lineage recipe), ``warmup_cosine`` (linear warmup, then cosine to
  ``min_lr_ratio`` x lr at the last step), ``step`` (x ``step_factor`` at each epoch
  of ``step_epochs``: GLSMamba's x0.1 at 6 and 12) or ``constant``; any schedule can
  be preceded by ``warmup_epochs`` of linear warmup from 0;
- ``layer_decay`` < 1: layer-wise learning-rate decay (BEiT / ViTPose): a parameter
  in block i of n (``layer_pattern``'s first group) gets lr x decay^(n - i), the
  embeddings (``embed_pattern``) decay^(n + 1), everything else (heads) the full lr;
- ``no_weight_decay``: regexes of parameter paths without weight decay;
- ``freeze``: regexes of parameter paths that are not trained at all: they get no
  gradient and no optimizer state (a frozen backbone costs nothing but its forward);
- ``amsgrad``: PyTorch's AMSGrad (the official SasMamba MPI-INF-3DHP loop).
Parameter paths are "/"-joined module attributes, e.g. ``spatial_blocks/3/mlp/fc1/kernel``.

An epoch is ``epoch_length(num_examples, batch_size)`` = ceil(N / B) steps, as in
the official PyTorch loops (``DataLoader(drop_last=False)``); the schedule's step 0
is the first update, and ``applied_learning_rate`` reads the rate an update applies
from the optimizer state's own count.
"""

from __future__ import annotations

import re
from typing import Any, Callable, NamedTuple, Sequence

from flax import nnx
import jax
import jax.numpy as jnp
import ml_collections
import optax

from sasmamba_jax.nn.paths import path_string

SCHEDULES = ("exponential_per_epoch", "warmup_cosine", "step", "constant")


def default_config() -> ml_collections.ConfigDict:
  """AdamW knobs with the official SasMamba H36M defaults."""
  o = ml_collections.ConfigDict()
  o.learning_rate = 5e-4
  o.schedule = "exponential_per_epoch"
  o.lr_decay_per_epoch = 0.99     # exponential_per_epoch
  o.warmup_epochs = 0.0           # linear warmup from 0, before any schedule
  o.min_lr_ratio = 0.0            # warmup_cosine: final lr / peak lr
  o.step_epochs = ()              # step: epochs at which lr is multiplied ...
  o.step_factor = 0.1             # ... by this
  o.weight_decay = 0.01
  o.no_weight_decay = ()          # regexes of parameter paths without weight decay
  o.layer_decay = 1.0             # layer-wise lr decay; 1 = off
  o.layer_pattern = r"(?:^|/)\w*blocks/(\d+)/"  # block index of a parameter path
  o.embed_pattern = r"embed"      # parameters below block 0
  o.freeze = ()                   # regexes of parameter paths not trained
  o.b1 = 0.9
  o.b2 = 0.999
  o.eps = 1e-8
  o.amsgrad = False               # PyTorch AMSGrad: max of the raw second moments
  o.grad_clip_norm = 0.0          # 0 = no clipping
  return o


def validate(o: ml_collections.ConfigDict) -> list[str]:
  """Problems with an ``optimizer`` section, as "key = value: problem" strings."""
  errors = []

  def check(key, ok, what):
    if not ok:
      errors.append(f"optimizer.{key} = {o[key]!r}: {what}")

  check("learning_rate", o.learning_rate > 0, "must be > 0")
  check("schedule", o.schedule in SCHEDULES, f"must be one of {SCHEDULES}")
  check("lr_decay_per_epoch", 0 < o.lr_decay_per_epoch <= 1, "must be in (0, 1]")
  check("warmup_epochs", o.warmup_epochs >= 0, "must be >= 0")
  check("min_lr_ratio", 0 <= o.min_lr_ratio <= 1, "must be in [0, 1]")
  check("step_epochs", all(isinstance(e, (int, float)) and e > 0
                           for e in o.step_epochs), "must be positive epochs")
  check("step_epochs", o.schedule != "step" or len(o.step_epochs) > 0,
        "the step schedule needs at least one epoch")
  check("step_factor", o.step_factor > 0, "must be > 0")
  check("weight_decay", o.weight_decay >= 0, "must be >= 0")
  check("layer_decay", 0 < o.layer_decay <= 1, "must be in (0, 1]")
  check("b1", 0 <= o.b1 < 1, "must be in [0, 1)")
  check("b2", 0 <= o.b2 < 1, "must be in [0, 1)")
  check("eps", o.eps > 0, "must be > 0")
  check("grad_clip_norm", o.grad_clip_norm >= 0, "must be >= 0")
  for key in ("no_weight_decay", "freeze", "layer_pattern", "embed_pattern"):
    patterns = (o[key],) if isinstance(o[key], str) else tuple(o[key])
    for pattern in patterns:
      try:
        re.compile(pattern)
      except (re.error, TypeError) as e:
        errors.append(f"optimizer.{key}: {pattern!r} is not a regular expression "
                      f"({e})")
  return errors


def path_filter(patterns: Sequence[str]) -> Callable[[tuple[Any, ...], Any], bool]:
  """An nnx filter: True for variables whose path matches one of ``patterns``."""
  compiled = [re.compile(p) for p in patterns]
  return lambda path, value: any(c.search(path_string(path)) for c in compiled)


def trainable_filter(o: ml_collections.ConfigDict) -> nnx.filterlib.Filter:
  """The parameters that train: every ``nnx.Param`` not matched by ``freeze``."""
  if not o.freeze:
    return nnx.Param
  return nnx.All(nnx.Param, nnx.Not(path_filter(o.freeze)))


def frozen_filter(o: ml_collections.ConfigDict) -> nnx.filterlib.Filter:
  """The frozen parameters (``freeze``); nothing when the list is empty."""
  if not o.freeze:
    return nnx.Nothing
  return nnx.All(nnx.Param, path_filter(o.freeze))


def _paths(tree: Any) -> list[str]:
  return [path_string(p) for p, _ in jax.tree_util.tree_flatten_with_path(tree)[0]]


def _tree_of(tree: Any, fn: Callable[[str], Any]) -> Any:
  """A tree like ``tree`` with ``fn(path)`` at every leaf."""
  return jax.tree_util.tree_map_with_path(lambda p, _: fn(path_string(p)), tree)


def epoch_length(num_examples: int, batch_size: int) -> int:
  """Optimizer steps in one epoch: ceil(num_examples / batch_size).

  The official loops iterate a ``torch.utils.data.DataLoader`` with the default
  ``drop_last=False``: an epoch is every full batch plus the last partial one, and
  the per-epoch learning-rate decay follows the last of them. Our batches all have
  ``batch_size`` examples (one compiled step; the input stream runs on across epoch
  boundaries, nothing is dropped), and an epoch has the official number of steps,
  so epoch boundaries and the decay fall on the official step indices.
  """
  if num_examples < 1 or batch_size < 1:
    raise ValueError(f"epoch_length: need num_examples >= 1 and batch_size >= 1, "
                     f"got {num_examples} and {batch_size}")
  return -(-num_examples // batch_size)


def schedule(o: ml_collections.ConfigDict, steps_per_epoch: int,
             total_steps: int) -> optax.Schedule:
  """The learning rate per step (step 0 is the first update)."""
  lr = o.learning_rate
  warmup = int(round(o.warmup_epochs * steps_per_epoch))
  if o.schedule == "exponential_per_epoch":
    main = optax.exponential_decay(lr, transition_steps=steps_per_epoch,
                                   decay_rate=o.lr_decay_per_epoch, staircase=True)
  elif o.schedule == "warmup_cosine":
    main = optax.cosine_decay_schedule(lr, decay_steps=max(1, total_steps - warmup),
                                       alpha=o.min_lr_ratio)
  elif o.schedule == "step":
    boundaries = {max(1, int(round(e * steps_per_epoch)) - warmup): o.step_factor
                  for e in sorted(o.step_epochs)}
    main = optax.piecewise_constant_schedule(lr, boundaries)
  elif o.schedule == "constant":
    main = optax.constant_schedule(lr)
  else:
    raise ValueError(f"optimizer.schedule = {o.schedule!r}: must be one of {SCHEDULES}")
  if not warmup:
    return main
  return optax.join_schedules([optax.linear_schedule(0.0, lr, warmup), main],
                              [warmup])


def layer_scales(o: ml_collections.ConfigDict, params: Any) -> Any:
  """Per-parameter learning-rate multipliers of layer-wise decay (a tree of floats)."""
  block = re.compile(o.layer_pattern)
  embed = re.compile(o.embed_pattern)
  ids = [int(m.group(1)) for m in map(block.search, _paths(params)) if m]
  if not ids:
    raise ValueError(f"optimizer.layer_decay = {o.layer_decay}: no parameter path "
                     f"matches optimizer.layer_pattern = {o.layer_pattern!r}; paths "
                     f"look like {_paths(params)[:3]}")
  depth = max(ids) + 1

  def scale(path):
    m = block.search(path)
    if m:
      layer = int(m.group(1)) + 1
    elif embed.search(path):
      layer = 0
    else:
      layer = depth + 1
    return float(o.layer_decay ** (depth + 1 - layer))

  return _tree_of(params, scale)


def _scale_updates(scales: Any) -> optax.GradientTransformation:
  def update(updates, state, params=None):
    del params
    return jax.tree.map(lambda u, s: u * s, updates, scales), state
  return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


class ScaleByTorchAmsgradState(NamedTuple):
  """State of ``scale_by_torch_amsgrad``."""
  count: jax.Array
  mu: Any
  nu: Any
  nu_max: Any


def scale_by_torch_amsgrad(b1: float = 0.9, b2: float = 0.999,
                           eps: float = 1e-8) -> optax.GradientTransformation:
  """Adam's direction with PyTorch's AMSGrad (``torch.optim.Adam(amsgrad=True)``).

  PyTorch keeps the running maximum of the raw second moment v_t and divides it by
  the current step's bias correction: m_t / (1 - b1^t) / (sqrt(max v) /
  sqrt(1 - b2^t) + eps). ``optax.amsgrad`` takes the maximum of the bias-corrected
  moments instead, which gives other numbers, so the official recipe gets its own.
  """

  def init(params):
    zeros = lambda: jax.tree.map(lambda p: jnp.zeros(p.shape, p.dtype), params)
    return ScaleByTorchAmsgradState(jnp.zeros([], jnp.int32), zeros(), zeros(),
                                    zeros())

  def update(updates, state, params=None):
    del params
    count = optax.safe_increment(state.count)
    mu = jax.tree.map(lambda g, m: b1 * m + (1 - b1) * g, updates, state.mu)
    nu = jax.tree.map(lambda g, v: b2 * v + (1 - b2) * g * g, updates, state.nu)
    nu_max = jax.tree.map(jnp.maximum, state.nu_max, nu)
    t = count.astype(jnp.float32)
    bc1, bc2_sqrt = 1 - b1 ** t, jnp.sqrt(1 - b2 ** t)
    updates = jax.tree.map(
        lambda m, v: ((m / bc1) / (jnp.sqrt(v) / bc2_sqrt + eps)).astype(m.dtype),
        mu, nu_max)
    return updates, ScaleByTorchAmsgradState(count, mu, nu, nu_max)

  return optax.GradientTransformation(init, update)


def applied_learning_rate(lr: optax.Schedule, opt_state: Any) -> jax.Array:
  """The learning rate that ``tx.update(grads, opt_state)`` applies (traceable).

  ``opt_state`` is the state before the update; its schedule count (0 for the first
  update, whatever step numbering the caller uses) picks the rate, exactly as the
  optimizer does.
  """
  is_schedule = lambda x: isinstance(x, optax.ScaleByScheduleState)
  counts = [s.count for s in jax.tree.leaves(opt_state, is_leaf=is_schedule)
            if is_schedule(s)]
  if len(counts) != 1:
    raise ValueError(f"applied_learning_rate: expected one learning-rate schedule in "
                     f"the optimizer state (optimizers.make builds one), found "
                     f"{len(counts)}")
  return jnp.asarray(lr(counts[0]), jnp.float32)


def make(o: ml_collections.ConfigDict, params: Any, *, steps_per_epoch: int,
         total_steps: int) -> tuple[optax.GradientTransformation, optax.Schedule]:
  """AdamW over the trainable ``params`` (a tree, arrays or shapes) and its schedule.

  Weight decay is decoupled (``torch.optim.AdamW``) and applies to every parameter
  not matched by ``no_weight_decay``.
  """
  lr = schedule(o, steps_per_epoch, total_steps)
  mask = None
  if o.no_weight_decay:
    excluded = [re.compile(p) for p in o.no_weight_decay]
    mask = _tree_of(params, lambda path: not any(r.search(path) for r in excluded))
  if o.amsgrad:
    tx = optax.chain(scale_by_torch_amsgrad(o.b1, o.b2, o.eps),
                     optax.add_decayed_weights(o.weight_decay, mask),
                     optax.scale_by_learning_rate(lr))
  else:
    tx = optax.adamw(lr, b1=o.b1, b2=o.b2, eps=o.eps, weight_decay=o.weight_decay,
                     mask=mask)
  if o.layer_decay < 1:
    tx = optax.chain(tx, _scale_updates(layer_scales(o, params)))
  if o.grad_clip_norm:
    tx = optax.chain(optax.clip_by_global_norm(o.grad_clip_norm), tx)
  return tx, lr


def check_freeze_patterns(o: ml_collections.ConfigDict, all_params: Any) -> None:
  """Every ``freeze`` pattern must match some parameter (a typo freezes nothing)."""
  paths = _paths(all_params)
  for pattern in o.freeze:
    if not any(re.search(pattern, p) for p in paths):
      raise ValueError(f"optimizer.freeze: {pattern!r} matches no parameter; paths "
                       f"look like {paths[:3]}")
