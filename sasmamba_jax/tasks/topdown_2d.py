"""Top-down 2D pose pieces that both 2D task families share (``pose_2d`` on images,
``pose_2d_video`` on clips): the crop and augmentation keys of their config
sections, the crop transform, the heatmap loss and the keypoints of a prediction.

A person box becomes a UDP crop (``datasets.video_transforms``: one frame or a clip),
the heatmap codec (``codecs.HeatmapCodec``, ``task.codec``) draws the targets and
decodes the model's heatmaps back into image pixels, after the flip test.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import ml_collections

from sasmamba_jax import skeletons
from sasmamba_jax.codecs import HeatmapCodec
from sasmamba_jax.codecs import heatmap
from sasmamba_jax.datasets import video_transforms
from sasmamba_jax.datasets.split import Split


def add_defaults(c: ml_collections.ConfigDict) -> None:
  """The crop, target and augmentation keys of a 2D task section (their defaults:
  the video-pose literature's; ``pose_2d`` sets ViTPose's where they differ)."""
  c.input_size = (192, 256)       # crop (width, height), as mmpose
  c.codec = heatmap.default_config()   # targets and decoding: sigma, DARK, UDP
  c.padding = 1.25                # box -> crop enlargement
  c.use_target_weight = True      # joints without a label add no loss
  c.augment = True                # scale / rotation / flip / half-body (training)
  c.scale_factor = 0.35
  c.rotation_factor = 45.0
  c.rotation_prob = 0.6
  c.flip_prob = 0.5
  c.half_body_prob = 0.3
  c.sampler = "pillow"            # crop sampler: pillow (fast) | numpy
  c.flip_test = True              # average with the mirrored crop's heatmaps


def validate(cfg: ml_collections.ConfigDict) -> list[str]:
  """Problems with the keys of ``add_defaults``, as "key = value: problem" strings."""
  errors = []

  def check(key, ok, what):
    if not ok:
      errors.append(f"task.{key} = {cfg[key]!r}: {what}")

  check("input_size", len(cfg.input_size) == 2 and min(cfg.input_size) >= 16
        and all(s % 16 == 0 for s in cfg.input_size),
        "must be (width, height), multiples of the 16-pixel patch")
  errors += heatmap.validate(cfg.codec)
  check("padding", cfg.padding >= 1, "must be >= 1")
  for key in ("rotation_prob", "flip_prob", "half_body_prob"):
    check(key, 0 <= cfg[key] <= 1, "must be a probability in [0, 1]")
  check("scale_factor", 0 <= cfg.scale_factor < 1, "must be in [0, 1)")
  check("rotation_factor", 0 <= cfg.rotation_factor <= 180, "must be in [0, 180]")
  check("sampler", cfg.sampler in ("pillow", "numpy"), "must be pillow or numpy")
  return errors


def image_size(cfg: ml_collections.ConfigDict) -> tuple[int, int]:
  """The crop's (H, W), as the models take it (``task.input_size`` is (W, H))."""
  width, height = cfg.input_size
  return int(height), int(width)


def crop_transform(cfg: ml_collections.ConfigDict, codec: HeatmapCodec,
                   skeleton: skeletons.Skeleton, split: Split, *, train: bool,
                   centre_only: bool) -> Any:
  """The crop of a task section: ``RandomTopDownClip`` for training with
  ``task.augment``, the plain ``TopDownClip`` otherwise."""
  kwargs = dict(codec=codec, padding=cfg.padding,
                image_root=split.metadata.get("image_root"), sampler=cfg.sampler,
                skeleton=skeleton, centre_only=centre_only)
  if not (train and cfg.augment):
    return video_transforms.TopDownClip(**kwargs)
  return video_transforms.RandomTopDownClip(
      scale_factor=cfg.scale_factor, rotation_factor=cfg.rotation_factor,
      rotation_prob=cfg.rotation_prob, flip_prob=cfg.flip_prob,
      half_body_prob=cfg.half_body_prob, **kwargs)


def heatmap_mse(pred: jax.Array, target: jax.Array,
                target_weight: jax.Array | None = None) -> jax.Array:
  """HRNet / ViTPose's ``JointsMSELoss``: 0.5 mean ((w (pred - target))^2).

  Args:
    pred, target: (B, h, w, K) heatmaps.
    target_weight: (B, K) per-joint weights (0 for unlabelled joints), or None.

  Returns:
    The scalar loss: the mean over batch, pixels and joints (so a joint of weight 0
    still counts in the denominator, as officially).
  """
  diff = pred.astype(jnp.float32) - target.astype(jnp.float32)
  if target_weight is not None:
    diff = diff * target_weight.astype(jnp.float32)[:, None, None, :]
  return 0.5 * jnp.mean(jnp.square(diff))


def keypoints(codec: HeatmapCodec, heatmaps_of: Callable[[Any], jax.Array],
              images: Any, center: jax.Array, scale: jax.Array, *,
              flip_permutation: Sequence[int] | None) -> jax.Array:
  """(B, K, 3): x, y in image pixels and the heatmap maximum of each joint.

  Args:
    codec: decodes the heatmaps (and mirrors them back in the flip test).
    heatmaps_of: images -> (B, h, w, K) heatmaps (the model in eval mode).
    images: (B, ..., H, W, 3) crops (or clips of crops), or whatever
      ``heatmaps_of`` takes when ``flip_permutation`` is None.
    center, scale: (B, 2) the crops' boxes.
    flip_permutation: the heatmaps' left/right permutation for the flip test, or
      None for no flip test.
  """
  if flip_permutation is None:
    heatmaps = heatmaps_of(images)
  else:
    heatmaps = codec.flip_test(heatmaps_of, images, flip_permutation)
  points, scores = codec.decode(heatmaps, center, scale)
  return jnp.concatenate([points, scores[..., None]], axis=-1)
