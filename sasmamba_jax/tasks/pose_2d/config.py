"""The ``task`` config section of single-frame 2D pose: crops, targets, protocol."""

from __future__ import annotations

import ml_collections

from sasmamba_jax import models
from sasmamba_jax.tasks import topdown_2d

PROTOCOLS = ("coco",)


def default_config() -> ml_collections.ConfigDict:
  """Defaults: ViTPose's COCO recipe (the official ``ViTPose_base_coco_256x192.py``)."""
  c = ml_collections.ConfigDict()
  c.name = "pose_2d"
  c.protocol = "coco"             # evaluation: COCO keypoint AP (pycocotools)
  # Crops, codec, augmentation, flip test (the same keys as pose_2d_video), with
  # ViTPose's random scale and rotation.
  topdown_2d.add_defaults(c)
  c.scale_factor = 0.5
  c.rotation_factor = 40.0
  # The weights training starts from: an official ViTPose .pth, a Hugging Face
  # safetensors folder or a model directory of ours ("" = a new model).
  c.init_checkpoint = ""
  # COCO AP's rescoring and OKS-NMS (evaluation.COCOKeypointEvaluator).
  c.vis_thr = 0.2
  c.oks_thr = 0.9
  c.use_nms = True
  return c


def validate(cfg: ml_collections.ConfigDict) -> list[str]:
  """Problems with a 2D pose ``task`` section, as "key = value: problem" strings."""
  errors = topdown_2d.validate(cfg)
  if cfg.protocol not in PROTOCOLS:
    errors.append(f"task.protocol = {cfg.protocol!r}: must be one of {PROTOCOLS}")
  for key in ("vis_thr", "oks_thr"):
    if not 0 <= cfg[key] <= 1:
      errors.append(f"task.{key} = {cfg[key]!r}: must be in [0, 1]")
  return errors


def base_overrides(c: ml_collections.ConfigDict) -> None:
  """The trainer defaults of this family: ViTPose-B's COCO recipe.

  AdamW lr 5e-4, weight decay 0.1, layer-wise lr decay 0.75, x0.1 at epochs 170 and
  200, 210 epochs; no weight decay on biases, position table and norms; batch 512
  (the official configs' 64 per GPU on 8 GPUs).
  """
  o = c.optimizer
  o.learning_rate = 5e-4
  o.weight_decay = 0.1
  o.layer_decay = 0.75
  o.schedule = "step"
  o.step_epochs = (170, 200)
  o.step_factor = 0.1
  o.no_weight_decay = ("bias", "pos_embed", "norm")
  c.num_epochs = 210
  c.batch_size = 512
  c.eval_batch_size = 64
  c.dataset.train_split = "train"
  c.dataset.eval_split = "val"


def validate_run(cfg: ml_collections.ConfigDict) -> list[str]:
  """Problems across sections: the model must be an image model."""
  if models.kind(cfg.model.name) != "pose2d":
    return [f"model.name = {cfg.model.name!r}: task pose_2d trains an image model: "
            + ", ".join(models.names("pose2d"))]
  return []
