"""Run checkpoints with Orbax: the latest N, plus the best by the validation metric.

A checkpoint holds the train state (parameters and optimizer state), the data
iterator's position (grain, one file per process) and a small JSON of run metadata
(step, best metric, early-stopping counter, and a checksum of every saved array).
Restoring all three makes a resumed run continue with the same step, data order and
randomness (the per-step RNG is derived from the seed and the step). Every restore
recomputes the checksums. A checkpoint is damaged when its arrays disagree with
their checksums, or when its files cannot be decoded although its saved layout (the
arrays' names, shapes and dtypes) fits the run; a damaged checkpoint is named, moved
aside to ``WORKDIR/damaged/`` (never deleted) and the run resumes from the newest
intact one. A layout that does not fit means the run's settings changed: that is
said, and nothing is moved.
"""

from __future__ import annotations

import asyncio
import contextlib
import pathlib
import shutil
from typing import Any, Iterator
import warnings

import grain
import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

from sasmamba_jax.nn.paths import path_string


class CheckpointRestoreError(RuntimeError):
  """A checkpoint exists but cannot be restored into the current run."""


class DamagedCheckpointError(CheckpointRestoreError):
  """A checkpoint's arrays do not match the checksums saved with them."""


def _leaf_fingerprint(x: jax.Array) -> jax.Array:
  """Two uint32 sums of an array's bits: plain and position-weighted (odd weights).

  Any single flipped bit changes the weighted sum (an odd multiple of a power of two
  is never 0 mod 2^32); several flips cancel only by coincidence.
  """
  x = jnp.asarray(x)
  if x.dtype == jnp.bool_:
    bits = x.astype(jnp.uint32)
  else:
    size = x.dtype.itemsize
    unsigned = {1: jnp.uint8, 2: jnp.uint16, 4: jnp.uint32, 8: jnp.uint32}[size]
    bits = jax.lax.bitcast_convert_type(x, unsigned).astype(jnp.uint32)
  bits = bits.reshape(-1)
  weights = jnp.arange(bits.size, dtype=jnp.uint32) * jnp.uint32(2) + jnp.uint32(1)
  return jnp.stack([jnp.sum(bits, dtype=jnp.uint32),
                    jnp.sum(bits * weights, dtype=jnp.uint32)])


def checksums(tree: Any) -> dict[str, list[int]]:
  """``{path: [sum, weighted sum]}`` of every array of ``tree`` (computed on device)."""
  leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
  if not leaves:
    return {}
  values = jax.jit(lambda xs: [_leaf_fingerprint(x) for x in xs])(
      [x for _, x in leaves])
  out = {}
  for (path, _), value in zip(leaves, values):
    local = value.addressable_data(0) if hasattr(value, "addressable_data") else value
    out[path_string(path)] = [int(v) for v in np.asarray(local)]
  return out


def verify(tree: Any, meta: dict[str, Any], where: str) -> None:
  """Raises DamagedCheckpointError when ``tree`` disagrees with ``meta["checksums"]``.

  Arrays absent from the saved checksums (checkpoints written before checksums
  existed, or a subtree restored alone) are not checked.
  """
  saved = meta.get("checksums")
  if not saved:
    return
  bad = [path for path, value in checksums(tree).items()
         if path in saved and list(saved[path]) != value]
  if bad:
    shown = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
    raise DamagedCheckpointError(f"{where} is damaged: {len(bad)} array(s) differ "
                                 f"from their saved checksums ({shown})")


def _short(e: Exception, limit: int = 300) -> str:
  # TensorStore appends a dump of its whole spec: the first sentence says it.
  text = " ".join(str(e).split(" See full TensorStore details")[0].split())
  return f"{type(e).__name__}: " + (text[:limit] + " ..." if len(text) > limit else text)


def _tidy_loop(loop: asyncio.AbstractEventLoop) -> asyncio.AbstractEventLoop:
  """``loop``, which lets its pending tasks end before it closes and drops what
  other threads hand it once closed."""
  close, threadsafe = loop.close, loop.call_soon_threadsafe

  def finish_then_close():
    if not loop.is_closed() and not loop.is_running():
      pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
      if pending:  # Reads still in flight after another failed: let them end.
        loop.run_until_complete(asyncio.wait(pending, timeout=60))
        for task in pending:
          if task.done() and not task.cancelled():
            task.exception()  # Retrieved: not reported as "never retrieved".
    close()

  def call_soon_threadsafe(callback, *args, **kwargs):
    try:
      return threadsafe(callback, *args, **kwargs)
    except RuntimeError:
      if loop.is_closed():  # A read that ended after its restore failed.
        return None
      raise

  loop.close, loop.call_soon_threadsafe = finish_then_close, call_soon_threadsafe
  return loop


