"""ViTPose-B / H on COCO val2017: the official test protocol (REFERENCE section 8).

Run (arg: b or h; also s or l), with the COCO files you bring under data/coco/
(the defaults below; sasmamba_jax/topdown/README.md says where to get them):
  python -m experiments.evaluate_coco --config=configs/coco_vitpose.py:b \\
      --config.checkpoint=vitpose_base_coco_256x192.pth
  # files elsewhere:        --config.data.annotation_file=... --config.data.image_dir=...
  # ground-truth boxes:     --config.data.person_boxes=gt
  # the first 100 images:   --config.max_images=100
  # metrics / keypoints:    --config.output=metrics.json --config.results_file=kp.json

Protocol: 256 x 192 UDP crops of boxes padded 1.25x, flip test, UDP DARK decoding
(kernel 11), rescoring (box score x mean keypoint score above 0.2), OKS-NMS at 0.9,
pycocotools COCOeval. Expected AP (official ViTPose README, detected boxes of the
56 AP person detector): B 75.8, H 79.1 (S 73.8, L 78.3). Not measured here yet.
"""

import ml_collections

VARIANTS = ("s", "b", "l", "h")


def get_config(arg: str = "b"):
  if arg not in VARIANTS:
    raise ValueError(f"configs/coco_vitpose.py takes one of {VARIANTS}, got {arg!r}")
  c = ml_collections.ConfigDict()
  c.model = f"vitpose_{arg}"
  c.checkpoint = ""             # official .pth, mmpose 1.x .pth or HF safetensors folder
  c.dtype = "float32"           # or "bfloat16"
  c.num_heads = 0               # 0: from the width (released sizes); else pass it
  c.data = ml_collections.ConfigDict()
  c.data.annotation_file = "data/coco/annotations/person_keypoints_val2017.json"
  c.data.image_dir = "data/coco/val2017"
  c.data.person_boxes = ("data/coco/person_detection_results/"
                         "COCO_val2017_detections_AP_H_56_person.json")  # or "gt"
  c.data.det_bbox_thr = 0.0
  c.input_size = (192, 256)     # crop (width, height)
  c.flip = True
  c.batch_size = 32             # crops per model call
  c.images_per_step = 32
  c.max_images = 0              # 0: all 5000 images
  c.use_nms = True
  c.oks_thr = 0.9
  c.vis_thr = 0.2
  c.results_file = ""           # COCO results JSON of the kept people
  c.output = ""                 # the metrics as JSON
  return c
