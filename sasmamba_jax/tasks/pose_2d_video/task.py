"""Video 2D pose: a clip of T crops of one person -> heatmaps of the centre frame.

Examples are the top-down clips of the video datasets (``datasets/posetrack``,
``sub_jhmdb``, ``synthetic_video_pose``): a person box in a labelled frame and its
T = 2 delta + 1 frames. ``datasets/video_transforms`` crops the box out of every
frame (the same UDP warp for all T, with the training augmentations) and draws the
centre frame's heatmap targets. Two kinds of model train here:

* a video model (``video_pose2d``, GLSMamba) on a frozen ViTPose: the
  ``models.video_pose.VideoPoseModel`` of ``task.backbone`` and the head, with
  ``optimizer.freeze = ("^backbone/",)``; optionally trained on cached features
  (``task.cache_features``);
* a ViTPose (``pose2d``) on the centre frame alone: the per-frame baseline (its
  backbone frozen too, so that it and the video model stand on the same features)
  or the backbone's own training on single frames.

Loss: the heatmap MSE with target weights (HRNet / ViTPose). Evaluation: heatmaps
(flip test optional) decoded with UDP + DARK into image pixels, scored by the
streaming PoseTrack mAP (higher is better) or Sub-JHMDB PCK@0.2.
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Any, Callable, Mapping

from flax import nnx
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from sasmamba_jax import evaluation
from sasmamba_jax import models
from sasmamba_jax import skeletons
from sasmamba_jax.checkpoints import sources
from sasmamba_jax.codecs import HeatmapCodec
from sasmamba_jax.datasets.split import Split
from sasmamba_jax.models import config as models_config
from sasmamba_jax.models.video_pose import VideoPoseModel
from sasmamba_jax.tasks import base
from sasmamba_jax.tasks import topdown_2d
from sasmamba_jax.tasks.pose_2d_video import cache as cache_lib

#: the transformed features a training / evaluation batch carries
_TARGETS = ("heatmaps", "target_weight", "center", "scale")
#: the evaluator's per-example features, kept beside cached features
_METADATA = {"posetrack": ("image_id",), "sub_jhmdb": ("keypoints", "bbox")}


def load_backbone(backbone: ml_collections.ConfigDict, image_size: tuple[int, int],
                  *, rngs: nnx.Rngs | None = None) -> models.ViTPose:
  """The ViTPose of ``task.backbone`` for (H, W) crops: from its checkpoint, or new.

  Raises:
    FileNotFoundError: the checkpoint is missing (the message says where the
      official files are).
    ValueError: the file holds another architecture than ``backbone.name``.
  """
  name, path = backbone.name, backbone.checkpoint
  if not path:
    return models.create(name, image_size=image_size, dtype=backbone.dtype,
                         rngs=rngs or nnx.Rngs(0))
  try:
    source = sources.resolve(path)
  except FileNotFoundError:
    raise FileNotFoundError(
        f"task.backbone.checkpoint {path} not found. Official ViTPose weights "
        "(vitpose-b.pth, vitpose-h.pth: the 'classic decoder' COCO models) are linked "
        "from https://github.com/ViTAE-Transformer/ViTPose (README, results table); "
        "a model directory of ours comes from python -m experiments.export") from None
  if isinstance(source, sources.RunDirectory):
    raise ValueError(f"task.backbone.checkpoint {path} is a training run; export its "
                     f"model first: python -m experiments.export --checkpoint={path} "
                     "--output=DIR, then point task.backbone.checkpoint at DIR")
  if isinstance(source, sources.ModelDirectory):
    # Our own export: its config.json says what it is.
    model = sources.load_model(source, dtype=backbone.dtype)
    if not isinstance(model, models.ViTPose):
      raise ValueError(f"task.backbone.checkpoint {path} holds a "
                       f"{type(model).__name__}, not a ViTPose")
    return model
  model = sources.load_model(source, image_size=image_size, dtype=backbone.dtype)
  expected = models.get_config(name)
  got = model.config
  if (got.embed_dim, got.depth) != (expected.embed_dim, expected.depth):
    raise ValueError(f"task.backbone.checkpoint {path} holds a ViTPose of width "
                     f"{got.embed_dim} and depth {got.depth}; {name} has "
                     f"{expected.embed_dim} and {expected.depth}: set "
                     "task.backbone.name to the file's architecture")
  return model


class Pose2DVideoTask(base.Task):
  """Clips (B, T, H, W, 3) -> centre-frame heatmaps (B, H/4, W/4, K)."""

  name = "pose_2d_video"
  higher_is_better = True

  def __init__(self, config: ml_collections.ConfigDict):
    super().__init__(config)
    # The protocols are named after their datasets' joint layouts.
    self.skeleton = skeletons.get(config.protocol)
    self.image_size = topdown_2d.image_size(config)     # (H, W) for the models

  @property
  def primary_metric(self) -> str:
    return "Total" if self.config.protocol == "posetrack" else "Mean"

  @property
  def num_joints(self) -> int:
    return self.skeleton.num_joints

  @property
  def flip_permutation(self) -> np.ndarray:
    """The flip test mirrors the model's own channels: a COCO model's eyes are a
    left / right pair, PoseTrack's head points are not."""
    model_keypoints = self.config.model_keypoints == "coco"
    return (skeletons.COCO if model_keypoints else self.skeleton).flip_permutation

  def build_model(self, model_config: ml_collections.ConfigDict, *, rngs: nnx.Rngs,
                  dtype: str) -> nnx.Module:
    kwargs = models_config.options(model_config)
    if models.kind(model_config.name) == "pose2d":
      # The per-frame ViTPose: its backbone's checkpoint, whole, or a new one.
      if self.config.backbone.checkpoint:
        if kwargs:
          raise ValueError(f"model options {sorted(kwargs)} cannot change a ViTPose "
                           "loaded from task.backbone.checkpoint; clear one of them")
        model = load_backbone(self.config.backbone, self.image_size)
      else:
        kwargs.setdefault("image_size", self.image_size)
        kwargs.setdefault("num_keypoints", self.num_joints)
        kwargs.setdefault("dtype", dtype)
        model = models.create(model_config.name, rngs=rngs, **kwargs)
      model.train()
      return model
    backbone = load_backbone(self.config.backbone, self.image_size, rngs=rngs)
    kwargs.setdefault("in_channels", backbone.config.feature_channels)
    kwargs.setdefault("num_keypoints", self.num_joints)
    kwargs.setdefault("backbone", self.config.backbone.name)
    kwargs.setdefault("dtype", dtype)
    head = models.create(model_config.name, rngs=rngs, **kwargs)
    return VideoPoseModel(backbone, head)

  def bind(self, model: nnx.Module) -> Pose2DVideoBound:
    if isinstance(model, VideoPoseModel):
      vit, k, frames = model.backbone, model.head.config.num_keypoints, model.num_frames
    elif isinstance(model, models.ViTPose):
      vit, k, frames = model, model.config.num_keypoints, 1
    else:
      raise ValueError(f"task pose_2d_video trains a ViTPose or a VideoPoseModel "
                       f"(ViTPose + GLSMamba), not a {type(model).__name__}")
    if k != self.num_joints:
      raise ValueError(f"the model predicts {k} heatmaps but the "
                       f"{self.config.protocol} data has {self.num_joints} joints")
    # Also a clear error for an input_size off the patch grid.
    heatmap_h, heatmap_w = vit.config.heatmap_size(self.image_size)
    codec = HeatmapCodec.from_config(self.config.codec, self.config.input_size,
                                     (heatmap_w, heatmap_h))
    return Pose2DVideoBound(self, video=isinstance(model, VideoPoseModel),
                            frames=frames, codec=codec,
                            feature_channels=vit.config.feature_channels)

  def format_results(self, results):
    if self.config.protocol == "sub_jhmdb":
      return evaluation.format_sub_jhmdb_table(results)
    return evaluation.format_posetrack_table(results)


