"""Training: the run config, the task-agnostic jit/sharded trainer, optimizers,
checkpoints, run logs, and the one prediction/evaluation path (``evaluator``).
See README.md in this folder."""

from sasmamba_jax.train.checkpointing import CheckpointRestoreError
from sasmamba_jax.train.config import base_config
from sasmamba_jax.train.config import validate
from sasmamba_jax.train.trainer import NonFiniteLossError
from sasmamba_jax.train.trainer import Trainer
from sasmamba_jax.train.trainer import train_and_evaluate

__all__ = ["base_config", "validate", "Trainer", "train_and_evaluate",
           "NonFiniteLossError", "CheckpointRestoreError"]
