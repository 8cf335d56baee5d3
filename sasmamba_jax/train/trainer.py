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
import signal
import threading
import time
from typing import Any

from flax import nnx
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from sasmamba_jax import tasks
from sasmamba_jax.datasets import config as dataset_config
from sasmamba_jax.datasets import pipeline
from sasmamba_jax.train import checkpointing
from sasmamba_jax.train import config as config_lib
from sasmamba_jax.train import evaluator as evaluator_lib
from sasmamba_jax.train import observability
from sasmamba_jax.train import optimizers
from sasmamba_jax.train import sharding
from sasmamba_jax.train import workdir_lock


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


@dataclasses.dataclass
class TrainState:
  """A model split for training, placed on a mesh.

  ``state`` holds ``params`` (trained), ``model_state`` (BatchNorm statistics and
  other carried variables), ``opt_state`` (of ``params`` only) and, when
  ``optimizer.freeze`` selects parameters, ``frozen``: used in the forward, never
  differentiated, without optimizer state. RNG variables (``rest``) are reseeded
  from (seed, step) every step, so they stay outside the state.
  """

  graphdef: nnx.GraphDef
  rest: nnx.State
  state: dict[str, Any]
  shardings: dict[str, Any]
  tx: optax.GradientTransformation
  schedule: optax.Schedule


def plan_train_state(model: nnx.Module, optimizer: ml_collections.ConfigDict,
                     mesh: jax.sharding.Mesh, param_sharding: str = "replicated", *,
                     steps_per_epoch: int, total_steps: int
                     ) -> tuple[TrainState, dict[str, Any]]:
  """The layout of ``model``'s train state on ``mesh``, without placing anything.

  ``model`` may be abstract (``nnx.eval_shape``): the ahead-of-time compile checks
  and the memory plan (``sasmamba_jax.aot``) lay out the state of models too large
  for this machine exactly as training does.

  Returns:
    (the TrainState whose ``state`` holds the variables as given, without
    ``opt_state``; the abstract ``opt_state``). ``shardings`` covers both.
  """
  optimizers.check_freeze_patterns(optimizer, nnx.state(model, nnx.Param))
  graphdef, rest, variables = evaluator_lib.split_model(model, optimizer.freeze)
  shardings = sharding.state_shardings(variables, mesh, param_sharding)
  tx, schedule = optimizers.make(optimizer, variables["params"],
                                 steps_per_epoch=steps_per_epoch,
                                 total_steps=total_steps)
  opt_state = jax.eval_shape(tx.init, variables["params"])
  shardings["opt_state"] = sharding.state_shardings(opt_state, mesh, param_sharding)
  return TrainState(graphdef, rest, variables, shardings, tx, schedule), opt_state


def make_train_state(model: nnx.Module, optimizer: ml_collections.ConfigDict,
                     mesh: jax.sharding.Mesh, param_sharding: str = "replicated", *,
                     steps_per_epoch: int, total_steps: int) -> TrainState:
  """Splits ``model`` for training and initialises its optimizer on the mesh.

  Variables already on their shardings (``sharding.create_sharded``) stay where
  they are; the optimizer state is created inside ``jit`` on the parameters'
  shardings, so neither passes through the host.
  """
  ts, _ = plan_train_state(model, optimizer, mesh, param_sharding,
                           steps_per_epoch=steps_per_epoch, total_steps=total_steps)
  variables = sharding.put(ts.state, {k: v for k, v in ts.shardings.items()
                                      if k != "opt_state"})
  opt_state = jax.jit(ts.tx.init, out_shardings=ts.shardings["opt_state"])(
      variables["params"])
  return dataclasses.replace(ts, state={**variables, "opt_state": opt_state})


def jit_train_step(train_step, state_shardings: Any, mesh: jax.sharding.Mesh):
  """``jax.jit`` of ``make_train_step``'s step as the trainer runs it: the state on
  its shardings (donated), the batch split over the data axis, the step replicated."""
  repl = sharding.replicated(mesh)
  return jax.jit(train_step,
                 in_shardings=(state_shardings, sharding.batch_sharding(mesh), repl),
                 out_shardings=(state_shardings, repl), donate_argnums=(0,))


