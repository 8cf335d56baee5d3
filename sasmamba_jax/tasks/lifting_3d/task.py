"""The 3D lifting task: 2D keypoint clips -> root-relative 3D pose clips.

Inputs are the normalised screen coordinates of the MotionBERT lineage (``input_2d``
(B, T, J, 3): x, y, confidence), targets the normalised 2.5D poses (``label_3d``
(B, T, J, 3)); evaluation is the Human3.6M or MPI-INF-3DHP protocol (lower is
better), streamed batch by batch.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

from flax import nnx
import jax
import jax.numpy as jnp
import ml_collections

from sasmamba_jax import evaluation
from sasmamba_jax import models
from sasmamba_jax import skeletons
from sasmamba_jax.datasets import pose_transforms
from sasmamba_jax.datasets.split import Split
from sasmamba_jax.models import config as models_config
from sasmamba_jax.tasks import base
from sasmamba_jax.tasks.lifting_3d import losses


class Lifting3DTask(base.Task):
  """2D keypoint clips (B, T, J, 3) -> 3D poses (B, T, J, 3), H36M-style features."""

  name = "lifting_3d"
  higher_is_better = False

  def __init__(self, config: ml_collections.ConfigDict):
    super().__init__(config)
    self.skeleton = skeletons.get(config.skeleton)
    self.in_channels = 3 if (config.use_confidence
                             or config.constant_confidence) else 2
    if config.loss.temporal_consistency and self.skeleton.name != "h36m":
      raise ValueError("task.loss.temporal_consistency uses the H36M joint weights; "
                       f"set it to 0 for the {self.skeleton.name} layout")

  @property
  def primary_metric(self) -> str:
    return "p1_mm" if self.config.protocol == "h36m" else "mpjpe_mm"

  def build_model(self, model_config: ml_collections.ConfigDict, *, rngs: nnx.Rngs,
                  dtype: str) -> nnx.Module:
    kwargs = models_config.options(model_config)
    if "in_channels" in kwargs and kwargs["in_channels"] != self.in_channels:
      raise ValueError(
          f"model.in_channels = {kwargs['in_channels']} disagrees with the "
          f"task settings, which feed {self.in_channels} channels "
          "(task.use_confidence / task.constant_confidence)")
    kwargs["in_channels"] = self.in_channels
    kwargs.setdefault("num_joints", self.skeleton.num_joints)
    kwargs.setdefault("dtype", dtype)
    return models.create(model_config.name, rngs=rngs, **kwargs)

  def bind(self, model: nnx.Module) -> Lifting3DBound:
    cfg = model.config
    expected = (self.in_channels, self.skeleton.num_joints)
    if (cfg.in_channels, cfg.num_joints) != expected:
      raise ValueError(
          f"the model takes {cfg.in_channels} input channels and {cfg.num_joints} "
          f"joints, but the task feeds {expected[0]} channels and {expected[1]} "
          "joints; use the config the checkpoint was trained with")
    return Lifting3DBound(self, frames=getattr(cfg, "num_frames", None) or 1)

  def format_results(self, results):
    if self.config.protocol == "h36m":
      return evaluation.format_h36m_table(results)
    return evaluation.format_mpi_inf_3dhp_table(results)


@dataclasses.dataclass(frozen=True)
class Lifting3DBound(base.BoundTask):
  """The lifting task for a model that reads clips of ``frames`` frames."""

  task: Lifting3DTask
  frames: int

  # ---------------------------------------------------------------- data
  def batch_spec(self, batch_size: int) -> dict[str, jax.ShapeDtypeStruct]:
    clip = jax.ShapeDtypeStruct(
        (batch_size, self.frames, self.task.skeleton.num_joints, 3), jnp.float32)
    return {"input_2d": clip, "label_3d": clip}

  def train_transforms(self, split: Split) -> list[Any]:
    if not self.task.config.flip_augment:
      return []
    return [pose_transforms.RandomFlip(self.task.skeleton)]

  def eval_transforms(self, split: Split) -> list[Any]:
    return []

  # ---------------------------------------------------------------- model
  def model_inputs(self, batch: Mapping[str, jax.Array]) -> tuple[jax.Array]:
    """(B, T, J, 3) ``input_2d`` -> the model's (B, T, J, in_channels) input."""
    input_2d = batch["input_2d"]
    if self.task.config.constant_confidence:
      return (jnp.concatenate([input_2d[..., :2], jnp.ones_like(input_2d[..., 2:3])],
                              -1),)
    return (input_2d[..., :self.task.in_channels],)

  def target(self, label_3d: jax.Array) -> jax.Array:
    if self.task.config.root_relative:
      root = self.task.skeleton.root
      return label_3d - label_3d[..., root:root + 1, :]
    return label_3d

  def loss(self, model, batch):
    pred = model(*self.model_inputs(batch), deterministic=False)
    target = self.target(batch["label_3d"])
    weights = {k: float(self.task.config.loss[k]) for k in losses.TERMS}
    terms = {
        "mpjpe": lambda: losses.mpjpe(pred, target),
        "n_mpjpe": lambda: losses.n_mpjpe(pred, target),
        "velocity": lambda: losses.velocity(pred, target),
        "temporal_consistency": lambda: losses.temporal_consistency(
            pred, losses.H36M_DIFF_WEIGHTS),
        "reprojection_2d": lambda: losses.reprojection_2d(
            pred, batch["input_2d"], self.task.skeleton.root),
    }
    metrics = {f"loss_{k}": fn() for k, fn in terms.items() if weights[k]}
    total = sum(weights[k] * metrics[f"loss_{k}"] for k in terms if weights[k])
    return total, metrics

  def predict(self, model, batch):
    fn: Callable[[jax.Array], jax.Array] = lambda x: model(x, deterministic=True)
    if self.task.config.flip_test:
      fn = evaluation.flip_test(fn, self.task.skeleton)
    return fn(*self.model_inputs(batch))

  # ---------------------------------------------------------------- evaluation
  def make_evaluator(self, split: Split | None = None) -> evaluation.Evaluator:
    del split  # The protocol needs only the batches.
    root = self.task.skeleton.root
    if self.task.config.protocol == "h36m":
      return evaluation.H36MEvaluator(root=root)
    return evaluation.MPIInf3DHPEvaluator(root=root)
