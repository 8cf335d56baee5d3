"""Run checkpoints with Orbax: the latest N, plus the best by the validation metric.

A checkpoint holds the train state (parameters and optimizer state), the data
iterator's position (grain, one file per process) and a small JSON of run metadata
(step, best metric, early-stopping counter). Restoring all three makes a resumed run
continue with the same step, data order and randomness (the per-step RNG is derived
from the seed and the step).
"""

from __future__ import annotations

import pathlib
from typing import Any

import grain
import jax
import orbax.checkpoint as ocp


class CheckpointRestoreError(RuntimeError):
  """A checkpoint exists but cannot be restored into the current run."""


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
           best: bool = False) -> None:
    """Saves ``state`` at ``step`` (and as the best one if ``best``)."""
    if self.latest.latest_step() != step:
      self.latest.save(step, args=ocp.args.Composite(
          state=ocp.args.StandardSave(state),
          data=grain.checkpoint.CheckpointSave(data_iterator),
          meta=ocp.args.JsonSave(meta)))
    if best:
      self.best.save(step, args=ocp.args.Composite(
          state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)))

  def restore(self, abstract_state: Any, data_iterator: Any,
              step: int | None = None) -> tuple[Any, dict[str, Any]]:
    """Restores state (with the shardings of ``abstract_state``), iterator and meta."""
    step = self.latest.latest_step() if step is None else step
    try:
      restored = self.latest.restore(step, args=ocp.args.Composite(
          state=ocp.args.StandardRestore(abstract_state),
          data=grain.checkpoint.CheckpointRestore(data_iterator),
          meta=ocp.args.JsonRestore()))
    except Exception as e:  # Orbax raises many types; all mean the same to a user.
      raise CheckpointRestoreError(
          f"could not restore the checkpoint at step {step} in "
          f"{self.latest.directory}: {type(e).__name__}: {e}. If the run's model or "
          "optimizer settings changed, start in a new --workdir; if the checkpoint "
          "is corrupt, move that step's folder aside to resume from the previous "
          "one.") from e
    return restored.state, dict(restored.meta)

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
      try:
        restored = manager.restore(step, args=ocp.args.Composite(
            state=ocp.args.PyTreeRestore(
                item=abstract_variables,
                restore_args=ocp.checkpoint_utils.construct_restore_args(
                    abstract_variables),
                partial_restore=True),
            meta=ocp.args.JsonRestore()))
      except Exception as e:  # Orbax raises many types; all mean the same to a user.
        raise CheckpointRestoreError(
            f"could not restore the checkpoint at step {step} in {directory}: "
            f"{type(e).__name__}: {e}. Evaluate it with the config it was trained "
            "with.") from e
      return restored.state, dict(restored.meta)
    finally:
      manager.close()
  raise CheckpointRestoreError(
      f"no checkpoint in {workdir}: expected a training run's workdir (with "
      "checkpoints/ or best/)")


def abstract_like(state: Any) -> Any:
  """ShapeDtypeStructs (with shardings) of a concrete state, for restoring into."""
  return jax.tree.map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), state)
