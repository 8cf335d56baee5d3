"""Input checks shared by the pose-lifting model families."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


def check_pose_clip(x: Any, *, name: str, num_joints: int, in_channels: int,
                    max_frames: int | None = None, joints_hint: str = "") -> None:
  """Raises a ValueError naming what is wrong with a (batch, T, J, C) pose clip.

  Args:
    x: the input (anything with ``shape``).
    name: the model, for the message.
    num_joints, in_channels: what the model was built for.
    max_frames: the longest clip the model takes (None: any T >= 1).
    joints_hint: extra advice appended to a joint-count mismatch.
  """
  shape = tuple(getattr(x, "shape", ()))
  if len(shape) != 4:
    raise ValueError(f"{name}: expected input of shape (batch, T, J, C) = "
                     f"(batch, T, {num_joints}, {in_channels}), got {shape}")
  _, t, j, ch = shape
  if j != num_joints:
    raise ValueError(f"{name}: the model was built for {num_joints} joints, got {j} "
                     f"(input shape {shape}); build it with num_joints={j}{joints_hint}")
  if ch != in_channels:
    raise ValueError(f"{name}: the model takes {in_channels} input channels, got {ch} "
                     f"(input shape {shape}); build it with in_channels={ch} or drop "
                     "the extra channel")
  if t < 1:
    raise ValueError(f"{name}: T must be >= 1, got input shape {shape}")
  if max_frames is not None and t > max_frames:
    raise ValueError(f"{name}: T = {t} frames, but the temporal position embedding "
                     f"has {max_frames} rows; build the model with num_frames >= {t}")
  # Concrete inputs are checked for NaN / inf (traced ones cannot be: the trainer and
  # the evaluation loop check their batches on the host before the device).
  if (not isinstance(x, jax.core.Tracer) and hasattr(x, "dtype")
      and jnp.issubdtype(x.dtype, jnp.floating)
      and not np.all(np.isfinite(np.asarray(x, np.float32)))):
    raise ValueError(f"{name}: the input holds NaN or infinite values, which would "
                     "make every output NaN; fill or drop those joints first")
