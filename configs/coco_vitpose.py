"""ViTPose-S/B/L/H on COCO: evaluate the official checkpoints, or train (arg: s, b, l, h).

Run, with the COCO 2017 files you bring (sasmamba_jax/datasets/README.md says which):
  python -m experiments.prepare_data --dataset=coco/detections --manual_dir=data/coco
  python -m experiments.evaluate --config=configs/coco_vitpose.py:b \\
      --checkpoint=vitpose_base_coco_256x192.pth
  # ground-truth boxes:     --config.dataset.name=coco/gt
  # the first 200 boxes:    --config.dataset.eval_split='val[:200]'
  python -m experiments.train --config=configs/coco_vitpose.py:b \\
      --workdir=runs/coco_vitpose_b                # + --config.task.init_checkpoint=...

Protocol (the official ViTPose COCO configs): 256 x 192 UDP crops of the person
detector's boxes padded 1.25x, flip test, UDP + DARK decoding (kernel 11), rescoring
(box score x mean keypoint score above 0.2), OKS-NMS at 0.9, pycocotools COCOeval.
Training: ViTPose-B's recipe (tasks/pose_2d/config.py): AdamW 5e-4, weight decay 0.1,
layer-wise decay 0.75, x0.1 at epochs 170 and 200 of 210, batch 512, random scale,
rotation, flip and half-body. Expected val AP (official ViTPose README, detected
boxes of the 56 AP person detector): B 75.8, H 79.1 (S 73.8, L 78.3). Not measured
here: the COCO files and a GPU were not available.
"""

from sasmamba_jax.train.config import base_config

VARIANTS = ("s", "b", "l", "h")
EXPECTED = {"s": 73.8, "b": 75.8, "l": 78.3, "h": 79.1}


def get_config(arg: str = "b"):
  if arg not in VARIANTS:
    raise ValueError(f"configs/coco_vitpose.py takes one of {VARIANTS}, got {arg!r}")
  c = base_config("pose_2d", model=f"vitpose_{arg}")
  c.dataset.name = "coco/detections"
  c.task.flip_test = True
  c.eval_every_epochs = 10
  c.log_every_steps = 100
  c.early_stop_patience = 0
  return c
