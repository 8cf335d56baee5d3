"""PoseMamba S/B/L/X on Human3.6M with Stacked-Hourglass 2D detections (official recipes).

Run (arg: s, b, l or x; add ",gt" for ground-truth 2D, e.g. ``:b,gt``):
  python -m experiments.prepare_data --dataset=h36m/sh_243 --manual_dir=DIR
  python -m experiments.train --config=configs/h36m_posemamba.py:s --workdir=runs/pm_s

Recipe (official repository nankingjing/PoseMamba, configs/pose3d/
PoseMamba_train_h36m_{S,B,L}.yaml and train.py): T = 243, drop path 0.2; AdamW lr
2e-4, weight decay 0.01 on every parameter (the A_logs / Ds ``_no_weight_decay``
flags of lib/model/mambablocks.py lines 225, 237 are read by no code), lr x0.99
after each epoch of ceil(N / 4) steps, 120 epochs, batch 4 as in the released
configs (S.yaml line 10 notes it was 32 originally); loss MPJPE + 0.5 N-MPJPE + 20
velocity + 0.5 L_diff (joint-weighted temporal consistency, train.py lines 207-229);
flip augmentation (p = 0.5) and flip test; an evaluation per epoch, no early
stopping. The official evaluation batch is the train batch (4); eval_batch_size 16
gives the same numbers faster. X has no released config: C 256, 20 pairs (paper).
Expected P1 / P2 (paper): S 41.8 / 35.0, B 40.8 / 34.3, L 38.1 / 32.5, X 37.1 / 31.5
mm; with ground-truth 2D, P1: S 20.0, B 16.8, L 15.6, X 14.8 mm. Users report L at
about 39.3 mm.
"""

from sasmamba_jax.train.config import base_config

VARIANTS = ("s", "b", "l", "x")


def get_config(arg: str = "s"):
  variant, _, inputs = arg.partition(",")
  if variant not in VARIANTS or inputs not in ("", "sh", "gt"):
    raise ValueError("configs/h36m_posemamba.py takes VARIANT[,gt] with VARIANT in "
                     f"{VARIANTS}, got {arg!r}")
  c = base_config("lifting_3d")
  c.dataset.name = f"h36m/{inputs or 'sh'}_243"
  c.model.name = f"posemamba_{variant}"
  c.model.num_frames = 243
  c.optimizer.learning_rate = 2e-4
  c.optimizer.weight_decay = 0.01
  c.task.loss.temporal_consistency = 0.5
  c.batch_size = 4
  c.eval_batch_size = 16
  c.num_epochs = 120
  c.early_stop_patience = 0
  return c
