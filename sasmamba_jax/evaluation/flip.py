"""Test-time flip augmentation as a model wrapper.

The official evaluations (MotionBERT lineage for Human3.6M, P-STMO lineage for
MPI-INF-3DHP) average the prediction of the input with the flipped-back prediction
of the mirrored input. Mirroring negates x (channel 0) and swaps left/right joints
of the layout, for the 2D input (x, y[, confidence]) and the 3D output alike.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sasmamba_jax import skeletons

Array = Any


def _skeleton(layout: str | skeletons.Skeleton) -> skeletons.Skeleton:
  if isinstance(layout, skeletons.Skeleton):
    return layout
  return skeletons.get(layout)


def flip_average(model_fn: Callable[[Array], Array], inputs: Array,
                 skeleton: str | skeletons.Skeleton = skeletons.H36M,
                 output_skeleton: str | skeletons.Skeleton | None = None) -> Array:
  """``(f(x) + flip(f(flip(x)))) / 2`` for one batch.

  Args:
    model_fn: maps (..., T, J, C_in) inputs to (..., T, J_out, C_out) poses with x in
      channel 0; NumPy or JAX (the wrapper is traceable under ``jax.jit``).
    inputs: (..., T, J, C_in) inputs, x in channel 0 around the mirror axis x = 0
      (normalised screen coordinates are).
    skeleton: joint layout of ``inputs`` (a ``skeletons.Skeleton`` or its name).
    output_skeleton: joint layout of the outputs; default ``skeleton``.

  Returns:
    Averaged predictions, shape and type of ``model_fn(inputs)``.
  """
  in_layout = _skeleton(skeleton)
  out_layout = in_layout if output_skeleton is None else _skeleton(output_skeleton)
  pred = model_fn(inputs)
  pred_flipped = model_fn(skeletons.flip_poses(inputs, in_layout))
  if getattr(pred_flipped, "shape", None) != getattr(pred, "shape", None):
    raise ValueError("flip_average: the model returned shape "
                     f"{getattr(pred, 'shape', None)} for the input and "
                     f"{getattr(pred_flipped, 'shape', None)} for the flipped input")
  return (pred + skeletons.flip_poses(pred_flipped, out_layout)) / 2


def flip_test(model_fn: Callable[[Array], Array],
              skeleton: str | skeletons.Skeleton = skeletons.H36M,
              output_skeleton: str | skeletons.Skeleton | None = None
              ) -> Callable[[Array], Array]:
  """Wraps ``model_fn`` so that every call is flip-averaged (see ``flip_average``).

  Args:
    model_fn: (..., T, J, C_in) -> (..., T, J_out, C_out) model function.
    skeleton: joint layout of the inputs.
    output_skeleton: joint layout of the outputs; default ``skeleton``.

  Returns:
    A function with the signature of ``model_fn``.
  """
  in_layout = _skeleton(skeleton)
  out_layout = in_layout if output_skeleton is None else _skeleton(output_skeleton)

  def flip_averaged(inputs: Array) -> Array:
    return flip_average(model_fn, inputs, in_layout, out_layout)

  return flip_averaged