@contextlib.contextmanager
def _tidy_event_loops() -> Iterator[None]:
  """Orbax's restores run on event loops that end quietly when a read fails.

  Orbax runs a restore on a fresh event loop and closes it as soon as one read
  fails, while TensorStore still completes the other reads: their completions
  then reach the closed loop and TensorStore's threads print "RuntimeError: Event
  loop is closed" tracebacks after the error was reported, and the reads left
  waiting print "Exception ignored" when collected. The loops made here let their
  pending reads end before closing and drop completions that come later still.
  """
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # The policy API, 3.14+.
    get = getattr(asyncio, "get_event_loop_policy", None)
    set_ = getattr(asyncio, "set_event_loop_policy", None)
    outer = get() if get and set_ else None
  if outer is None:
    yield
    return

  class TidyPolicy(type(outer)):  # pylint: disable=missing-class-docstring
    def new_event_loop(self):
      return _tidy_loop(outer.new_event_loop())

  with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    set_(TidyPolicy())
  try:
    yield
  finally:
    with warnings.catch_warnings():
      warnings.simplefilter("ignore", DeprecationWarning)
      set_(outer)


def _saved_layout(directory: pathlib.Path) -> dict[str, tuple[tuple[int, ...], str]]:
  """``{path: (shape, dtype)}`` of the arrays a saved pytree holds, from its
  metadata alone ({} when the metadata cannot be read)."""
  handler = ocp.StandardCheckpointHandler()
  try:
    with _tidy_event_loops():
      metadata = handler.metadata(pathlib.Path(directory))
    tree = getattr(metadata, "item_metadata", metadata)
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {path_string(p): (tuple(x.shape), str(np.dtype(x.dtype)))
            for p, x in leaves if hasattr(x, "shape") and hasattr(x, "dtype")}
  except Exception:  # pylint: disable=broad-except  # Unreadable is the answer.
    return {}
  finally:
    handler.close()


def _layout_differences(saved: dict[str, tuple[tuple[int, ...], str]], abstract: Any,
                        *, partial: bool) -> list[str]:
  """How a checkpoint's saved layout differs from the arrays a run restores into
  (``partial``: the run restores a part of the checkpoint)."""
  wanted = {path_string(p): (tuple(x.shape), str(np.dtype(x.dtype)))
            for p, x in jax.tree_util.tree_flatten_with_path(abstract)[0]}
  out = [f"{k} {saved[k][0]} {saved[k][1]} saved, {v[0]} {v[1]} now"
         for k, v in sorted(wanted.items()) if k in saved and saved[k] != v]
  missing = sorted(set(wanted) - set(saved))
  if missing:
    out.append(f"{len(missing)} array(s) not in the checkpoint (e.g. "
               f"{', '.join(missing[:3])})")
  extra = [] if partial else sorted(set(saved) - set(wanted))
  if extra:
    out.append(f"{len(extra)} saved array(s) this run lacks (e.g. "
               f"{', '.join(extra[:3])})")
  return out


def _out_of_memory(e: BaseException) -> bool:
  text = f"{type(e).__name__} {e} {e.__cause__}".lower()
  return isinstance(e, MemoryError) or "resource_exhausted" in text or (
      "out of memory" in text)


def _restore_error(error: Exception, state_dir: pathlib.Path, abstract: Any,
                   where: str, *, partial: bool, settings_fix: str,
                   damaged_fix: str = "") -> CheckpointRestoreError:
  """What a failed restore means: damaged files or a checkpoint of other settings.

  The checkpoint's own metadata decides: unreadable, or a layout that fits the
  run, means its files are damaged; a layout that differs means the settings
  changed (nothing is wrong with the checkpoint).
  """
  if _out_of_memory(error):
    return CheckpointRestoreError(f"could not restore {where}: out of memory "
                                  f"({_short(error)})")
  saved = _saved_layout(state_dir)
  if not saved:
    return DamagedCheckpointError(
        f"{where} is damaged: its metadata cannot be read ({_short(error, 200)})"
        + damaged_fix)
  differences = _layout_differences(saved, abstract, partial=partial)
  if differences:
    return CheckpointRestoreError(
        f"could not restore {where} (its arrays differ from this run's: "
        + "; ".join(differences[:4]) + f"). {settings_fix}")
  return DamagedCheckpointError(
      f"{where} is damaged: its arrays fit this run but cannot be read "
      f"({_short(error, 200)})" + damaged_fix)


