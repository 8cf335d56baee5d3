"""Checkpoint import/export: official PyTorch weights and a torch-free safe reader."""

from sasmamba_jax.checkpoints.official import infer_config
from sasmamba_jax.checkpoints.official import load_official
from sasmamba_jax.checkpoints.official import read_state_dict
from sasmamba_jax.checkpoints.official import to_official
from sasmamba_jax.checkpoints.torch_pickle import CheckpointError
from sasmamba_jax.checkpoints.torch_pickle import UnsafeCheckpointError
from sasmamba_jax.checkpoints.torch_pickle import read_torch_file

__all__ = ["CheckpointError", "UnsafeCheckpointError", "infer_config", "load_official",
           "read_state_dict", "read_torch_file", "to_official"]
