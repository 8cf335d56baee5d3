"""Tasks: what the trainer trains. A task bundles model, losses, data and evaluation.

The trainer knows only this interface; the 3D lifting task is the one registered now,
a 2D heatmap task (GLSMamba) will register beside it.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Protocol, Sequence

from flax import nnx
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from sasmamba_jax import evaluation
from sasmamba_jax import losses
from sasmamba_jax import models
from sasmamba_jax import skeletons
from sasmamba_jax.datasets import pipeline
from sasmamba_jax.datasets import registry as datasets


class Task(Protocol):
  """What a trainable task provides. Batches are dicts of NumPy arrays."""

  #: name of the evaluation result that selects the best checkpoint (lower is better)
  primary_metric: str
  #: numeric features the model and losses read from a batch
  batch_keys: tuple[str, ...]

  def data_sources(self) -> tuple[Sequence[Mapping[str, Any]],
                                  Sequence[Mapping[str, Any]]]: ...
  def train_iterator(self, source, *, batch_size: int, seed: int): ...
  def eval_iterator(self, source, *, batch_size: int): ...
  def build_model(self, rngs: nnx.Rngs) -> nnx.Module: ...
  def loss(self, model: nnx.Module, batch: Mapping[str, jax.Array]
           ) -> tuple[jax.Array, dict[str, jax.Array]]: ...
  def predict(self, model: nnx.Module, batch: Mapping[str, jax.Array]) -> jax.Array: ...
  def evaluate(self, predictions: np.ndarray, examples: Sequence[Mapping[str, Any]]
               ) -> dict[str, Any]: ...
  def format_results(self, results: Mapping[str, Any]) -> str: ...


class Lifting3DTask:
  """2D keypoint clips (B, T, J, 3) -> 3D poses (B, T, J, 3), H36M-style features."""

  batch_keys = ("input_2d", "label_3d")

  def __init__(self, config: ml_collections.ConfigDict):
    self.config = config
    self.skeleton = skeletons.get(config.dataset.skeleton)
    self.primary_metric = ("p1_mm" if config.dataset.protocol == "h36m"
                           else "mpjpe_mm")
    self.in_channels = 3 if (config.dataset.use_confidence
                             or config.dataset.constant_confidence) else 2
    w = config.loss
    self._weights = {"mpjpe": w.mpjpe, "n_mpjpe": w.n_mpjpe, "velocity": w.velocity,
                     "temporal_consistency": w.temporal_consistency,
                     "reprojection_2d": w.reprojection_2d}
    if w.temporal_consistency and self.skeleton.name != "h36m":
      raise ValueError("loss.temporal_consistency uses the H36M joint weights; set it "
                       f"to 0 for the {self.skeleton.name} layout")

  # ---------------------------------------------------------------- data
  def data_sources(self):
    d = self.config.dataset
    data_dir = d.data_dir or None
    if d.prepare_if_missing:
      builder = datasets.prepare(d.name, data_dir=data_dir,
                                 manual_dir=d.manual_dir or None)
    else:
      builder = datasets.get_builder(d.name, data_dir=data_dir)
    return (datasets.load(builder, d.train_split),
            datasets.load(builder, d.eval_split))

  def train_iterator(self, source, *, batch_size: int, seed: int):
    return pipeline.make_train_iterator(
        source, batch_size=batch_size, seed=seed, skeleton=self.skeleton,
        flip=self.config.flip_augment, keys=self.batch_keys,
        num_threads=self.config.dataset.num_threads)

  def eval_iterator(self, source, *, batch_size: int):
    return pipeline.make_eval_iterator(source, batch_size=batch_size,
                                       keys=self.batch_keys,
                                       num_threads=self.config.dataset.num_threads)

  # ---------------------------------------------------------------- model
  def build_model(self, rngs: nnx.Rngs) -> nnx.Module:
    kwargs = dict(self.config.model.kwargs)
    if "in_channels" in kwargs and kwargs["in_channels"] != self.in_channels:
      raise ValueError(
          f"model.kwargs.in_channels = {kwargs['in_channels']} disagrees with the "
          f"dataset settings, which feed {self.in_channels} channels "
          "(dataset.use_confidence / dataset.constant_confidence)")
    kwargs["in_channels"] = self.in_channels
    kwargs.setdefault("num_joints", self.skeleton.num_joints)
    kwargs.setdefault("dtype", self.config.compute_dtype)
    return models.create(self.config.model.name, rngs=rngs, **kwargs)

  def model_input(self, input_2d: jax.Array) -> jax.Array:
    """(B, T, J, 3) dataset input -> (B, T, J, in_channels) model input."""
    if self.config.dataset.constant_confidence:
      return jnp.concatenate([input_2d[..., :2], jnp.ones_like(input_2d[..., 2:3])], -1)
    return input_2d[..., :self.in_channels]

  def target(self, label_3d: jax.Array) -> jax.Array:
    if self.config.dataset.root_relative:
      root = self.skeleton.root
      return label_3d - label_3d[..., root:root + 1, :]
    return label_3d

  def loss(self, model, batch):
    pred = model(self.model_input(batch["input_2d"]), deterministic=False)
    target = self.target(batch["label_3d"])
    terms = {
        "mpjpe": lambda: losses.mpjpe(pred, target),
        "n_mpjpe": lambda: losses.n_mpjpe(pred, target),
        "velocity": lambda: losses.velocity(pred, target),
        "temporal_consistency": lambda: losses.temporal_consistency(
            pred, losses.H36M_DIFF_WEIGHTS),
        "reprojection_2d": lambda: losses.reprojection_2d(pred, batch["input_2d"],
                                                          self.skeleton.root),
    }
    metrics = {f"loss_{k}": fn() for k, fn in terms.items() if self._weights[k]}
    total = sum(self._weights[k] * metrics[f"loss_{k}"] for k in terms
                if self._weights[k])
    return total, metrics

  def predict(self, model, batch):
    fn: Callable[[jax.Array], jax.Array] = lambda x: model(x, deterministic=True)
    if self.config.flip_test:
      fn = evaluation.flip_test(fn, self.skeleton)
    return fn(self.model_input(batch["input_2d"]))

  # ---------------------------------------------------------------- evaluation
  def evaluate(self, predictions, examples):
    if self.config.dataset.protocol == "h36m":
      return evaluation.evaluate_h36m(predictions, examples, root=self.skeleton.root)
    return evaluation.evaluate_mpi_inf_3dhp(predictions, examples,
                                            root=self.skeleton.root)

  def format_results(self, results):
    if self.config.dataset.protocol == "h36m":
      return evaluation.format_h36m_table(results)
    return evaluation.format_mpi_inf_3dhp_table(results)


_TASKS = {"lifting_3d": Lifting3DTask}


def create(config: ml_collections.ConfigDict) -> Task:
  """The task named by ``config.task``."""
  if config.task not in _TASKS:
    raise ValueError(f"unknown task {config.task!r}; known: {', '.join(_TASKS)}")
  return _TASKS[config.task](config)
