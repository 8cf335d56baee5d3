"""Frames per second of ``inference.Lifter`` over a long 2D sequence.

The lifter runs the model over overlapping windows (stride T / 2 by default, flip
test on, as ``experiments.lift`` does), so a frame costs about two windows' share
of two forward passes; this measures that whole path, windows, padding and
averaging included, after a warm-up call that compiles.
"""

from __future__ import annotations

import time
from typing import Any, Sequence

from flax import nnx
import numpy as np

from sasmamba_jax import inference
from sasmamba_jax import models
from sasmamba_jax.benchmarking.common import environment


def run(model_names: Sequence[str], *, frames: int = 243, length: int = 2430,
        batch_size: int = 4, flip_test: bool = True, repeats: int = 2,
        seed: int = 0) -> dict[str, Any]:
  """Times lifting a ``length``-frame sequence with each model (random weights)."""
  rng = np.random.default_rng(seed)
  keypoints = np.concatenate([rng.uniform(0, 1000, (length, 17, 2)),
                              rng.uniform(0.5, 1, (length, 17, 1))], -1)
  rows = []
  for name in model_names:
    model = models.create(name, num_frames=frames, in_channels=3, rngs=nnx.Rngs(seed))
    lifter = inference.Lifter(model, flip_test=flip_test, batch_size=batch_size)
    start = time.perf_counter()
    lifter.lift(keypoints[:frames], (1000, 1000))
    compile_s = time.perf_counter() - start
    times = []
    for _ in range(repeats):
      start = time.perf_counter()
      lifter.lift(keypoints, (1000, 1000))
      times.append(time.perf_counter() - start)
    best = min(times)
    rows.append({"model": name, "window": frames, "stride": lifter.stride,
                 "flip_test": flip_test, "batch_size": batch_size,
                 "sequence_frames": length, "seconds": round(best, 3),
                 "frames_per_s": round(length / best, 1),
                 "first_call_s": round(compile_s, 2)})
  return {"environment": environment(), "results": rows}
