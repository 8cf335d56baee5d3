"""GLSMamba on PoseTrack2018: the paper's recipe (docs/reference.md, GLSMamba).

Run (arg: b or h, the ViTPose backbone), after preparing the data with the files you
bring (sasmamba_jax/datasets/README.md) and downloading the official COCO ViTPose
weights (https://github.com/ViTAE-Transformer/ViTPose, "classic decoder" models):
  python -m experiments.prepare_data --dataset=posetrack18/delta2_detections \\
      --manual_dir=ROOT
  python -m experiments.train --config=configs/posetrack18_glsmamba.py:b \\
      --workdir=runs/posetrack18_glsmamba_b \\
      --config.task.backbone.checkpoint=checkpoints/vitpose_base_coco_256x192.pth
  python -m experiments.evaluate --config=configs/posetrack18_glsmamba.py:b \\
      --checkpoint=runs/posetrack18_glsmamba_b     # + PoseTrack18 JSON predictions

Recipe: clips of T = 5 frames, 256 x 192 UDP crops of boxes enlarged 1.25x, scale /
rotation / flip / half-body augmentation; the ViTPose backbone frozen (no gradient,
no optimizer state), GLSMamba trained with AdamW lr 1e-4 (x0.1 at epochs 6 and 12,
weight decay 1e-4: our choice, the paper gives none), 20 epochs, batch 32; evaluated
on PoseWarper's detected person boxes with the flip test and UDP + DARK decoding.
Expected PoseTrack2018 val mAP (paper): 84.2 (ViT-B), 84.9 (ViT-H). Not reproduced
here: the dataset and a GPU were not available (README, model zoo).
"""

from sasmamba_jax.train.config import base_config

VARIANTS = {"b": ("glsmamba_b", "vitpose_b", "vitpose_base_coco_256x192.pth"),
            "h": ("glsmamba_h", "vitpose_h", "vitpose_huge_coco_256x192.pth")}
EXPECTED = {"b": 84.2, "h": 84.9}


def recipe(dataset: str, variant: str, config_file: str):
  """The GLSMamba recipe on ``dataset`` with backbone ``variant`` (b or h)."""
  if variant not in VARIANTS:
    raise ValueError(f"{config_file} takes one of {tuple(VARIANTS)} (the ViTPose "
                     f"backbone), got {variant!r}")
  model, backbone, weights = VARIANTS[variant]
  c = base_config("pose_2d_video")      # the frozen backbone and AdamW 1e-4 x0.1 @ 6, 12
  c.dataset.name = dataset
  c.model.name = model
  c.task.backbone.name = backbone
  c.task.backbone.checkpoint = f"checkpoints/{weights}"
  c.eval_every_epochs = 1
  c.log_every_steps = 100
  c.early_stop_patience = 0
  return c


def get_config(arg: str = "b"):
  return recipe("posetrack18/delta2_detections", arg, "configs/posetrack18_glsmamba.py")