def make_train_step(graphdef: nnx.GraphDef, rest: nnx.State, task: tasks.BoundTask,
                    tx: optax.GradientTransformation, schedule: optax.Schedule,
                    key: jax.Array, trainable: nnx.filterlib.Filter = nnx.Param):
  """The pure train step ``(state, batch, step) -> (state, metrics)`` to jit."""

  # The RNG variables (``rest``) are constants of the computation: reseed replaces
  # them from (key, step) at every step.
  def train_step(state, batch, step):
    # Rebuilt here (tree.map makes new Variables) so they belong to this trace.
    model = evaluator_lib.merge_model(graphdef, rest, state)
    nnx.reseed(model, dropout=jax.random.fold_in(key, step))
    # nnx.value_and_grad differentiates the trainable Params and carries the other
    # state updates (BatchNorm statistics) out of the transform into ``model``.
    (loss, metrics), grads = nnx.value_and_grad(
        task.loss, argnums=nnx.DiffState(0, trainable), has_aux=True)(model, batch)
    model_state = nnx.state(model, evaluator_lib.CARRIED)
    updates, opt_state = tx.update(grads, state["opt_state"], state["params"])
    params = optax.apply_updates(state["params"], updates)
    # The rate this update applied: the schedule at the optimizer's own count
    # (0-based), not at the trainer's 1-based ``step``.
    metrics = dict(metrics, loss=loss, grad_norm=optax.tree.norm(grads),
                   learning_rate=optimizers.applied_learning_rate(
                       schedule, state["opt_state"]))
    return dict(state, params=params, model_state=model_state,
                opt_state=opt_state), metrics

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
    saved = (f"the last checkpoint, step {last_saved}, was saved before that (its "
             "checksums are verified when the run resumes)"
             if last_saved is not None else "no checkpoint was written")
    raise NonFiniteLossError(
        f"training stopped: the loss at step {step} is {loss}; {saved}. Lower "
        "config.optimizer.learning_rate, set config.optimizer.grad_clip_norm (e.g. "
        "1.0), or check the input data for NaNs.")


