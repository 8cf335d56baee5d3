"""The per-frame "simple baseline" lifter of Martinez et al. (ICCV 2017).

"A simple yet effective baseline for 3d human pose estimation": one frame's 2D joints,
flattened, go through Linear(J * C -> width) and ``num_stages`` residual blocks of two
(Linear -> BatchNorm -> ReLU -> Dropout) layers, then Linear(width -> J * 3). Defaults
are the paper's: width 1024, 2 stages, dropout 0.5, batch norm, Kaiming-normal
weights. Every frame of a (B, T, J, C) clip is lifted independently, so temporal
models can be compared against a model that sees no time at all. The paper's max-norm
weight constraint is an optimiser-side detail and is not part of the module.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
from flax import nnx

from sasmamba_jax.models._checks import check_pose_clip
from sasmamba_jax.nn import torch_init
from sasmamba_jax.nn.dtypes import compute_dtype_name

@dataclasses.dataclass(frozen=True)
class MlpBaselineConfig:
  """Options of ``MlpBaseline``.

  Attributes:
    name: the registered name these options start from (``models.create`` sets
      it; "" for an architecture no registered model describes, e.g. an official
      checkpoint of another size): what rebuilds the model with these fields.
    num_joints: J.
    in_channels: 2 (x, y) or 3 (x, y, confidence).
    width: hidden width (1024 in the paper).
    num_stages: residual blocks (2 in the paper).
    dropout: dropout rate after every ReLU (0.5 in the paper).
    batch_norm: BatchNorm after every hidden Linear (the paper's setting).
    num_frames: accepted so every registered model takes the same options; frames
      are lifted independently, so any T works.
    dtype: compute dtype; parameters are float32.
  """

  #: the fields that tell one registered architecture from another
  ARCHITECTURE: ClassVar[tuple[str, ...]] = ("width", "num_stages")

  name: str = ""
  num_joints: int = 17
  in_channels: int = 2
  width: int = 1024
  num_stages: int = 2
  dropout: float = 0.5
  batch_norm: bool = True
  num_frames: int | None = None
  dtype: str = "float32"

  def __post_init__(self):
    object.__setattr__(self, "dtype", compute_dtype_name(self.dtype,
                                                        "MlpBaselineConfig: dtype"))
    if self.in_channels not in (2, 3):
      raise ValueError(f"MlpBaselineConfig: in_channels must be 2 or 3, got "
                       f"{self.in_channels}")
    if self.num_joints < 1 or self.width < 1 or self.num_stages < 0:
      raise ValueError("MlpBaselineConfig: need num_joints >= 1, width >= 1 and "
                       "num_stages >= 0")
    if not 0.0 <= self.dropout < 1.0:
      raise ValueError(f"MlpBaselineConfig: dropout must be in [0, 1), got "
                       f"{self.dropout}")


class _Dense(nnx.Module):
  """Linear -> BatchNorm -> ReLU -> Dropout."""

  def __init__(self, in_features: int, out_features: int, cfg: MlpBaselineConfig, *,
               rngs: nnx.Rngs):
    dtype = jnp.dtype(cfg.dtype)
    self.linear = nnx.Linear(in_features, out_features, dtype=dtype,
                             param_dtype=jnp.float32,
                             kernel_init=nnx.initializers.he_normal(),
                             bias_init=torch_init.bias_init(in_features), rngs=rngs)
    # PyTorch's BatchNorm1d momentum 0.1 is Flax's 0.9 (the weight of the old mean).
    self.norm = (nnx.BatchNorm(out_features, momentum=0.9, epsilon=1e-5, dtype=dtype,
                               param_dtype=jnp.float32, rngs=rngs)
                 if cfg.batch_norm else None)
    self.dropout = nnx.Dropout(cfg.dropout, rngs=rngs)

  def __call__(self, x: jax.Array, deterministic: bool | None) -> jax.Array:
    x = self.linear(x)
    if self.norm is not None:
      x = self.norm(x, use_running_average=deterministic)
    return self.dropout(jax.nn.relu(x), deterministic=deterministic)


class _Stage(nnx.Module):
  """Two dense layers with a residual connection around them."""

  def __init__(self, cfg: MlpBaselineConfig, *, rngs: nnx.Rngs):
    self.dense1 = _Dense(cfg.width, cfg.width, cfg, rngs=rngs)
    self.dense2 = _Dense(cfg.width, cfg.width, cfg, rngs=rngs)

  def __call__(self, x: jax.Array, deterministic: bool | None) -> jax.Array:
    return x + self.dense2(self.dense1(x, deterministic), deterministic)


class MlpBaseline(nnx.Module):
  """Per-frame residual MLP: (B, T, J, in_channels) -> (B, T, J, 3) float32.

  Batch statistics are taken over all B * T frames of a batch in training mode;
  ``model.eval()`` (or ``deterministic=True``) uses the running averages and turns
  dropout off.
  """

  def __init__(self, config: MlpBaselineConfig, *, rngs: nnx.Rngs):
    c = config
    self.config = c
    dtype = jnp.dtype(c.dtype)
    self.input = _Dense(c.num_joints * c.in_channels, c.width, c, rngs=rngs)
    self.stages = nnx.List([_Stage(c, rngs=rngs) for _ in range(c.num_stages)])
    self.output = nnx.Linear(c.width, c.num_joints * 3, dtype=dtype,
                             param_dtype=jnp.float32,
                             kernel_init=nnx.initializers.he_normal(),
                             bias_init=torch_init.bias_init(c.width), rngs=rngs)

  def check_input(self, x: Any) -> None:
    """Raises a ValueError naming what is wrong with an input's shape."""
    c = self.config
    check_pose_clip(x, name="mlp_baseline", num_joints=c.num_joints,
                    in_channels=c.in_channels)

  def __call__(self, x: jax.Array, *, deterministic: bool | None = None) -> jax.Array:
    """(B, T, J, in_channels) -> (B, T, J, 3) float32."""
    self.check_input(x)
    b, t, j, ch = x.shape
    if deterministic is None:
      deterministic = self.input.dropout.deterministic
    h = x.astype(jnp.dtype(self.config.dtype)).reshape(b * t, j * ch)
    h = self.input(h, deterministic)
    for stage in self.stages:
      h = stage(h, deterministic)
    return self.output(h).reshape(b, t, j, 3).astype(jnp.float32)