class Checkpointer:
  """``workdir/checkpoints`` keeps the latest ``keep``; ``workdir/best`` keeps one."""

  def __init__(self, workdir: str | pathlib.Path, keep: int):
    workdir = pathlib.Path(workdir).absolute()
    options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True)
    self.latest = ocp.CheckpointManager(workdir / "checkpoints", options=options,
                                        item_names=("state", "data", "meta"))
    self.best = ocp.CheckpointManager(
        workdir / "best", options=ocp.CheckpointManagerOptions(max_to_keep=1,
                                                                create=True),
        item_names=("state", "meta"))

  def latest_step(self) -> int | None:
    return self.latest.latest_step()

  def save(self, step: int, state: Any, data_iterator: Any, meta: dict[str, Any], *,
           best: bool = False, wait: bool = False) -> None:
    """Saves ``state`` at ``step`` (and as the best one if ``best``).

    The arrays' checksums go into the metadata. ``wait`` blocks until the files are
    complete (on a signal, before the process exits).
    """
    meta = dict(meta, checksums=checksums(state))
    if self.latest.latest_step() != step:
      self.latest.save(step, args=ocp.args.Composite(
          state=ocp.args.StandardSave(state),
          data=grain.checkpoint.CheckpointSave(data_iterator),
          meta=ocp.args.JsonSave(meta)))
    if best:
      self.best.save(step, args=ocp.args.Composite(
          state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)))
    if wait:
      self.wait()

  def restore(self, abstract_state: Any, data_iterator: Any,
              step: int | None = None) -> tuple[Any, dict[str, Any]]:
    """Restores state (with the shardings of ``abstract_state``), iterator and meta.

    Raises:
      DamagedCheckpointError: the arrays disagree with their checksums.
      CheckpointRestoreError: the checkpoint does not fit this run (or is unreadable).
    """
    step = self.latest.latest_step() if step is None else step
    where = f"the checkpoint at step {step} in {self.latest.directory}"
    try:
      with _tidy_event_loops():
        restored = self.latest.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract_state),
            data=grain.checkpoint.CheckpointRestore(data_iterator),
            meta=ocp.args.JsonRestore()))
    except Exception as e:  # Orbax raises many types: the checkpoint's layout tells.
      raise _restore_error(
          e, pathlib.Path(self.latest.directory) / str(step) / "state",
          abstract_state, where, partial=False,
          settings_fix="If the run's model or optimizer settings changed, start in "
                       "a new --workdir") from e
    meta = _meta(restored.meta, where)
    verify(restored.state, meta, where)
    meta.pop("checksums", None)
    return restored.state, meta

  def restore_newest_intact(self, abstract_state: Any, data_iterator: Any
                            ) -> tuple[Any, dict[str, Any], list[str]]:
    """Restores the newest checkpoint that is intact; moves damaged ones aside.

    Returns:
      (state, meta, notes): ``notes`` say which checkpoints were damaged and where
      they were moved.

    Raises:
      CheckpointRestoreError: no checkpoint could be restored (the first problem is
        named: a config that no longer fits the run is the usual cause).
    """
    notes, first_error = [], None
    for step in sorted(self.latest.all_steps(), reverse=True):
      try:
        state, meta = self.restore(abstract_state, data_iterator, step)
      except DamagedCheckpointError as e:
        first_error = first_error or e
        notes.append(f"{e}; moved it to {self._move_aside(step)}")
        continue
      if notes:
        notes.append(f"resuming from step {step}, the newest intact checkpoint")
      return state, meta, notes
    if first_error is not None:
      raise CheckpointRestoreError(
          f"no intact checkpoint in {self.latest.directory} ("
          + "; ".join(notes) + "); start in a new --workdir") from first_error
    raise CheckpointRestoreError(f"no checkpoint in {self.latest.directory}")

  def _move_aside(self, step: int) -> pathlib.Path:
    self.latest.wait_until_finished()
    source = pathlib.Path(self.latest.directory) / str(step)
    target = pathlib.Path(self.latest.directory).parent / "damaged" / str(step)
    # An earlier damaged copy of the same step is kept too: step.1, step.2, ...
    n = 0
    while target.exists():
      n += 1
      target = target.with_name(f"{step}.{n}")
    if jax.process_index() == 0:
      target.parent.mkdir(parents=True, exist_ok=True)
      shutil.move(str(source), str(target))
    self.latest.reload()
    return target

  def wait(self) -> None:
    self.latest.wait_until_finished()
    self.best.wait_until_finished()

  def close(self) -> None:
    self.latest.close()
    self.best.close()


