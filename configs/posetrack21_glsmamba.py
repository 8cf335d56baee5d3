"""GLSMamba on PoseTrack21: the recipe of ``posetrack18_glsmamba.py`` on PoseTrack21's
ground-truth boxes (no public detection file for it is used by the paper's lineage).

  python -m experiments.train --config=configs/posetrack21_glsmamba.py:b \\
      --workdir=runs/posetrack21_glsmamba_b \\
      --config.task.backbone.checkpoint=checkpoints/vitpose_base_coco_256x192.pth

Expected PoseTrack21 val mAP (paper): 84.1 (ViT-B), 84.7 (ViT-H). Not reproduced here.
"""

from configs.posetrack18_glsmamba import recipe

EXPECTED = {"b": 84.1, "h": 84.7}


def get_config(arg: str = "b"):
  return recipe("posetrack21/delta2", arg, "configs/posetrack21_glsmamba.py")
