"""A video pose model on a frozen ViTPose: clip crops -> heatmaps of the centre frame.

GLSMamba (``models/glsmamba.py``) takes backbone features; this wraps it with the
backbone that makes them, so that a clip of images goes in, as the paper trains it:

  clip (B, T, H, W, 3) -> ViTPose.features per frame, frozen: (B, T, H/4, W/4, 256)
                       -> head (GLSMamba): heatmaps (B, H/4, W/4, K) of frame T // 2

Parameter paths: ``backbone/...`` (the ViTPose, official names below it) and
``head/...``; training freezes ``^backbone/`` (``optimizer.freeze``), so the backbone
gets no gradient and no optimizer state. ``features`` and ``from_features`` split
the forward for feature caching (``tasks/pose_2d_video``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from sasmamba_jax.models.glsmamba import GLSMamba
from sasmamba_jax.models.vitpose import ViTPose


class VideoPoseModel(nnx.Module):
  """A frozen ViTPose feature extractor followed by a video head (GLSMamba).

  Args:
    backbone: the ViTPose; its config is switched to ``frozen=True`` (always
      inference mode, no gradient through its output).
    head: a model mapping features (B, T, h, w, C) to heatmaps (B, h, w, K).
  """

  def __init__(self, backbone: ViTPose, head: GLSMamba):
    if not backbone.config.frozen:
      backbone.config = dataclasses.replace(backbone.config, frozen=True)
    channels = backbone.config.feature_channels
    if head.config.in_channels != channels:
      raise ValueError(f"VideoPoseModel: the head takes {head.config.in_channels} "
                       f"feature channels but {type(backbone).__name__} gives "
                       f"{channels}; build the head with in_channels={channels}")
    self.backbone = backbone
    self.head = head

  @property
  def num_frames(self) -> int:
    return self.head.config.num_frames

  def features(self, clips: jax.Array) -> jax.Array:
    """(B, T, H, W, 3) normalised crops -> frozen features (B, T, H/4, W/4, C)."""
    shape = tuple(getattr(clips, "shape", ()))
    if len(shape) != 5 or shape[-1] != 3:
      raise ValueError(f"VideoPoseModel: expected clips (B, T, H, W, 3) with T = "
                       f"{self.num_frames}, got shape {shape}")
    b, t = shape[:2]
    feats = self.backbone.features(jnp.reshape(clips, (b * t, *shape[2:])))
    return feats.reshape(b, t, *feats.shape[1:])

  def from_features(self, features: jax.Array) -> jax.Array:
    """(B, T, h, w, C) backbone features -> (B, h, w, K) heatmaps (the trained part)."""
    return self.head(features)

  def __call__(self, clips: jax.Array, *, deterministic: bool | None = None
               ) -> jax.Array:
    """(B, T, H, W, 3) normalised crops -> (B, H/4, W/4, K) float32 heatmaps."""
    del deterministic  # The backbone is frozen and GLSMamba has no dropout.
    return self.from_features(self.features(clips))


def heatmap_size(model: Any, image_size: tuple[int, int]) -> tuple[int, int]:
  """(h, w) of the heatmaps ``model`` gives for (H, W) crops."""
  vit = model.backbone if isinstance(model, VideoPoseModel) else model
  return vit.config.heatmap_size(image_size)


__all__ = ["VideoPoseModel", "heatmap_size"]
