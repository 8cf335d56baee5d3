"""``Lifter``: a trained lifting model applied to 2D keypoint sequences of any length.

What the numbers mean. The models of this library (and the official checkpoints)
see 2D keypoints in the MotionBERT-lineage screen normalisation, ``x / w * 2 - 1``
and ``y / w * 2 - h / w`` for an image of ``w x h`` pixels, and predict 3D poses in
the same image-aligned frame and scale: x to the right, y down, z away from the
camera, one unit = half the image width. ``Lifter`` returns them root-relative
(pelvis at the origin) in three units:

* ``poses_3d``: model units (half image widths);
* ``poses_3d_pixels``: pixels (``poses_3d * w / 2``), the 2.5D pose drawn at the
  person's depth;
* ``poses_3d_mm``: millimetres, when the camera scale is known: ``mm_per_pixel``
  = the person's distance from the camera / the focal length in pixels (both in
  the same camera), as Human3.6M's 2.5D factor.
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Any, Callable
import warnings

from flax import nnx
import jax
import jax.numpy as jnp
import numpy as np

from sasmamba_jax import evaluation
from sasmamba_jax import loading
from sasmamba_jax import skeletons
from sasmamba_jax.checkpoints import sources
from sasmamba_jax.datasets.common import normalize_pixels
from sasmamba_jax.train import config as config_lib

#: window length used for models without a fixed one (the MLP baseline)
DEFAULT_WINDOW = 243


@dataclasses.dataclass(frozen=True)
class LiftResult:
  """3D poses of one sequence, root-relative, (F, 17, 3) float32 each."""

  poses_3d: np.ndarray
  poses_3d_pixels: np.ndarray
  poses_3d_mm: np.ndarray | None
  inputs: np.ndarray  # (F, 17, C) the normalised model inputs


def _positive_int(value: Any, name: str) -> int:
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
    raise ValueError(f"Lifter: {name} must be a positive int, got {value!r}")
  return int(value)


class Lifter:
  """Runs a lifter over (F, 17, C) sequences with overlapping windows.

  Windows of the model's length T start every ``stride`` frames (default T // 2)
  and overlapping predictions are averaged, so there are no seams; a sequence
  shorter than T is edge-padded. Windows go through the model ``batch_size`` at a
  time in one jitted function (flip test inside it), so a ``Lifter`` compiles once
  per input channel count, whatever the sequence lengths.

    lifter = Lifter.load("runs/h36m_sasmamba")          # or an export / official file
    result = lifter.lift(keypoints_px, image_size=(1920, 1080))
    result.poses_3d_pixels                                # (F, 17, 3)
  """

  def __init__(self, model: nnx.Module, *, flip_test: bool = True,
               constant_confidence: bool = False, stride: int | None = None,
               batch_size: int = 4):
    config = getattr(model, "config", None)
    if config is None or not hasattr(config, "in_channels"):
      raise ValueError("Lifter: expected a lifting model of this library (a "
                       f"registered lifter with a .config), got {type(model).__name__}")
    if getattr(config, "num_joints", 17) != 17:
      raise ValueError(f"Lifter: the model takes {config.num_joints} joints; lifting "
                       "detections needs an H36M-17 model")
    self.model_name = getattr(model.config, "name", "") or type(model).__name__
    self.in_channels = int(config.in_channels)
    self.num_frames = int(getattr(config, "num_frames", None) or DEFAULT_WINDOW)
    self.stride = (max(1, self.num_frames // 2) if stride is None
                   else _positive_int(stride, "stride"))
    if self.stride > self.num_frames:
      raise ValueError(f"Lifter: stride {self.stride} is longer than the model's "
                       f"window of {self.num_frames} frames: frames would be skipped")
    self.batch_size = _positive_int(batch_size, "batch_size")
    self.flip_test = bool(flip_test)
    self.constant_confidence = bool(constant_confidence)
    model.eval()
    graphdef, state = nnx.split(model)
    skeleton = skeletons.H36M

    @jax.jit
    def forward(state, x):
      module = nnx.merge(graphdef, state)
      fn = lambda inputs: module(inputs, deterministic=True)
      if flip_test:
        return evaluation.flip_average(fn, x, skeleton)
      return fn(x)

    self._state = state
    self._forward = forward

  @classmethod
  def load(cls, source: str | pathlib.Path, *, latest: bool = False,
           flip_test: bool | None = None, **kwargs: Any) -> "Lifter":
    """A ``Lifter`` from a run directory, an exported model or an official file.

    A run directory's saved config decides the confidence input and (unless
    ``flip_test`` is given) the flip test; other sources feed the confidence when
    the model takes 3 channels, and flip-test by default.
    """
    model = loading.load(source, latest=latest)
    constant_confidence, run_flip = False, True
    resolved = sources.resolve(source)
    if isinstance(resolved, sources.RunDirectory):
      task = config_lib.load_saved(resolved.config_file).task
      constant_confidence = bool(task.get("constant_confidence", False))
      run_flip = bool(task.get("flip_test", True))
    return cls(model, flip_test=run_flip if flip_test is None else flip_test,
               constant_confidence=constant_confidence, **kwargs)

  def _model_fn(self) -> Callable[[np.ndarray], np.ndarray]:
    def run(windows: np.ndarray) -> np.ndarray:
      n = windows.shape[0]
      if n < self.batch_size:  # one compiled batch shape for every call
        pad = np.repeat(windows[-1:], self.batch_size - n, axis=0)
        windows = np.concatenate([windows, pad])
      return np.asarray(self._forward(self._state, jnp.asarray(windows)))[:n]
    return run

  def model_inputs(self, inputs: np.ndarray) -> np.ndarray:
    """(F, 17, 2 | 3) normalised keypoints -> the model's (F, 17, in_channels)."""
    inputs = np.asarray(inputs, dtype=np.float32)
    if inputs.ndim != 3 or inputs.shape[1] != 17 or inputs.shape[2] not in (2, 3):
      raise ValueError("Lifter: expected keypoints of shape (F, 17, 2) or "
                       f"(F, 17, 3) in H36M order, got {inputs.shape}")
    if self.in_channels == 2:
      return inputs[..., :2]
    if self.constant_confidence:
      conf = np.ones_like(inputs[..., :1])
    elif inputs.shape[2] == 3:
      conf = inputs[..., 2:3]
    else:
      warnings.warn("Lifter: the model takes (x, y, confidence) but the keypoints "
                    "have no confidence; feeding 1 for every joint", stacklevel=3)
      conf = np.ones_like(inputs[..., :1])
    return np.concatenate([inputs[..., :2], conf], -1)

  def lift_normalized(self, inputs: np.ndarray) -> np.ndarray:
    """(F, 17, 2 | 3) normalised 2D -> (F, 17, 3) root-relative 3D in model units."""
    inputs = self.model_inputs(inputs)
    poses = evaluation.sliding_window_predict(
        self._model_fn(), inputs, self.num_frames, stride=self.stride,
        batch_size=self.batch_size)
    poses = poses.astype(np.float32)
    return poses - poses[:, skeletons.H36M.root:skeletons.H36M.root + 1]

  def lift(self, keypoints: np.ndarray, image_size: tuple[float, float], *,
           mm_per_pixel: float | None = None) -> LiftResult:
    """Lifts (F, 17, 2 | 3) H36M-order pixel keypoints (x, y[, confidence]).

    Args:
      keypoints: pixels in an image of ``image_size``; confidence in [0, 1].
      image_size: (width, height) in pixels.
      mm_per_pixel: camera scale at the person (distance / focal length); gives
        ``poses_3d_mm``.
    """
    keypoints = np.asarray(keypoints, dtype=np.float32)
    if keypoints.ndim != 3 or keypoints.shape[1:] not in ((17, 2), (17, 3)):
      raise ValueError("Lifter.lift: expected keypoints of shape (F, 17, 2) or "
                       f"(F, 17, 3) in H36M order, got {keypoints.shape}")
    size = np.asarray(image_size, dtype=np.float64)
    if size.shape != (2,) or not np.all(np.isfinite(size)) or np.any(size <= 0):
      raise ValueError(f"Lifter.lift: image_size must be (width, height) > 0 in "
                       f"pixels, got {image_size!r}")
    if mm_per_pixel is not None and not (np.isfinite(mm_per_pixel)
                                         and mm_per_pixel > 0):
      raise ValueError(f"Lifter.lift: mm_per_pixel must be > 0, got {mm_per_pixel}")
    res = np.broadcast_to(size, (keypoints.shape[0], 2))
    inputs = keypoints.copy()
    inputs[..., :2] = normalize_pixels(keypoints[..., :2], res)
    poses = self.lift_normalized(inputs)
    pixels = (poses * (size[0] / 2)).astype(np.float32)
    mm = None if mm_per_pixel is None else (pixels * mm_per_pixel).astype(np.float32)
    return LiftResult(poses, pixels, mm, inputs)