def restore_variables(workdir: str | pathlib.Path, abstract_variables: Any, *,
                      best: bool = True) -> tuple[Any, dict[str, Any]]:
  """Restores only the model variables of a run's checkpoint (no optimizer state).

  Args:
    workdir: a run directory of ``experiments.train``.
    abstract_variables: ``{"params": ..., "model_state": ...}`` (and ``frozen``) as
      ``abstract_like`` gives them: the structure, dtypes and shardings to restore.
    best: the best checkpoint if there is one, else the latest.

  Returns:
    (variables, meta): the restored subtree of the train state and the run metadata.
  """
  workdir = pathlib.Path(workdir).absolute()
  managers = [workdir / "best", workdir / "checkpoints"] if best else [
      workdir / "checkpoints"]
  for directory in managers:
    if not directory.is_dir():
      continue
    manager = ocp.CheckpointManager(directory, item_names=("state", "meta"))
    try:
      step = manager.latest_step()
      if step is None:
        continue
      where = f"the checkpoint at step {step} in {directory}"
      try:
        with _tidy_event_loops():
          restored = manager.restore(step, args=ocp.args.Composite(
              state=ocp.args.PyTreeRestore(
                  item=abstract_variables,
                  restore_args=ocp.checkpoint_utils.construct_restore_args(
                      abstract_variables),
                  partial_restore=True),
              meta=ocp.args.JsonRestore()))
      except Exception as e:  # Orbax raises many types: the checkpoint's layout tells.
        raise _restore_error(
            e, directory / str(step) / "state", abstract_variables, where,
            partial=True,
            settings_fix="Evaluate it with the config it was trained with (a run's "
                         "config.json)",
            damaged_fix=_damaged_fix(directory.name)) from e
      missing = [path_string(p) for p, x in jax.tree_util.tree_flatten_with_path(
          restored.state)[0] if isinstance(x, jax.ShapeDtypeStruct)]
      if missing:
        raise CheckpointRestoreError(
            f"{where} has no arrays for {len(missing)} of the model's variables (e.g. "
            f"{', '.join(missing[:3])}): it was trained with another model or config; "
            "evaluate it with the config it was trained with (a run's config.json)")
      try:
        meta = _meta(restored.meta, where)
        verify(restored.state, meta, where)
      except DamagedCheckpointError as e:
        raise DamagedCheckpointError(str(e) + _damaged_fix(directory.name)) from None
      meta.pop("checksums", None)
      return restored.state, meta
    finally:
      manager.close()
  raise CheckpointRestoreError(
      f"no checkpoint in {workdir}: expected a training run's workdir (with "
      "checkpoints/ or best/)")


def _meta(meta: Any, where: str) -> dict[str, Any]:
  """The run metadata of a restored checkpoint (a JSON object, else damaged)."""
  if not isinstance(meta, dict) or not isinstance(meta.get("step", 0), int):
    raise DamagedCheckpointError(f"{where} is damaged: its run metadata (meta/) is "
                                 "not what the trainer writes")
  return dict(meta)


def _damaged_fix(kind: str) -> str:
  """What to do about a damaged checkpoint that is read, not resumed from."""
  if kind == "best":
    return "; evaluate the run's latest checkpoint instead (--latest)"
  return ("; resume the run (experiments.train, same --workdir) to move it aside "
          "and continue from the newest intact checkpoint")


def abstract_like(state: Any) -> Any:
  """ShapeDtypeStructs (with shardings) of a concrete state, for restoring into."""
  return jax.tree.map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), state)