class Trainer:
  """Builds everything a run needs from a validated config; ``run`` trains.

  Each component gets its own config section: the task ``config.task``, the data
  ``config.dataset``, the model ``config.model``, the optimizer
  ``config.optimizer``; the trainer keeps the rest.
  """

  def __init__(self, config: ml_collections.ConfigDict, workdir: str | pathlib.Path):
    self.config = config_lib.validate(config)
    maybe_initialize_distributed(self.config)
    self.workdir = pathlib.Path(workdir)
    if self.workdir.exists() and not self.workdir.is_dir():
      raise NotADirectoryError(f"--workdir {self.workdir} is a file; give a directory "
                               "(new, or a run's to resume it)")
    self.is_main = jax.process_index() == 0
    if self.is_main:
      self.workdir.mkdir(parents=True, exist_ok=True)
    c = self.config
    self.task = tasks.create(c.task)
    self.train_split, self.eval_split = dataset_config.load_splits(
        c.dataset, [c.dataset.train_split, c.dataset.eval_split])
    # What the task may replace for a model (prepare_data), kept as read.
    self._read_splits = {"train": self.train_split, "eval": self.eval_split}
    self.mesh = sharding.make_mesh(c.mesh.data)
    self.local_batch = sharding.per_process_batch(c.batch_size)
    self.local_eval_batch = sharding.per_process_batch(c.eval_batch_size,
                                                       "eval_batch_size")
    if len(self.train_split) < c.batch_size:
      raise ValueError(f"the train split has {len(self.train_split)} examples, "
                       f"fewer than batch_size = {c.batch_size}")
    # ceil(N / B), the official loaders' epoch (drop_last=False).
    self.steps_per_epoch = optimizers.epoch_length(len(self.train_split), c.batch_size)
    self.total_steps = c.num_epochs * self.steps_per_epoch
    if c.max_steps:
      self.total_steps = min(self.total_steps, c.max_steps)
    self.eval_every = (c.eval_every_steps or c.eval_every_epochs * self.steps_per_epoch)
    self.checkpoint_every = c.checkpoint_every_steps or self.eval_every
    self.batch_sharding = sharding.batch_sharding(self.mesh)
    self._key = jax.random.key(c.seed)
    self.set_model(sharding.create_sharded(
        lambda: self.task.build_model(c.model, rngs=nnx.Rngs(params=c.seed,
                                                             dropout=c.seed + 1),
                                      dtype=c.compute_dtype),
        self.mesh, c.mesh.param_sharding))

  def set_model(self, model: nnx.Module) -> None:
    """Trains / evaluates ``model`` (e.g. one loaded from an official checkpoint)."""
    c = self.config
    log = (lambda text: print(text, flush=True)) if self.is_main else None
    # The task bound to the model, and the splits it trains on (e.g. cached features).
    self.bound, splits = self.task.bind(model).prepare_data(
        model, self._read_splits, self.workdir, batch_size=self.local_eval_batch,
        num_threads=c.dataset.num_threads, num_workers=c.dataset.num_workers, log=log)
    self.train_split, self.eval_split = splits["train"], splits["eval"]
    ts = make_train_state(model, c.optimizer, self.mesh, c.mesh.param_sharding,
                          steps_per_epoch=self.steps_per_epoch,
                          total_steps=self.total_steps)
    self.graphdef, self.rest, self.tx, self.schedule = (ts.graphdef, ts.rest, ts.tx,
                                                        ts.schedule)
    self.state, self.state_shardings = ts.state, ts.shardings
    self.feature_keys = tuple(self.bound.batch_spec(self.local_batch))
    self.num_params = sum(x.size for x in jax.tree.leaves(self.state["params"]))
    self.num_frozen = sum(x.size for x in jax.tree.leaves(self.state.get("frozen",
                                                                         {})))
    self._train_step = self._compile_train_step()
    self.predictor = evaluator_lib.Predictor(
        self.bound, self.graphdef, self.rest, self._eval_variables(), self.mesh)

  def _eval_variables(self) -> dict[str, Any]:
    return {k: self.state[k] for k in evaluator_lib.EVAL_KEYS if k in self.state}

  # ---------------------------------------------------------------- steps
  def _compile_train_step(self):
    step_fn = make_train_step(self.graphdef, self.rest, self.bound, self.tx,
                              self.schedule, self._key,
                              optimizers.trainable_filter(self.config.optimizer))
    return jit_train_step(step_fn, self.state_shardings, self.mesh)

  def _global(self, batch: dict[str, np.ndarray]) -> dict[str, jax.Array]:
    for key in self.feature_keys:
      values = batch[key]
      if values.dtype.kind == "f" and not np.all(np.isfinite(values)):
        raise ValueError(f"a training batch's {key!r} holds NaN or infinite values; "
                         f"fix or drop those examples of dataset "
                         f"{self.config.dataset.name}")
    return sharding.global_batch({k: batch[k] for k in self.feature_keys},
                                 self.batch_sharding)

  def train_iterator(self):
    """The training batches of this process (checkpointable grain iterator)."""
    c = self.config
    return pipeline.make_train_iterator(
        self.train_split.examples, batch_size=self.local_batch, seed=c.seed,
        transforms=self.bound.train_transforms(self.train_split),
        keys=self.feature_keys, num_threads=c.dataset.num_threads,
        num_workers=c.dataset.num_workers)

  # ---------------------------------------------------------------- evaluation
  def evaluate(self, step: int) -> dict[str, Any]:
    """Evaluates the current parameters on the eval split; writes eval/step_N.json."""
    results = evaluator_lib.evaluate(
        self.predictor, self.eval_split, batch_size=self.local_eval_batch,
        num_threads=self.config.dataset.num_threads,
        num_workers=self.config.dataset.num_workers,
        variables=self._eval_variables(), progress=self.config.progress_bar,
        dataset_config=self.config.dataset)
    results = {"step": step, **results}
    if self.is_main:
      eval_dir = self.workdir / "eval"
      eval_dir.mkdir(exist_ok=True)
      (eval_dir / f"step_{step}.json").write_text(json.dumps(results, indent=2) + "\n")
    return results

  # ---------------------------------------------------------------- loop
  def _next(self, iterator):
    try:
      return next(iterator)
    except Exception as e:  # pylint: disable=broad-except  # Reading or decoding.
      raise dataset_config.read_error(self.config.dataset, e) from e

  def _check_resume_config(self, progress) -> None:
    """A resumed run may change only the RESUME_SAFE keys; says what changed."""
    path = self.workdir / "config.json"
    if not path.exists():
      return
    try:
      saved = json.loads(path.read_text())
    except (ValueError, RecursionError):
      return  # Unreadable: the restored checkpoint still has to fit the model.
    safe, unsafe = config_lib.resume_changes(saved, self.config)
    if unsafe:
      raise ValueError(
          f"{self.workdir} holds a run with other settings; changed: "
          + "; ".join(unsafe) + ". A run resumes only with the same model, task, data, "
          "optimizer and batch size: put the values back or use a new --workdir")
    if safe:
      progress.write("resuming with changed settings: " + "; ".join(safe))

  def _finished_results(self, step: int) -> dict[str, Any]:
    path = self.workdir / "eval" / f"step_{step}.json"
    if path.exists():
      return json.loads(path.read_text())
    return self.evaluate(step)

  def _outputs(self) -> str:
    w = self.workdir
    return (f"checkpoints in {w / 'checkpoints'} (best in {w / 'best'}), metrics in "
            f"{w / 'metrics.jsonl'}, TensorBoard in {w / 'tensorboard'}, evaluations "
            f"in {w / 'eval'}")

  def run(self) -> dict[str, Any]:
    """Trains to ``total_steps`` (resuming if possible); returns the last evaluation.

    SIGTERM and SIGINT finish the current step, save a checkpoint and raise
    ``TrainingInterrupted``; running again resumes from it.
    """
    c = self.config
    lock = workdir_lock.WorkdirLock(self.workdir) if self.is_main else None
    if lock is not None:
      lock.acquire()
    progress = observability.Progress(self.total_steps, 0, c.progress_bar,
                                      every=c.log_every_steps)
    ckpt = writer = None
    try:
      if lock is not None and lock.note:
        progress.write(lock.note)
      ckpt = checkpointing.Checkpointer(self.workdir, c.keep_checkpoints)
      train_iter = self.train_iterator()
      meta = _RunMeta()
      if ckpt.latest_step() is not None:
        self._check_resume_config(progress)
        self.state, saved, notes = ckpt.restore_newest_intact(
            checkpointing.abstract_like(self.state), train_iter)
        for note in notes:
          progress.write(note)
        meta = _RunMeta(**saved)
      if self.is_main:
        _save_config(c, self.workdir, meta.step if meta.step else None)
      if meta.step >= self.total_steps or meta.stopped_early:
        progress.write(f"the run in {self.workdir} already finished at step "
                       f"{meta.step}; {self._outputs()}")
        return self._finished_results(meta.step)
      writer = observability.MetricsWriter(
          self.workdir, resume_step=meta.step if meta.step else None)
      progress.reset(meta.step)
      progress.write(
          f"{c.model.name}: {self.num_params:,} trained parameters"
          + (f" ({self.num_frozen:,} frozen)" if self.num_frozen else "")
          + f"; {len(self.train_split)} train / {len(self.eval_split)} eval "
          f"examples; {self.steps_per_epoch} steps per epoch; training steps "
          f"{meta.step + 1}..{self.total_steps} on {jax.device_count()} device(s), "
          f"{jax.process_count()} process(es)"
          + (f"; resumed from step {meta.step}" if meta.step else ""))
      with _StopSignals() as signals:
        return self._loop(ckpt, train_iter, meta, writer, progress, signals)
    finally:
      if ckpt is not None:
        ckpt.wait()
        ckpt.close()
      if writer is not None:
        writer.close()
      progress.close()
      if lock is not None:
        lock.release()

  def _loop(self, ckpt, train_iter, meta, writer, progress, signals):
    c = self.config
    last_saved = meta.step if meta.step else None
    last_save_time = time.monotonic()
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

    def save(step, best=False, wait=False):
      nonlocal last_saved, last_save_time
      ckpt.save(step, self.state, train_iter, dataclasses.asdict(meta), best=best,
                wait=wait)
      last_saved, last_save_time = step, time.monotonic()

    step = meta.step
    progress.write("compiling the train step (the first step takes longer)...")
    while step < self.total_steps and not meta.stopped_early:
      step += 1
      batch = self._global(self._next(train_iter))
      self.state, metrics = self._train_step(self.state, batch,
                                             jnp.asarray(step, jnp.int32))
      if pending is not None:
        host = flush(pending)
        progress.update(1, loss=f"{host['loss']:.4f}")
      pending = (step, metrics)
      timed = bool(c.checkpoint_every_minutes) and (
          time.monotonic() - last_save_time > 60 * c.checkpoint_every_minutes)
      stop, timed = _agree(signals.received is not None, timed)
      boundary = (step % c.log_every_steps == 0 or step % self.eval_every == 0
                  or step % self.checkpoint_every == 0 or step == self.total_steps
                  or stop or timed)
      if not boundary:
        continue
      host = flush(pending)
      progress.update(1, loss=f"{host['loss']:.4f}")
      pending = None
      meta.step = step
      if step % c.log_every_steps == 0 or step == self.total_steps or stop:
        elapsed = time.perf_counter() - t0
        mean = {k: float(np.mean([w[k] for w in window])) for k in window[0]}
        mean["steps_per_second"] = len(window) / max(elapsed, 1e-9)
        mean["epoch"] = step / self.steps_per_epoch
        writer.write(step, mean, prefix="train/")
        window.clear()
        t0 = time.perf_counter()
      is_eval = (step % self.eval_every == 0 or step == self.total_steps) and not stop
      best = False
      if is_eval:
        results = self.evaluate(step)
        value = float(results[self.task.primary_metric])
        writer.write(step, results, prefix="eval/")
        progress.write(f"\nstep {step} (epoch {step / self.steps_per_epoch:.2f}):\n"
                       + self.task.format_results(results))
        if tasks.is_better(self.task, value, meta.best_metric):
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
      if (is_eval or step % self.checkpoint_every == 0 or meta.stopped_early or timed
          or stop):
        save(step, best=best, wait=stop)
      if stop:
        raise TrainingInterrupted(signals.received or signal.SIGTERM, step,
                                  self.workdir)
    if pending is not None:
      flush(pending)
    if meta.best_metric is not None:
      progress.write(f"best {self.task.primary_metric} {meta.best_metric:.2f} at step "
                     f"{meta.best_step}; {self._outputs()}")
    return results


