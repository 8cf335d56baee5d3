"""The compute dtypes the library supports: one list for models, configs and trainer.

Parameters are always float32; the compute dtype is what activations run in. float16
is not offered: the trainer has no loss scaling, and the selective scan accumulates
in float32 whatever the activations are, so bfloat16 is the mixed-precision choice.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

COMPUTE_DTYPES: tuple[str, ...] = ("float32", "bfloat16")


def compute_dtype_name(dtype: Any, what: str) -> str:
  """Canonical name of ``dtype`` (e.g. ``jnp.bfloat16`` -> "bfloat16"), or a ValueError.

  Args:
    dtype: a dtype or its name.
    what: who asks, for the message (e.g. "LifterConfig: dtype").
  """
  try:
    name = jnp.dtype(dtype).name
  except TypeError:
    name = str(dtype)
  if name not in COMPUTE_DTYPES:
    raise ValueError(f"{what} must be one of {COMPUTE_DTYPES}, got {dtype!r}")
  return name
