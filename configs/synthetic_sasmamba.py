"""The quickstart: a small SasMamba on the built-in synthetic dataset, on a laptop CPU.

Run (what ``make train`` does; the dataset builds itself first, in under a minute):
  python -m experiments.train --config=configs/synthetic_sasmamba.py --workdir=runs/quickstart

A 2-pair SasMamba (dim 16, T = 27, 60,555 parameters) trained with the official loss
for 400 steps of batch 16 (0.85 epoch of ``synthetic_motion/clips_27``), then
evaluated with the H36M protocol and flip test on the 1,008 test clips.
Expected: the P1 / P2 and wall time of the README's quickstart table (measured on
an idle 2-core CPU from a fresh clone), well ahead of
``configs/synthetic_mlp_baseline.py`` (a per-frame MLP given the same steps).

Arg "smoke" (``configs/synthetic_sasmamba.py:smoke``, the notebooks' smoke mode): the
same pipeline shrunk to seconds of work, on ``synthetic_motion/tiny`` with one pair
and 4 steps; its numbers mean nothing.
"""

from sasmamba_jax.train.config import base_config


def get_config(arg: str = ""):
  if arg not in ("", "smoke"):
    raise ValueError(f"configs/synthetic_sasmamba.py takes no argument or 'smoke', "
                     f"got {arg!r}")
  c = base_config("lifting_3d")
  c.dataset.name = "synthetic_motion/clips_27"
  c.dataset.prepare_if_missing = True
  c.model.name = "sasmamba"
  c.model.num_frames = 27
  c.model.dim = 16
  c.model.depth = 2
  c.model.drop_path_rate = 0.0
  c.optimizer.learning_rate = 2e-3
  c.optimizer.lr_decay_per_epoch = 0.9
  c.batch_size = 16
  c.eval_batch_size = 64
  c.num_epochs = 1
  c.max_steps = 400
  c.log_every_steps = 20
  c.eval_every_steps = 400
  c.early_stop_patience = 0
  if arg == "smoke":
    c.dataset.name = "synthetic_motion/tiny"
    c.model.depth = 1
    c.batch_size = 8
    c.eval_batch_size = 16
    c.max_steps = 4
    c.log_every_steps = 1
    c.eval_every_steps = 4
  return c