class TrainingInterrupted(RuntimeError):
  """SIGTERM or SIGINT stopped training; a checkpoint of the last step was saved."""

  def __init__(self, signum: int, step: int, workdir: pathlib.Path):
    self.signum, self.step, self.workdir = int(signum), step, workdir
    name = signal.Signals(self.signum).name
    super().__init__(f"stopped by {name} after step {step}; its checkpoint is in "
                     f"{workdir / 'checkpoints' / str(step)}: run the same command "
                     "(same --workdir) to resume")


class _StopSignals:
  """Turns SIGTERM / SIGINT into a request to stop after the current step.

  A second SIGINT (Ctrl-C twice) stops at once. Handlers can only be installed from
  the main thread; elsewhere (a trainer run in a worker thread) nothing changes.
  """

  def __init__(self):
    self.received: int | None = None
    self._previous = {}

  def _handle(self, signum, frame):
    del frame
    if self.received == signal.SIGINT and signum == signal.SIGINT:
      raise KeyboardInterrupt
    self.received = signum

  def __enter__(self):
    if threading.current_thread() is threading.main_thread():
      for signum in (signal.SIGTERM, signal.SIGINT):
        self._previous[signum] = signal.signal(signum, self._handle)
    return self

  def __exit__(self, *exc):
    for signum, handler in self._previous.items():
      signal.signal(signum, handler)


def _agree(*flags_: bool) -> tuple[bool, ...]:
  """Each flag as true if it is true on any process (one small all-gather)."""
  if jax.process_count() == 1:
    return tuple(bool(f) for f in flags_)
  from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
  gathered = np.asarray(multihost_utils.process_allgather(
      np.asarray(flags_, np.int32)))
  return tuple(bool(v) for v in gathered.reshape(-1, len(flags_)).max(axis=0))


def train_and_evaluate(config: ml_collections.ConfigDict,
                       workdir: str | pathlib.Path) -> dict[str, Any]:
  """Trains and evaluates ``config`` in ``workdir`` (resuming a run found there)."""
  return Trainer(config, workdir).run()
