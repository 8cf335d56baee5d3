"""The video quickstart's per-frame side: its ViTPose backbone, and the baseline.

``make train-video`` (README) runs three jobs; two of them are this file:
  # 1. the backbone: a small ViTPose trained end to end on single frames
  python -m experiments.train --config=configs/synthetic_vitpose_baseline.py:backbone \\
      --workdir=runs/video/backbone
  python -m experiments.export --checkpoint=runs/video/backbone \\
      --output=runs/video/backbone/model
  # 2. the per-frame baseline: that backbone frozen, its own head trained on for
  #    the same steps, batch and schedule as GLSMamba (configs/synthetic_glsmamba.py)
  python -m experiments.train --config=configs/synthetic_vitpose_baseline.py \\
      --workdir=runs/video/baseline

The ViTPose (``vitpose_tiny`` widened: width 64, 4 blocks, 4 heads, one 32-channel
deconvolution; 285,809 parameters) reads 128 x 96 crops (8 x 6 tokens) and gives
16 x 12 heatmaps and features; it trains for 600 steps of 32 single frames. GLSMamba
takes the same features, so the two differ only in the head: per frame (this file)
or over the clip of 5 frames (``synthetic_glsmamba.py``), each 600 steps of 16 at lr
2e-3 (warmup, cosine), without augmentation (GLSMamba's cache holds plain crops).
Expected PoseTrack mAP (Total) on the synthetic validation videos: the README's
video quickstart table.

Arg "smoke" / "backbone_smoke": the same on ``synthetic_video_pose/tiny`` (T = 3) in
seconds (tests, notebooks); their numbers mean nothing.
"""

from sasmamba_jax.train.config import base_config

ARGS = ("", "backbone", "smoke", "backbone_smoke")


def vitpose_kwargs(c, smoke: bool) -> None:
  """The quickstart's crops (shared with configs/synthetic_glsmamba.py)."""
  # (width, height): 8 x 6 tokens (smoke: 4 x 3, the test size of vitpose_tiny).
  c.task.input_size = (48, 64) if smoke else (96, 128)
  c.task.codec.sigma = 1.0          # targets as sharp as 16 x 12 heatmaps allow
  c.task.codec.dark_kernel = 3      # the DARK blur must fit 16 x 12 heatmaps
  c.task.backbone.name = "vitpose_tiny"


def dataset(c, smoke: bool) -> None:
  c.dataset.name = ("synthetic_video_pose/tiny" if smoke
                    else "synthetic_video_pose/delta2")
  c.dataset.prepare_if_missing = True
  c.dataset.eval_split = "val"


def schedule(c, smoke: bool, steps: int, batch: int) -> None:
  """Steps, batch and schedule (the baseline and GLSMamba share them)."""
  c.batch_size = batch
  c.eval_batch_size = 32
  c.num_epochs = 100
  c.max_steps = steps
  c.optimizer.schedule = "warmup_cosine"
  c.optimizer.warmup_epochs = 0.3
  c.optimizer.weight_decay = 1e-4
  c.log_every_steps = 20
  c.eval_every_steps = steps
  c.checkpoint_every_minutes = 0.0
  c.early_stop_patience = 0
  if smoke:
    c.batch_size = c.eval_batch_size = 4
    c.max_steps = c.eval_every_steps = 3
    c.log_every_steps = 1


def get_config(arg: str = ""):
  if arg not in ARGS:
    raise ValueError(f"configs/synthetic_vitpose_baseline.py takes one of {ARGS}, "
                     f"got {arg!r}")
  smoke = arg.endswith("smoke")
  c = base_config("pose_2d_video", model="vitpose_tiny")
  dataset(c, smoke)
  vitpose_kwargs(c, smoke)
  if arg.startswith("backbone"):
    # Stage 1: the whole ViTPose on single frames, from scratch.
    c.optimizer.freeze = ()
    c.optimizer.learning_rate = 2e-3
    c.task.augment = False          # 600 steps: augmentation costs more than it gives
    c.model.drop_path_rate = 0.0
    if not smoke:
      c.model.embed_dim = 64
      c.model.depth = 4
      c.model.num_heads = 4
      c.model.deconv_filters = (32,)
    schedule(c, smoke, 600, 32)
  else:
    # The per-frame baseline: the frozen backbone and its own head, trained on.
    c.task.backbone.checkpoint = ("runs/video_smoke/backbone/model" if smoke
                                  else "runs/video/backbone/model")
    c.optimizer.learning_rate = 2e-3
    # The data GLSMamba trains on: its feature cache holds the plain evaluation
    # crops, so the baseline gets no augmentation either. (With augmentation it
    # scored 15 mAP lower after 300 steps: the comparison would have credited
    # GLSMamba with the augmentation's cost, not with time.)
    c.task.augment = False
    schedule(c, smoke, 600, 16)
  return c