@dataclasses.dataclass(frozen=True)
class Pose2DVideoBound(base.BoundTask):
  """The video 2D pose task for one model.

  Attributes:
    video: a ``VideoPoseModel`` (clips in); False: a ViTPose on the centre frame.
    frames: the frames the model reads per example (1: the centre frame alone).
    codec: the crop and heatmap sizes, the targets and the decoding.
    feature_channels: the backbone's feature channels (cached features).
    cached: batches hold the backbone's cached ``features`` instead of crops
      (``prepare_data`` with ``task.cache_features``).
  """

  task: Pose2DVideoTask
  video: bool
  frames: int
  codec: HeatmapCodec
  feature_channels: int
  cached: bool = False

  # ---------------------------------------------------------------- data
  def batch_spec(self, batch_size: int) -> dict[str, jax.ShapeDtypeStruct]:
    h, w = self.task.image_size
    hw, hh = self.codec.heatmap_size
    k, f32 = self.task.num_joints, jnp.float32
    spec = {}
    if self.cached:
      spec[cache_lib.FEATURES] = jax.ShapeDtypeStruct(
          (batch_size, self.frames, hh, hw, self.feature_channels), f32)
    else:
      spec["images"] = jax.ShapeDtypeStruct((batch_size, self.frames, h, w, 3), f32)
    spec["heatmaps"] = jax.ShapeDtypeStruct((batch_size, hh, hw, k), f32)
    spec["target_weight"] = jax.ShapeDtypeStruct((batch_size, k), f32)
    spec["center"] = jax.ShapeDtypeStruct((batch_size, 2), f32)
    spec["scale"] = jax.ShapeDtypeStruct((batch_size, 2), f32)
    return spec

  def _transforms(self, split: Split, *, train: bool) -> list[Any]:
    if self.cached:   # the cache holds transformed examples
      return []
    # A ViTPose, or a video head built for T = 1 (the paper's per-frame ablation),
    # reads the centre frame of the dataset's clips.
    return [topdown_2d.crop_transform(self.task.config, self.codec,
                                      self.task.skeleton, split, train=train,
                                      centre_only=self.frames == 1)]

  def train_transforms(self, split: Split) -> list[Any]:
    return self._transforms(split, train=True)

  def eval_transforms(self, split: Split) -> list[Any]:
    return self._transforms(split, train=False)

  def prepare_data(self, model: nnx.Module, splits: Mapping[str, Split],
                   workdir: pathlib.Path, *, batch_size: int = 16,
                   num_threads: int = 2, num_workers: int = 0,
                   log: Callable[[str], None] | None = print
                   ) -> tuple[Pose2DVideoBound, dict[str, Split]]:
    """With ``task.cache_features`` and a video model, each split's feature cache
    (``cache.build``) and the binding that reads it; else the splits as given."""
    c = self.task.config
    if not (c.cache_features and self.video):
      return self, dict(splits)
    root = pathlib.Path(c.cache_dir) if c.cache_dir else workdir / "feature_cache"
    if jax.process_count() > 1:
      root = root / f"process_{jax.process_index()}"
    graphdef, state = nnx.split(model.backbone)
    frame_features = jax.jit(lambda s, x: nnx.merge(graphdef, s).features(x))

    def features_fn(images: np.ndarray) -> np.ndarray:
      b, t = images.shape[:2]
      out = frame_features(state, images.reshape(b * t, *images.shape[2:]))
      return np.asarray(out).reshape(b, t, *out.shape[1:])

    digest = cache_lib.params_digest(model.backbone)
    keys = _TARGETS + _METADATA[c.protocol]
    out = {}
    for name, split in splits.items():
      fingerprint = {
          "dataset": f"{split.dataset}/{split.version}", "split": split.split,
          "backbone": digest, "frames": self.frames,
          "input_size": list(c.input_size), "sigma": c.codec.sigma,
          "padding": c.padding, "sampler": c.sampler, "protocol": c.protocol}
      cache = cache_lib.build(
          root / name, split.examples, self.eval_transforms(split), features_fn,
          keys=keys, fingerprint=fingerprint, batch_size=batch_size,
          num_threads=num_threads, num_workers=num_workers, log=log)
      out[name] = split.with_examples(cache)   # its ground truth stays
    return dataclasses.replace(self, cached=True), out

  # ---------------------------------------------------------------- training
  def model_inputs(self, batch: Mapping[str, jax.Array]) -> tuple[jax.Array]:
    if self.cached:
      return (batch[cache_lib.FEATURES],)
    images = batch["images"]
    return (images if self.video else images[:, 0],)

  def _heatmaps(self, model: nnx.Module, batch: Mapping[str, jax.Array], *,
                deterministic: bool) -> jax.Array:
    (x,) = self.model_inputs(batch)
    if self.cached:
      return model.from_features(x)
    return model(x, deterministic=deterministic)

  def loss(self, model, batch):
    c = self.task.config
    if c.model_keypoints != "dataset":
      raise ValueError("task.model_keypoints = 'coco' evaluates a COCO ViTPose on "
                       "PoseTrack (python -m experiments.evaluate); training needs "
                       "the dataset's keypoints: set it to 'dataset'")
    pred = self._heatmaps(model, batch, deterministic=False)
    weight = batch["target_weight"] if c.use_target_weight else None
    mse = topdown_2d.heatmap_mse(pred, batch["heatmaps"], weight)
    return mse, {"loss_heatmap_mse": mse}

  # ---------------------------------------------------------------- evaluation
  def predict(self, model, batch):
    """(B, K, 3): x, y in the original image's pixels and the heatmap maximum."""
    c = self.task.config
    if c.flip_test and self.cached:
      # Features of a mirrored crop are not the mirrored features: flip the input.
      raise ValueError("task.flip_test needs the crops; it cannot run on cached "
                       "features (set task.flip_test = False with "
                       "task.cache_features)")
    key = cache_lib.FEATURES if self.cached else "images"
    heatmaps_of = lambda x: self._heatmaps(model, dict(batch, **{key: x}),
                                           deterministic=True)
    out = topdown_2d.keypoints(
        self.codec, heatmaps_of, batch[key], batch["center"], batch["scale"],
        flip_permutation=self.task.flip_permutation if c.flip_test else None)
    if c.model_keypoints == "coco":
      out = skeletons.coco_to_posetrack(out)
    return out

  def make_evaluator(self, split: Split | None = None) -> evaluation.Evaluator:
    if self.task.config.protocol == "sub_jhmdb":
      return evaluation.SubJHMDBEvaluator()
    if split is None or not split.ground_truth:
      where = f"split {split.split!r} of {split.dataset}" if split else "no split"
      raise ValueError(
          f"the PoseTrack evaluation needs the ground-truth files of the split "
          f"({where}), which the dataset's metadata does not name; evaluate a built "
          "posetrack* / synthetic_video_pose split")
    return evaluation.PoseTrackEvaluator(split.ground_truth)
