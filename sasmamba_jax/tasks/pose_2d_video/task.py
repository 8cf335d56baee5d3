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

import pathlib
from typing import Any, Mapping

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
from sasmamba_jax.datasets import video_transforms
from sasmamba_jax.models import config as models_config
from sasmamba_jax.models.video_pose import VideoPoseModel
from sasmamba_jax.tasks.pose_2d_video import cache as cache_lib
from sasmamba_jax.tasks.pose_2d_video import config as task_config
from sasmamba_jax.tasks.pose_2d_video import losses

#: the transformed features a training / evaluation batch carries
_TARGETS = ("heatmaps", "target_weight", "center", "scale")


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


class Pose2DVideoTask:
  """Clips (B, T, H, W, 3) -> centre-frame heatmaps (B, H/4, W/4, K)."""

  name = "pose_2d_video"
  higher_is_better = True

  def __init__(self, config: ml_collections.ConfigDict):
    self.config = config
    # The protocols are named after their datasets' joint layouts.
    self.skeleton = skeletons.get(config.protocol)
    self.num_joints = self.skeleton.num_joints
    # The flip test mirrors the model's own channels: a COCO model's eyes are a
    # left / right pair, PoseTrack's head points are not.
    self.flip_permutation = (skeletons.COCO if config.model_keypoints == "coco"
                             else self.skeleton).flip_permutation
    self.primary_metric = "Total" if config.protocol == "posetrack" else "Mean"
    width, height = config.input_size
    self.image_size = (int(height), int(width))     # (H, W) for the models
    self.cached = False   # set by prepare_sources when training on cached features
    self._model_kind: str | None = None   # "pose2d" or "video", from the model
    self._frames: int | None = None   # frames the model reads per example
    self._heatmap_size: tuple[int, int] | None = None

  # ---------------------------------------------------------------- model
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
      self._remember(model)
      return model
    backbone = load_backbone(self.config.backbone, self.image_size, rngs=rngs)
    kwargs.setdefault("in_channels", backbone.config.feature_channels)
    kwargs.setdefault("num_keypoints", self.num_joints)
    kwargs.setdefault("backbone", self.config.backbone.name)
    kwargs.setdefault("dtype", dtype)
    head = models.create(model_config.name, rngs=rngs, **kwargs)
    model = VideoPoseModel(backbone, head)
    self._remember(model)
    return model

  def _remember(self, model: nnx.Module) -> None:
    """What the data pipeline needs to know of the model: frames, heatmap size."""
    vit = model.backbone if isinstance(model, VideoPoseModel) else model
    self._model_kind = "video" if isinstance(model, VideoPoseModel) else "pose2d"
    self._frames = model.num_frames if isinstance(model, VideoPoseModel) else 1
    self._heatmap_size = vit.config.heatmap_size(self.image_size)   # (h, w)

  def check_model(self, model: nnx.Module) -> None:
    if isinstance(model, VideoPoseModel):
      k = model.head.config.num_keypoints
    elif isinstance(model, models.ViTPose):
      k = model.config.num_keypoints
    else:
      raise ValueError(f"task pose_2d_video trains a ViTPose or a VideoPoseModel "
                       f"(ViTPose + GLSMamba), not a {type(model).__name__}")
    if k != self.num_joints:
      raise ValueError(f"the model predicts {k} heatmaps but the "
                       f"{self.config.protocol} data has {self.num_joints} joints")
    self._remember(model)   # Also a clear error for an input_size off the patch grid.

  # ---------------------------------------------------------------- data
  def batch_spec(self, model: nnx.Module, batch_size: int
                 ) -> dict[str, jax.ShapeDtypeStruct]:
    h, w = self.image_size
    vit = model.backbone if isinstance(model, VideoPoseModel) else model
    hh, hw = vit.config.heatmap_size(self.image_size)
    f32 = jnp.float32
    spec = {}
    if isinstance(model, VideoPoseModel):
      t = model.num_frames
      if self.cached:
        c = vit.config.feature_channels
        spec[cache_lib.FEATURES] = jax.ShapeDtypeStruct((batch_size, t, hh, hw, c), f32)
      else:
        spec["images"] = jax.ShapeDtypeStruct((batch_size, t, h, w, 3), f32)
    else:
      spec["images"] = jax.ShapeDtypeStruct((batch_size, 1, h, w, 3), f32)
    spec["heatmaps"] = jax.ShapeDtypeStruct((batch_size, hh, hw, self.num_joints), f32)
    spec["target_weight"] = jax.ShapeDtypeStruct((batch_size, self.num_joints), f32)
    spec["center"] = jax.ShapeDtypeStruct((batch_size, 2), f32)
    spec["scale"] = jax.ShapeDtypeStruct((batch_size, 2), f32)
    return spec

  def _clip_transform(self, source: Any, *, train: bool, centre_only: bool):
    c = self.config
    info = getattr(source, "dataset_info", None)
    image_root = info.metadata.get("image_root") if info is not None else None
    kwargs = dict(codec=self._codec(), padding=c.padding,
                  image_root=image_root, sampler=c.sampler,
                  skeleton=self.skeleton,
                  centre_only=centre_only)
    if not train:
      return video_transforms.TopDownClip(**kwargs)
    return video_transforms.RandomTopDownClip(
        scale_factor=c.scale_factor, rotation_factor=c.rotation_factor,
        rotation_prob=c.rotation_prob, flip_prob=c.flip_prob,
        half_body_prob=c.half_body_prob, **kwargs)

  def _codec(self) -> HeatmapCodec:
    """The heatmap codec of ``task.codec`` for the model's heatmaps."""
    if self._heatmap_size is None:
      raise RuntimeError("build_model or check_model must see the model before the "
                         "data pipeline is made (its heatmap size)")
    return HeatmapCodec.from_config(self.config.codec, self.config.input_size,
                                    self._heatmap_size[::-1])

  def train_transforms(self, source: Any) -> list[Any]:
    if self.cached or isinstance(source, cache_lib.FeatureCache):
      return []
    return [self._clip_transform(source, train=self.config.augment,
                                 centre_only=self._centre_only)]

  def eval_transforms(self, source: Any) -> list[Any]:
    if self.cached or isinstance(source, cache_lib.FeatureCache):
      return []
    return [self._clip_transform(source, train=False, centre_only=self._centre_only)]

  @property
  def _per_frame(self) -> bool:
    return self._model_kind == "pose2d"

  @property
  def _centre_only(self) -> bool:
    # A ViTPose, or a video head built for T = 1 (the paper's per-frame ablation),
    # reads the centre frame of the dataset's clips.
    return self._frames == 1

  def prepare_sources(self, model: nnx.Module, sources: Mapping[str, Any],
                      workdir: pathlib.Path, *, batch_size: int = 16,
                      num_threads: int = 2, num_workers: int = 0,
                      log=print) -> dict[str, Any]:
    """The trainer's sources for ``model``: with ``task.cache_features`` and a video
    model, each split's feature cache (``cache.build``), else ``sources`` as given.
    """
    self.check_model(model)
    if not (self.config.cache_features and isinstance(model, VideoPoseModel)):
      return dict(sources)
    c = self.config
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
    for split, source in sources.items():
      info = getattr(source, "dataset_info", None)
      fingerprint = {
          "dataset": info.full_name if info is not None else type(source).__name__,
          "split": str(getattr(source, "split", split)), "backbone": digest,
          "frames": model.num_frames, "input_size": list(c.input_size),
          "sigma": c.codec.sigma, "padding": c.padding, "sampler": c.sampler,
          "protocol": c.protocol}
      out[split] = cache_lib.build(
          root / split, source, self.eval_transforms(source), features_fn, keys=keys,
          fingerprint=fingerprint, batch_size=batch_size, num_threads=num_threads,
          num_workers=num_workers, log=log)
      # The cache keeps pointing at its split's PoseTrack ground truth.
      out[split].ground_truth = _annotations(source, strict=False)
    self.cached = True
    return out

  # ---------------------------------------------------------------- training
  def model_inputs(self, batch: Mapping[str, jax.Array]) -> tuple[jax.Array]:
    if cache_lib.FEATURES in batch:
      return (batch[cache_lib.FEATURES],)
    images = batch["images"]
    return (images[:, 0] if self._per_frame else images,)

  def _heatmaps(self, model: nnx.Module, batch: Mapping[str, jax.Array], *,
                deterministic: bool) -> jax.Array:
    (x,) = self.model_inputs(batch)
    if cache_lib.FEATURES in batch:
      return model.from_features(x)
    return model(x, deterministic=deterministic)

  def loss(self, model, batch):
    if self.config.model_keypoints != "dataset":
      raise ValueError("task.model_keypoints = 'coco' evaluates a COCO ViTPose on "
                       "PoseTrack (python -m experiments.evaluate); training needs "
                       "the dataset's keypoints: set it to 'dataset'")
    pred = self._heatmaps(model, batch, deterministic=False)
    weight = batch["target_weight"] if self.config.use_target_weight else None
    mse = losses.heatmap_mse(pred, batch["heatmaps"], weight)
    return mse, {"loss_heatmap_mse": mse}

  # ---------------------------------------------------------------- evaluation
  def predict(self, model, batch):
    """(B, K, 3): x, y in the original image's pixels and the heatmap maximum."""
    if self.config.flip_test and cache_lib.FEATURES in batch:
      # Features of a mirrored crop are not the mirrored features: flip the input.
      raise ValueError("task.flip_test needs the crops; it cannot run on cached "
                       "features (set task.flip_test = False with "
                       "task.cache_features)")
    codec = self._codec()
    if self.config.flip_test:

      def apply_fn(images):
        return self._heatmaps(model, dict(batch, images=images), deterministic=True)

      heatmaps = codec.flip_test(apply_fn, batch["images"], self.flip_permutation)
    else:
      heatmaps = self._heatmaps(model, batch, deterministic=True)
    keypoints, scores = codec.decode(heatmaps, batch["center"], batch["scale"])
    out = jnp.concatenate([keypoints, scores[..., None]], axis=-1)
    if self.config.model_keypoints == "coco":
      out = skeletons.coco_to_posetrack(out)
    return out

  def make_evaluator(self, source: Any = None) -> evaluation.Evaluator:
    if self.config.protocol == "sub_jhmdb":
      return evaluation.SubJHMDBEvaluator()
    truth = getattr(source, "ground_truth", None) or _annotations(source)
    return evaluation.PoseTrackEvaluator(truth)

  def format_results(self, results):
    if self.config.protocol == "sub_jhmdb":
      return evaluation.format_sub_jhmdb_table(results)
    return evaluation.format_posetrack_table(results)


#: the evaluator's per-example features, kept beside cached features
_METADATA = {"posetrack": ("image_id",), "sub_jhmdb": ("keypoints", "bbox")}


def _annotations(source: Any, *, strict: bool = True) -> str | None:
  """The PoseTrack ground-truth folder of a built split (its dataset metadata)."""
  info = getattr(source, "dataset_info", None)
  folders = (info.metadata.get("annotations") if info is not None else None) or {}
  split = str(getattr(source, "split", ""))
  name = split.split("[")[0]
  if name not in folders:
    if not strict:
      return None
    raise ValueError(
        f"the PoseTrack evaluation needs the ground-truth files of split {split!r}, "
        "which the dataset's metadata does not name (annotations: "
        f"{sorted(folders)}); evaluate a built posetrack* / synthetic_video_pose "
        "split")
  return folders[name]
