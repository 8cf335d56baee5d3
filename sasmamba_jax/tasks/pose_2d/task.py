"""2D pose on single images: a person crop -> heatmaps -> keypoints (ViTPose on COCO).

Examples are person boxes of a top-down dataset (``datasets/coco``: ground-truth or
detected boxes); the crop transform (``datasets.video_transforms`` on a clip of one
frame) cuts the box out with the UDP warp and the training augmentations, and the
heatmap codec (``task.codec``) draws the targets. Loss: the heatmap MSE with target
weights (ViTPose's ``JointsMSELoss``). Evaluation: heatmaps (flip test optional)
decoded with UDP + DARK into image pixels, scored by COCO keypoint AP
(``evaluation.COCOKeypointEvaluator``: rescoring, OKS-NMS, pycocotools); higher is
better. ``task.init_checkpoint`` starts training from official ViTPose weights or a
model directory of ours.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from flax import nnx
import jax
import jax.numpy as jnp
import ml_collections

from sasmamba_jax import evaluation
from sasmamba_jax import models
from sasmamba_jax import skeletons
from sasmamba_jax.checkpoints import sources
from sasmamba_jax.codecs import HeatmapCodec
from sasmamba_jax.datasets.split import Split
from sasmamba_jax.models import config as models_config
from sasmamba_jax.tasks import base
from sasmamba_jax.tasks import topdown_2d


class Pose2DTask(base.Task):
  """Crops (B, H, W, 3) of people -> heatmaps (B, H/4, W/4, 17) -> COCO keypoints."""

  name = "pose_2d"
  higher_is_better = True
  skeleton = skeletons.COCO

  def __init__(self, config: ml_collections.ConfigDict):
    super().__init__(config)
    self.image_size = topdown_2d.image_size(config)     # (H, W) for the models

  @property
  def primary_metric(self) -> str:
    return "AP"

  def build_model(self, model_config: ml_collections.ConfigDict, *, rngs: nnx.Rngs,
                  dtype: str) -> nnx.Module:
    options = models_config.options(model_config)
    path = self.config.init_checkpoint
    if not path:
      options.setdefault("image_size", self.image_size)
      options.setdefault("num_keypoints", self.skeleton.num_joints)
      options.setdefault("dtype", dtype)
      return models.create(model_config.name, rngs=rngs, **options)
    source = sources.resolve(path)
    if isinstance(source, sources.OfficialCheckpoint):
      # What the tensors do not say: the crop the run trains at; model options.
      options.setdefault("image_size", self.image_size)
    options.setdefault("dtype", dtype)
    model = sources.load_model(source, **options)
    if not isinstance(model, models.ViTPose):
      raise ValueError(f"task.init_checkpoint {path} holds a {type(model).__name__}, "
                       "not a ViTPose")
    expected = models.get_config(model_config.name)
    if (model.config.embed_dim, model.config.depth) != (expected.embed_dim,
                                                          expected.depth):
      raise ValueError(f"task.init_checkpoint {path} holds a ViTPose of width "
                       f"{model.config.embed_dim} and depth {model.config.depth}; "
                       f"{model_config.name} has {expected.embed_dim} and "
                       f"{expected.depth}: set model.name to the file's architecture")
    model.train()
    return model

  def bind(self, model: nnx.Module) -> Pose2DBound:
    if not isinstance(model, models.ViTPose):
      raise ValueError(f"task pose_2d trains a ViTPose, not a {type(model).__name__}")
    k = model.config.num_keypoints
    if k != self.skeleton.num_joints:
      raise ValueError(f"the model predicts {k} heatmaps; COCO has "
                       f"{self.skeleton.num_joints} keypoints")
    heatmap_h, heatmap_w = model.config.heatmap_size(self.image_size)
    codec = HeatmapCodec.from_config(self.config.codec, self.config.input_size,
                                     (heatmap_w, heatmap_h))
    return Pose2DBound(self, codec=codec)

  def format_results(self, results):
    return evaluation.format_coco_table(results)


@dataclasses.dataclass(frozen=True)
class Pose2DBound(base.BoundTask):
  """The 2D pose task for one ViTPose (``codec``: crop and heatmap sizes)."""

  task: Pose2DTask
  codec: HeatmapCodec

  def batch_spec(self, batch_size: int) -> dict[str, jax.ShapeDtypeStruct]:
    h, w = self.task.image_size
    hw, hh = self.codec.heatmap_size
    k, f32 = self.task.skeleton.num_joints, jnp.float32
    return {   # images: a clip of one frame, as the crop transform gives it
        "images": jax.ShapeDtypeStruct((batch_size, 1, h, w, 3), f32),
        "heatmaps": jax.ShapeDtypeStruct((batch_size, hh, hw, k), f32),
        "target_weight": jax.ShapeDtypeStruct((batch_size, k), f32),
        "center": jax.ShapeDtypeStruct((batch_size, 2), f32),
        "scale": jax.ShapeDtypeStruct((batch_size, 2), f32)}

  def train_transforms(self, split: Split) -> list[Any]:
    return [topdown_2d.crop_transform(self.task.config, self.codec,
                                      self.task.skeleton, split, train=True,
                                      centre_only=True)]

  def eval_transforms(self, split: Split) -> list[Any]:
    return [topdown_2d.crop_transform(self.task.config, self.codec,
                                      self.task.skeleton, split, train=False,
                                      centre_only=True)]

  def model_inputs(self, batch: Mapping[str, jax.Array]) -> tuple[jax.Array]:
    return (batch["images"][:, 0],)

  def loss(self, model, batch):
    pred = model(*self.model_inputs(batch), deterministic=False)
    weight = batch["target_weight"] if self.task.config.use_target_weight else None
    mse = topdown_2d.heatmap_mse(pred, batch["heatmaps"], weight)
    return mse, {"loss_heatmap_mse": mse}

  def predict(self, model, batch):
    """(B, 17, 3): x, y in the original image's pixels and the heatmap maximum."""
    c = self.task.config
    return topdown_2d.keypoints(
        self.codec, lambda images: model(images[:, 0], deterministic=True),
        batch["images"], batch["center"], batch["scale"],
        flip_permutation=self.task.skeleton.flip_permutation if c.flip_test else None)

  def make_evaluator(self, split: Split | None = None) -> evaluation.Evaluator:
    if split is None or not split.ground_truth:
      raise ValueError("COCO keypoint AP needs the split's annotation file, which "
                       "its dataset's metadata names (build coco/gt or "
                       "coco/detections)")
    # A slice of the split scores the images it holds (all of them otherwise:
    # people without a box count as missed).
    image_ids = (sorted({int(e["image_id"]) for e in split.examples})
                 if split.split != split.base_split else None)
    c = self.task.config
    return evaluation.COCOKeypointEvaluator(
        split.ground_truth, vis_thr=c.vis_thr, oks_thr=c.oks_thr, use_nms=c.use_nms,
        image_ids=image_ids)
