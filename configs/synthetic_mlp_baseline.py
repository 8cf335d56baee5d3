"""The per-frame baseline on the synthetic dataset, with the quickstart's budget.

Run:
  python -m experiments.train --config=configs/synthetic_mlp_baseline.py --workdir=runs/mlp

Martinez et al.'s simple baseline (residual MLP on one frame's 2D joints) trained with
exactly the steps, batch, optimizer and loss of ``configs/synthetic_sasmamba.py``, so
the two are comparable. Expected: the README's quickstart table (clearly behind
the quickstart SasMamba; about 1 minute on 2 CPU cores).
"""

from configs import synthetic_sasmamba
from sasmamba_jax.models import config as model_config


def get_config():
  c = synthetic_sasmamba.get_config()
  c.model = model_config.default_config("mlp_baseline")   # its own defaults
  return c
