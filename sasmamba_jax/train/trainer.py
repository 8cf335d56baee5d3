"""The trainer: one loop for every task, jit-compiled over a device mesh.

``train_and_evaluate(config, workdir)`` trains, evaluates periodically and at the end,
and resumes automatically when ``workdir`` already holds a run. The train step is a
pure function of (state, batch, step) compiled with ``jax.jit`` and input/output
``NamedSharding``s; the per-step randomness is ``fold_in(seed, step)``, so a resumed
run draws exactly what the uninterrupted one would have.
"""

from __future__ import annotations

import dataclasses
import json
import math
import pathlib
import time
from typing import Any

from flax import nnx
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from sasmamba_jax.train import checkpointing
from sasmamba_jax.train import config as config_lib
from sasmamba_jax.train import observability
from sasmamba_jax.train import sharding
from sasmamba_jax.train import tasks


# Model variables that are neither trained nor reseeded: carried from step to step.
_CARRIED = nnx.Not(nnx.Any(nnx.Param, nnx.RngState))


class NonFiniteLossError(FloatingPointError):
  """Training produced a NaN or infinite loss."""


def maybe_initialize_distributed(config: ml_collections.ConfigDict) -> None:
  """``jax.distributed.initialize`` from ``config.distributed`` (once, if asked)."""
  d = config.distributed
  if not d.initialize:
    return
  if jax.distributed.is_initialized():
    return
  kwargs = {}
  if d.coordinator_address:
    kwargs["coordinator_address"] = d.coordinator_address
  if d.num_processes:
    kwargs["num_processes"] = d.num_processes
  if d.process_id >= 0:
    kwargs["process_id"] = d.process_id
  # Cross-process collectives between CPU devices need an explicit implementation;
  # the setting only concerns the CPU client, so it is harmless on accelerators.
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  jax.distributed.initialize(**kwargs)


def make_optimizer(config: ml_collections.ConfigDict, steps_per_epoch: int
                   ) -> tuple[optax.GradientTransformation, optax.Schedule]:
  """AdamW with the learning rate multiplied by ``lr_decay_per_epoch`` each epoch."""
  o = config.optimizer
  schedule = optax.exponential_decay(o.learning_rate, transition_steps=steps_per_epoch,
                                     decay_rate=o.lr_decay_per_epoch, staircase=True)
  tx = optax.adamw(schedule, b1=o.b1, b2=o.b2, eps=o.eps, weight_decay=o.weight_decay)
  if o.grad_clip_norm:
    tx = optax.chain(optax.clip_by_global_norm(o.grad_clip_norm), tx)
  return tx, schedule


def init_train_state(task: tasks.Task, tx: optax.GradientTransformation, seed: int
                     ) -> tuple[nnx.GraphDef, nnx.State, dict[str, Any]]:
  """Builds the task's model; returns ``split_train_state`` of it."""
  return split_train_state(task.build_model(nnx.Rngs(params=seed, dropout=seed + 1)),
                           tx)


def split_train_state(model: nnx.Module, tx: optax.GradientTransformation
                      ) -> tuple[nnx.GraphDef, nnx.State, dict[str, Any]]:
  """(graphdef, rng state, train state) of ``model``.

  Parameters are trained; other variables (BatchNorm statistics, stochastic-depth
  rates) are carried from step to step in ``state["model_state"]``; RNG variables
  are reseeded from (seed, step) every step, so they stay outside the state.
  """
  graphdef, params, rest, model_state = nnx.split(model, nnx.Param, nnx.RngState,
                                                  _CARRIED)
  return graphdef, rest, {"params": params, "model_state": model_state,
                          "opt_state": tx.init(params)}


