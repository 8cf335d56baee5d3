"""The Task interface: everything the trainer needs to know about a task family.

A task family (3D lifting, video 2D pose, ...) is a folder under ``tasks/`` with its
task class, losses and config section, registered by name in ``tasks.registry``.
The trainer, the evaluation loop and the benchmarks talk to a task only through this
protocol, so a new family adds files and touches no trainer code.
"""

from __future__ import annotations

from typing import Any, Mapping, Protocol, Sequence

from flax import nnx
import jax
import ml_collections

from sasmamba_jax import evaluation


class Task(Protocol):
  """What a trainable task provides. Batches are dicts of arrays (B, ...)."""

  #: registered name (``config.task.name``)
  name: str
  #: the evaluation result that selects the best checkpoint
  primary_metric: str
  #: whether a larger ``primary_metric`` is better (PCK, mAP) or worse (MPJPE)
  higher_is_better: bool

  def batch_spec(self, model: nnx.Module, batch_size: int
                 ) -> dict[str, jax.ShapeDtypeStruct]:
    """The features ``loss`` and ``predict`` read, with their shapes for ``model``.

    The trainer feeds exactly these keys to the compiled step; the benchmarks make
    random batches of this spec.
    """

  def train_transforms(self, source: Any) -> Sequence[Any]:
    """grain transforms applied to each training example (augmentations, targets)."""

  def eval_transforms(self, source: Any) -> Sequence[Any]:
    """Deterministic grain transforms applied to each evaluation example."""

  def build_model(self, model_config: ml_collections.ConfigDict, *, rngs: nnx.Rngs,
                  dtype: str) -> nnx.Module:
    """The model of ``model_config`` (``name`` and ``kwargs``), fitted to the data."""

  def check_model(self, model: nnx.Module) -> None:
    """Raises a ValueError when a model built elsewhere cannot take this task's data."""

  def model_inputs(self, batch: Mapping[str, jax.Array]) -> tuple[jax.Array, ...]:
    """The model's positional inputs for a batch (benchmarks call the model on them)."""

  def loss(self, model: nnx.Module, batch: Mapping[str, jax.Array]
           ) -> tuple[jax.Array, dict[str, jax.Array]]:
    """(scalar loss, named terms) of a training batch; the model is in train mode."""

  def predict(self, model: nnx.Module, batch: Mapping[str, jax.Array]) -> jax.Array:
    """Predictions of an evaluation batch (test-time augmentation included)."""

  def make_evaluator(self, source: Any = None) -> evaluation.Evaluator:
    """A fresh streaming evaluator of this task's protocol for the eval ``source``
    (a protocol may need its dataset's metadata, e.g. PoseTrack's ground truth)."""

  def format_results(self, results: Mapping[str, Any]) -> str:
    """A human-readable table of ``make_evaluator().result()``."""


# Optional: ``prepare_sources(model, sources, workdir, *, batch_size, num_threads,
# num_workers, log) -> sources``. The trainer calls it with the built model and
# {"train": ..., "eval": ...} before training; a task may return other sources
# (the video task's feature cache).


def is_better(task: Task, value: float, best: float | None) -> bool:
  """Whether ``value`` of ``task.primary_metric`` beats ``best`` (None: nothing yet)."""
  if best is None:
    return True
  return value > best if task.higher_is_better else value < best
