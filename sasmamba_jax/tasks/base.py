"""What the trainer knows of a task: ``Task`` (config -> model) and ``BoundTask``.

A task family (3D lifting, 2D pose, video 2D pose) is a folder under ``tasks/`` with
its task class, losses and config section, registered by name in ``tasks.registry``.
The split of responsibilities:

* ``Task`` holds the family's validated ``task`` config section and builds the
  model of a ``model`` section (``build_model``);
* ``task.bind(model)`` checks that the model fits the task's data and returns a
  frozen ``BoundTask``: batch spec, transforms, loss, predict and evaluator factory,
  all of them for that model. Nothing is set on the task afterwards and nothing
  depends on the order of calls;
* ``BoundTask.prepare_data`` is the one optional hook (the base does nothing): a
  family may replace the splits it trains on (the video family's feature cache).

The trainer, the prediction loop and the benchmarks talk to tasks only through
these two classes, so a new family adds files and touches no trainer code.
"""

from __future__ import annotations

import abc
import dataclasses
import pathlib
from typing import Any, Callable, ClassVar, Mapping, Sequence

from flax import nnx
import jax
import ml_collections

from sasmamba_jax import evaluation
from sasmamba_jax.datasets.split import Split


class Task(abc.ABC):
  """A task family's task: its ``task`` config section, models, results.

  Subclasses set ``name`` and ``higher_is_better`` and implement ``build_model``,
  ``bind``, ``primary_metric`` and ``format_results``.
  """

  #: registered name (``config.task.name``)
  name: ClassVar[str] = ""
  #: whether a larger ``primary_metric`` is better (PCK, mAP, AP) or worse (MPJPE)
  higher_is_better: ClassVar[bool] = True

  def __init__(self, config: ml_collections.ConfigDict):
    self.config = config

  @property
  @abc.abstractmethod
  def primary_metric(self) -> str:
    """The evaluation result that selects the best checkpoint."""

  @abc.abstractmethod
  def build_model(self, model_config: ml_collections.ConfigDict, *, rngs: nnx.Rngs,
                  dtype: str) -> nnx.Module:
    """The model of a ``model`` section (name and options), fitted to the data."""

  @abc.abstractmethod
  def bind(self, model: nnx.Module) -> BoundTask:
    """This task for ``model`` (checked: a ValueError says why it does not fit)."""

  @abc.abstractmethod
  def format_results(self, results: Mapping[str, Any]) -> str:
    """A human-readable table of an evaluator's ``result()``."""


@dataclasses.dataclass(frozen=True)
class BoundTask(abc.ABC):
  """A task bound to one model: what training, prediction and evaluation need.

  Batches are dicts of arrays (B, ...). Subclasses implement the methods; the
  ``prepare_data`` hook does nothing unless a family overrides it.
  """

  task: Task

  @property
  def name(self) -> str:
    return self.task.name

  @property
  def primary_metric(self) -> str:
    return self.task.primary_metric

  @property
  def higher_is_better(self) -> bool:
    return self.task.higher_is_better

  def format_results(self, results: Mapping[str, Any]) -> str:
    return self.task.format_results(results)

  @abc.abstractmethod
  def batch_spec(self, batch_size: int) -> dict[str, jax.ShapeDtypeStruct]:
    """The features ``loss`` and ``predict`` read, with their shapes.

    The trainer feeds exactly these keys to the compiled step; the benchmarks make
    random batches of this spec.
    """

  @abc.abstractmethod
  def train_transforms(self, split: Split) -> Sequence[Any]:
    """grain transforms applied to each training example (augmentations, targets)."""

  @abc.abstractmethod
  def eval_transforms(self, split: Split) -> Sequence[Any]:
    """Deterministic grain transforms applied to each evaluation example."""

  @abc.abstractmethod
  def model_inputs(self, batch: Mapping[str, jax.Array]) -> tuple[jax.Array, ...]:
    """The model's positional inputs for a batch (benchmarks call the model on them)."""

  @abc.abstractmethod
  def loss(self, model: nnx.Module, batch: Mapping[str, jax.Array]
           ) -> tuple[jax.Array, dict[str, jax.Array]]:
    """(scalar loss, named terms) of a training batch; the model is in train mode."""

  @abc.abstractmethod
  def predict(self, model: nnx.Module, batch: Mapping[str, jax.Array]) -> jax.Array:
    """Predictions of an evaluation batch (test-time augmentation included)."""

  @abc.abstractmethod
  def make_evaluator(self, split: Split | None = None) -> evaluation.Evaluator:
    """A fresh streaming evaluator of the task's protocol for the eval ``split``
    (a protocol may need its ground truth, e.g. PoseTrack's annotation files)."""

  def prepare_data(self, model: nnx.Module, splits: Mapping[str, Split],
                   workdir: pathlib.Path, *, batch_size: int = 16,
                   num_threads: int = 2, num_workers: int = 0,
                   log: Callable[[str], None] | None = print
                   ) -> tuple[BoundTask, dict[str, Split]]:
    """The binding and splits to train on for ``model`` (called by the trainer with
    {"train": ..., "eval": ...} before training). The base returns them unchanged;
    a family may return other splits (cached features) with the binding they need.
    """
    del model, workdir, batch_size, num_threads, num_workers, log
    return self, dict(splits)


def is_better(task: Task | BoundTask, value: float, best: float | None) -> bool:
  """Whether ``value`` of ``task.primary_metric`` beats ``best`` (None: nothing yet)."""
  if best is None:
    return True
  return value > best if task.higher_is_better else value < best
