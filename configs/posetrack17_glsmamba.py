"""GLSMamba on PoseTrack2017: the recipe of ``posetrack18_glsmamba.py`` (same run
commands with ``posetrack17``).

  python -m experiments.train --config=configs/posetrack17_glsmamba.py:b \\
      --workdir=runs/posetrack17_glsmamba_b \\
      --config.task.backbone.checkpoint=checkpoints/vitpose_base_coco_256x192.pth

Expected PoseTrack2017 val mAP (paper): 86.9 (ViT-B), 88.0 (ViT-H). Not reproduced here.
"""

from configs.posetrack18_glsmamba import recipe

EXPECTED = {"b": 86.9, "h": 88.0}


def get_config(arg: str = "b"):
  return recipe("posetrack17/delta2_detections", arg, "configs/posetrack17_glsmamba.py")
