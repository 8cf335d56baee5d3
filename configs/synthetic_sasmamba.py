"""The quickstart: a small SasMamba on the built-in synthetic dataset, on a laptop CPU.

Run (what ``make train`` does; the dataset builds itself first, in under a minute):
  python -m experiments.train --config=configs/synthetic_sasmamba.py --workdir=runs/quickstart

A 2-pair SasMamba (dim 32, T = 27) trained with the official loss for a few epochs of
``synthetic_motion/clips_27``. It trains and evaluates within 10 minutes on 2 CPU
cores and clearly beats ``configs/synthetic_mlp_baseline.py`` (a per-frame MLP given
the same steps): see the README's quickstart table for the numbers we measured.
"""

from sasmamba_jax.train.config import base_config


def get_config():
  c = base_config()
  c.dataset.name = "synthetic_motion/clips_27"
  c.dataset.prepare_if_missing = True
  c.model.name = "sasmamba"
  c.model.kwargs.num_frames = 27
  c.model.kwargs.dim = 32
  c.model.kwargs.depth = 2
  c.model.kwargs.drop_path_rate = 0.0
  c.optimizer.learning_rate = 2e-3
  c.optimizer.lr_decay_per_epoch = 0.9
  c.batch_size = 16
  c.eval_batch_size = 64
  c.num_epochs = 6
  c.log_every_steps = 20
  c.eval_every_epochs = 2
  c.early_stop_patience = 0
  return c
