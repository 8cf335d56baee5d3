"""The ``task`` config section of video 2D pose: crops, targets, backbone, protocol."""

from __future__ import annotations

from typing import Any

import ml_collections

from sasmamba_jax import models
from sasmamba_jax.nn.dtypes import COMPUTE_DTYPES
from sasmamba_jax.tasks import topdown_2d

#: the evaluation protocols, named after their datasets' ``skeletons`` layouts
PROTOCOLS = ("posetrack", "sub_jhmdb")
MODEL_KEYPOINTS = ("dataset", "coco")
#: the parameters a video model never trains (``optimizer.freeze``): its ViTPose
FROZEN_BACKBONE = "^backbone/"


def default_config() -> ml_collections.ConfigDict:
  """Defaults: GLSMamba's PoseTrack recipe (docs/reference.md, GLSMamba)."""
  c = ml_collections.ConfigDict()
  c.name = "pose_2d_video"
  c.protocol = "posetrack"        # evaluation: posetrack (mAP) | sub_jhmdb (PCK@0.2)
  # Crops, codec, augmentation, flip test (the same keys as pose_2d).
  topdown_2d.add_defaults(c)
  # The model's keypoint order: "dataset" (the protocol's own, as every model we
  # train), or "coco" for an official COCO ViTPose evaluated as the per-frame
  # baseline on PoseTrack: COCO's flip pairs, then its eyes turned into PoseTrack's
  # head_bottom / head_top (skeletons.coco_to_posetrack). Evaluation only.
  c.model_keypoints = "dataset"
  # The ViTPose a video model takes its features from (frozen), or that a ViTPose
  # model (the per-frame baseline) starts from.
  c.backbone = ml_collections.ConfigDict()
  c.backbone.name = "vitpose_b"   # registry name (its architecture)
  c.backbone.checkpoint = ""      # official .pth / safetensors folder / model dir
  c.backbone.dtype = "float32"    # "bfloat16" runs the frozen backbone in bf16
  # Run the frozen backbone once per crop and train the head on the stored
  # features (no augmentation; tasks/README.md says when it pays off).
  c.cache_features = False
  c.cache_dir = ""                # "" = WORKDIR/feature_cache
  return c


def validate(cfg: ml_collections.ConfigDict) -> list[str]:
  """Problems with a video-pose ``task`` section, as "key = value: problem" strings."""
  errors = []

  def check(key, ok, what):
    if not ok:
      value = cfg
      for part in key.split("."):
        value = value[part]
      errors.append(f"task.{key} = {value!r}: {what}")

  check("protocol", cfg.protocol in PROTOCOLS, f"must be one of {PROTOCOLS}")
  errors += topdown_2d.validate(cfg)
  check("model_keypoints", cfg.model_keypoints in MODEL_KEYPOINTS,
        f"must be one of {MODEL_KEYPOINTS}")
  check("model_keypoints", cfg.model_keypoints == "dataset"
        or cfg.protocol == "posetrack",
        "COCO keypoints map onto PoseTrack's slots only; use 'dataset' with "
        f"protocol {cfg.protocol!r}")
  check("backbone.name", cfg.backbone.name in models.names("pose2d"),
        f"must be a ViTPose: {', '.join(models.names('pose2d'))}")
  check("backbone.dtype", cfg.backbone.dtype in COMPUTE_DTYPES,
        f"must be one of {COMPUTE_DTYPES}")
  return errors


def upgrade(saved: dict[str, Any]) -> dict[str, Any]:
  """A saved run's ``task`` section in today's layout: ``task.sigma`` and
  ``task.dark_kernel`` of runs saved before the heatmap codec moved into
  ``task.codec`` (values kept)."""
  task = dict(saved)
  codec = dict(task.get("codec") or {})
  for key in ("sigma", "dark_kernel"):
    if key in task:
      codec.setdefault(key, task.pop(key))
  if codec:
    task["codec"] = codec
  return task


def base_overrides(c: ml_collections.ConfigDict) -> None:
  """The trainer defaults of this family: the frozen backbone, the paper's recipe.

  GLSMamba (the paper): AdamW 1e-4, x0.1 at epochs 6 and 12, 20 epochs.
  """
  c.optimizer.freeze = (FROZEN_BACKBONE,)
  c.optimizer.learning_rate = 1e-4
  c.optimizer.schedule = "step"
  c.optimizer.step_epochs = (6, 12)
  c.optimizer.step_factor = 0.1
  c.optimizer.weight_decay = 1e-4
  c.num_epochs = 20
  c.batch_size = 32
  c.eval_batch_size = 32
  c.dataset.train_split = "train"
  c.dataset.eval_split = "val"


def validate_run(cfg: ml_collections.ConfigDict) -> list[str]:
  """Problems across sections: the model kind, the frozen backbone, caching."""
  errors = []
  kind = models.kind(cfg.model.name)
  if kind not in ("pose2d", "video_pose2d"):
    errors.append(f"model.name = {cfg.model.name!r}: task pose_2d_video trains a "
                  "ViTPose (per frame) or a video model: "
                  + ", ".join(models.names("pose2d") + models.names("video_pose2d")))
    return errors
  if kind == "pose2d" and cfg.model.name != cfg.task.backbone.name:
    errors.append(f"task.backbone.name = {cfg.task.backbone.name!r}: a ViTPose model "
                  f"is its own backbone; set it to model.name ({cfg.model.name!r})")
  if kind == "video_pose2d" and FROZEN_BACKBONE not in cfg.optimizer.freeze:
    errors.append(f"optimizer.freeze = {tuple(cfg.optimizer.freeze)!r}: a video "
                  f"model's ViTPose is frozen; include {FROZEN_BACKBONE!r}")
  if cfg.task.cache_features and FROZEN_BACKBONE not in cfg.optimizer.freeze:
    errors.append("task.cache_features = True: features can only be cached from a "
                  f"frozen backbone; add {FROZEN_BACKBONE!r} to optimizer.freeze")
  if cfg.task.cache_features and cfg.task.flip_test:
    errors.append("task.flip_test = True: the flip test needs the crops (a mirrored "
                  "crop's features are not the mirrored features); set it to False "
                  "with task.cache_features")
  if cfg.task.model_keypoints == "coco" and kind != "pose2d":
    errors.append("task.model_keypoints = 'coco': only a ViTPose (the per-frame "
                  f"baseline) predicts COCO keypoints, not {cfg.model.name!r}; "
                  "set it to 'dataset'")
  if cfg.task.cache_features and kind != "video_pose2d":
    errors.append("task.cache_features = True: caching stores the ViTPose features "
                  "a video model takes; a ViTPose model reads the crops")
  return errors