def make_train_step(graphdef: nnx.GraphDef, rest: nnx.State, task: tasks.Task,
                    tx: optax.GradientTransformation, schedule: optax.Schedule,
                    key: jax.Array):
  """The pure train step ``(state, batch, step) -> (state, metrics)`` to jit."""

  # The RNG variables (``rest``) are constants of the computation: reseed replaces
  # them from (key, step) at every step.
  def train_step(state, batch, step):
    # Rebuilt here (tree.map makes new Variables) so they belong to this trace.
    model = nnx.merge(graphdef, state["params"], jax.tree.map(lambda x: x, rest),
                      state["model_state"])
    nnx.reseed(model, dropout=jax.random.fold_in(key, step))
    # nnx.value_and_grad differentiates the Params and carries the other state
    # updates (BatchNorm statistics) out of the transform into ``model``.
    (loss, metrics), grads = nnx.value_and_grad(
        task.loss, argnums=nnx.DiffState(0, nnx.Param), has_aux=True)(model, batch)
    model_state = nnx.state(model, _CARRIED)
    updates, opt_state = tx.update(grads, state["opt_state"], state["params"])
    params = optax.apply_updates(state["params"], updates)
    metrics = dict(metrics, loss=loss, grad_norm=optax.tree.norm(grads),
                   learning_rate=schedule(step))
    return {"params": params, "model_state": model_state,
            "opt_state": opt_state}, metrics

  return train_step


@dataclasses.dataclass
class _RunMeta:
  step: int = 0
  best_metric: float | None = None
  best_step: int | None = None
  evals_without_improvement: int = 0
  stopped_early: bool = False


def _save_config(config: ml_collections.ConfigDict, workdir: pathlib.Path,
                 resuming_from: int | None) -> None:
  """Writes config.json; a changed config on resume is kept beside, not overwritten."""
  text = config.to_json_best_effort(indent=2, sort_keys=True) + "\n"
  path = workdir / "config.json"
  if path.exists() and path.read_text() != text:
    path = workdir / f"config_resumed_at_step_{resuming_from or 0}.json"
  path.write_text(text)


def _check_finite(loss: float, step: int, last_saved: int | None) -> None:
  if not math.isfinite(loss):
    saved = (f"the last checkpoint (step {last_saved}) is intact"
             if last_saved is not None else "no checkpoint was written")
    raise NonFiniteLossError(
        f"training stopped: the loss at step {step} is {loss}; {saved}. Lower "
        "config.optimizer.learning_rate, set config.optimizer.grad_clip_norm (e.g. "
        "1.0), or check the input data for NaNs.")


