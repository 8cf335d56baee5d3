"""The video quickstart: GLSMamba on a frozen ViTPose, trained on a CPU in minutes.

``make train-video`` (README) first trains the backbone and the per-frame baseline
(``configs/synthetic_vitpose_baseline.py`` says how), then GLSMamba on one frame
and on five:
  python -m experiments.train --config=configs/synthetic_glsmamba.py:1frame \\
      --workdir=runs/video/glsmamba_1frame
  python -m experiments.train --config=configs/synthetic_glsmamba.py \\
      --workdir=runs/video

A small GLSMamba (width 32, 1 GSM block with the time-wise routes and no STMM + 1
LRM block, T = 5; 34,700 parameters) on the 16 x 12 x 32 features of the frozen
backbone, cached once per crop (``task.cache_features``), trained for the same steps,
batch and schedule as the baseline's head (600 x 16, lr 2e-3), then scored with the
PoseTrack mAP on the 8 validation videos of ``synthetic_video_pose/delta2``, whose
frames hide, blur or fade joints that the neighbouring frames show.
Expected PoseTrack mAP (Total): the README's video quickstart table (GLSMamba ahead
of its one-frame version, both ahead of the per-frame baseline;
``docs/notes/2026-12-02-video-quickstart-gain.md`` says what the gain is made of).

Arg "1frame": the same head built for T = 1 on the centre frame (the paper's
per-frame ablation: the head's share of the gain without time's), in
``WORKDIR/glsmamba_1frame``.
Arg "smoke" / "1frame_smoke": the same on ``synthetic_video_pose/tiny`` (T = 3) in
seconds.
"""

from configs import synthetic_vitpose_baseline as per_frame
from sasmamba_jax.train.config import base_config


ARGS = ("", "smoke", "1frame", "1frame_smoke")


def get_config(arg: str = ""):
  if arg not in ARGS:
    raise ValueError(f"configs/synthetic_glsmamba.py takes one of {ARGS}, got {arg!r}")
  smoke = arg.endswith("smoke")
  c = base_config("pose_2d_video", model="glsmamba_tiny")
  per_frame.dataset(c, smoke)
  per_frame.vitpose_kwargs(c, smoke)
  c.task.backbone.checkpoint = ("runs/video_smoke/backbone/model" if smoke
                                else "runs/video/backbone/model")
  c.task.cache_features = True
  c.task.flip_test = False          # cached features are of the unflipped crops
  # "1frame": the same head on the centre frame alone (the paper's T = 1 ablation).
  c.model.num_frames = 1 if arg.startswith("1frame") else 3 if smoke else 5
  c.model.dim = 32
  c.model.d_state = 8
  c.model.num_gsm = 1
  c.model.num_lrm = 1
  c.model.window = (4, 3)
  # The time-wise routes only, merged without STMM: the paper's ablation knobs,
  # chosen for the CPU budget (the six routes with STMM cost 5x more per step).
  c.model.routes = ("time",)
  c.model.stmm = False
  c.optimizer.learning_rate = 2e-3
  per_frame.schedule(c, smoke, 600, 16)
  return c