class Trainer:
  """Builds everything a run needs from a validated config; ``run`` trains."""

  def __init__(self, config: ml_collections.ConfigDict, workdir: str | pathlib.Path):
    self.config = config_lib.validate(config)
    maybe_initialize_distributed(self.config)
    self.workdir = pathlib.Path(workdir)
    self.is_main = jax.process_index() == 0
    if self.is_main:
      self.workdir.mkdir(parents=True, exist_ok=True)
    self.task = tasks.create(self.config)
    self.train_source, self.eval_source = self.task.data_sources()
    c = self.config
    self.mesh = sharding.make_mesh(c.mesh.data)
    self.local_batch = sharding.per_process_batch(c.batch_size)
    self.local_eval_batch = sharding.per_process_batch(c.eval_batch_size,
                                                       "eval_batch_size")
    self.steps_per_epoch = len(self.train_source) // c.batch_size
    if self.steps_per_epoch < 1:
      raise ValueError(f"the train split has {len(self.train_source)} clips, fewer "
                       f"than batch_size = {c.batch_size}")
    self.total_steps = c.num_epochs * self.steps_per_epoch
    if c.max_steps:
      self.total_steps = min(self.total_steps, c.max_steps)
    self.eval_every = (c.eval_every_steps or c.eval_every_epochs * self.steps_per_epoch)
    self.checkpoint_every = c.checkpoint_every_steps or self.eval_every

    self.tx, self.schedule = make_optimizer(c, self.steps_per_epoch)
    self.batch_sharding = sharding.batch_sharding(self.mesh)
    self._key = jax.random.key(c.seed)
    self.set_model(self.task.build_model(nnx.Rngs(params=c.seed, dropout=c.seed + 1)))

  def set_model(self, model: nnx.Module) -> None:
    """Trains / evaluates ``model`` (e.g. one loaded from an official checkpoint)."""
    self.graphdef, self.rest, state = split_train_state(model, self.tx)
    self.num_params = sum(x.size for x in jax.tree.leaves(state["params"]))
    self.state_shardings = sharding.state_shardings(state, self.mesh,
                                                    self.config.mesh.param_sharding)
    self.state = sharding.put(state, self.state_shardings)
    self._train_step = self._compile_train_step()
    self._predict = self._compile_predict()

  # ---------------------------------------------------------------- steps
  def _compile_train_step(self):
    step_fn = make_train_step(self.graphdef, self.rest, self.task, self.tx,
                              self.schedule, self._key)
    repl = sharding.replicated(self.mesh)
    return jax.jit(step_fn,
                   in_shardings=(self.state_shardings, self.batch_sharding, repl),
                   out_shardings=(self.state_shardings, repl), donate_argnums=(0,))

  def _compile_predict(self):
    graphdef, task, rest = self.graphdef, self.task, self.rest

    def predict(state, batch):
      model = nnx.merge(graphdef, state["params"], rest, state["model_state"])
      return task.predict(model, batch)

    eval_shardings = {k: self.state_shardings[k] for k in ("params", "model_state")}
    return jax.jit(predict, in_shardings=(eval_shardings, self.batch_sharding),
                   out_shardings=self.batch_sharding)

  def _global(self, batch: dict[str, np.ndarray]) -> dict[str, jax.Array]:
    return sharding.global_batch({k: batch[k] for k in self.task.batch_keys},
                                 self.batch_sharding)

  # ---------------------------------------------------------------- evaluation
  def evaluate(self, step: int) -> dict[str, Any]:
    """Evaluates the current parameters on the whole eval split; writes eval/step_N.json."""
    n = len(self.eval_source)
    pid, count = jax.process_index(), jax.process_count()
    local_indices = np.arange(pid, n, count)
    preds, indices = [], []
    for b, batch in enumerate(self.task.eval_iterator(self.eval_source,
                                                      batch_size=self.local_eval_batch)):
      slots = np.arange(b * self.local_eval_batch, (b + 1) * self.local_eval_batch)
      index = np.where(slots < local_indices.size,
                       local_indices[np.minimum(slots, local_indices.size - 1)], -1)
      index = np.where(batch["mask"], index, -1).astype(np.int32)
      out = self._predict({k: self.state[k] for k in ("params", "model_state")},
                          self._global(batch))
      preds.append(sharding.to_host(out))
      indices.append(sharding.to_host(jax.make_array_from_process_local_data(
          self.batch_sharding, index)))
    preds, indices = np.concatenate(preds), np.concatenate(indices)
    keep = indices >= 0
    order = np.argsort(indices[keep], kind="stable")
    preds, indices = preds[keep][order], indices[keep][order]
    if not np.array_equal(indices, np.arange(n)):
      raise RuntimeError(f"evaluation covered {np.unique(indices).size} of {n} clips: "
                         "the eval iterator lost or repeated clips")
    examples = [self.eval_source[int(i)] for i in indices]
    results = self.task.evaluate(preds, examples)
    results = {"step": step, **results}
    if self.is_main:
      eval_dir = self.workdir / "eval"
      eval_dir.mkdir(exist_ok=True)
      (eval_dir / f"step_{step}.json").write_text(json.dumps(results, indent=2) + "\n")
    return results

  # ---------------------------------------------------------------- loop
  def run(self) -> dict[str, Any]:
    """Trains to ``total_steps`` (resuming if possible); returns the last evaluation."""
    c = self.config
    ckpt = checkpointing.Checkpointer(self.workdir, c.keep_checkpoints)
    train_iter = self.task.train_iterator(self.train_source,
                                          batch_size=self.local_batch, seed=c.seed)
    meta = _RunMeta()
    if ckpt.latest_step() is not None:
      self.state, saved = ckpt.restore(checkpointing.abstract_like(self.state),
                                       train_iter)
      meta = _RunMeta(**saved)
    if self.is_main:
      _save_config(c, self.workdir, meta.step if meta.step else None)
    writer = observability.MetricsWriter(self.workdir)
    progress = observability.Progress(self.total_steps, meta.step, c.progress_bar)
    progress.write(
        f"{c.model.name}: {self.num_params:,} parameters; {len(self.train_source)} "
        f"train / {len(self.eval_source)} eval clips; {self.steps_per_epoch} steps per "
        f"epoch; training steps {meta.step + 1}..{self.total_steps} on "
        f"{jax.device_count()} device(s), {jax.process_count()} process(es)"
        + (f"; resumed from step {meta.step}" if meta.step else ""))
    last_saved = meta.step if meta.step else None
    results: dict[str, Any] = {}
    pending = None  # (step, metrics) checked one step late to keep the device busy
    window: list[dict[str, float]] = []
    t0 = time.perf_counter()

    def flush(entry):
      step, metrics = entry
      host = {k: float(v) for k, v in jax.device_get(metrics).items()}
      _check_finite(host["loss"], step, last_saved)
      window.append(host)
      return host

    def save(step, best=False):
      nonlocal last_saved
      ckpt.save(step, self.state, train_iter, dataclasses.asdict(meta), best=best)
      last_saved = step

    try:
      step = meta.step
      while step < self.total_steps and not meta.stopped_early:
        step += 1
        batch = self._global(next(train_iter))
        self.state, metrics = self._train_step(self.state, batch,
                                               jnp.asarray(step, jnp.int32))
        if pending is not None:
          host = flush(pending)
          progress.update(1, loss=f"{host['loss']:.4f}")
        pending = (step, metrics)
        boundary = (step % c.log_every_steps == 0 or step % self.eval_every == 0
                    or step % self.checkpoint_every == 0 or step == self.total_steps)
        if not boundary:
          continue
        host = flush(pending)
        progress.update(1, loss=f"{host['loss']:.4f}")
        pending = None
        meta.step = step
        if step % c.log_every_steps == 0 or step == self.total_steps:
          elapsed = time.perf_counter() - t0
          mean = {k: float(np.mean([w[k] for w in window])) for k in window[0]}
          mean["steps_per_second"] = len(window) / max(elapsed, 1e-9)
          mean["epoch"] = step / self.steps_per_epoch
          writer.write(step, mean, prefix="train/")
          window.clear()
          t0 = time.perf_counter()
        is_eval = step % self.eval_every == 0 or step == self.total_steps
        best = False
        if is_eval:
          results = self.evaluate(step)
          value = float(results[self.task.primary_metric])
          writer.write(step, results, prefix="eval/")
          progress.write(f"\nstep {step} (epoch {step / self.steps_per_epoch:.2f}):\n"
                         + self.task.format_results(results))
          if meta.best_metric is None or value < meta.best_metric:
            meta.best_metric, meta.best_step = value, step
            meta.evals_without_improvement = 0
            best = True
          else:
            meta.evals_without_improvement += 1
            if c.early_stop_patience and (meta.evals_without_improvement
                                          >= c.early_stop_patience):
              meta.stopped_early = True
              progress.write(f"early stop: no better {self.task.primary_metric} in "
                             f"{c.early_stop_patience} evaluations")
        if is_eval or step % self.checkpoint_every == 0 or meta.stopped_early:
          save(step, best=best)
      if pending is not None:
        flush(pending)
      if not results and meta.step:
        results = self.evaluate(meta.step)  # The run had already finished.
    finally:
      ckpt.wait()
      ckpt.close()
      writer.close()
      progress.close()
    if meta.best_metric is not None:
      progress.write(f"best {self.task.primary_metric} {meta.best_metric:.2f} at step "
                     f"{meta.best_step}; checkpoints in {self.workdir}")
    return results


def train_and_evaluate(config: ml_collections.ConfigDict,
                       workdir: str | pathlib.Path) -> dict[str, Any]:
  """Trains and evaluates ``config`` in ``workdir`` (resuming a run found there)."""
  return Trainer(config, workdir).run()
