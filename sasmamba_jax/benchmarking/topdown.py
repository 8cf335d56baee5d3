"""Benchmark of the top-down path (run by ``experiments.benchmark_topdown``).

For a registered ViTPose (random weights: speed does not depend on them), on the local
backend: the jitted forward alone (crops/s on (B, 256, 192, 3) crops) and
``topdown.estimate_2d`` end to end (host image -> device, crop, normalise, model with
the flip test, UDP DARK decoding, keypoints back on the host) on synthetic
640 x 480 images with P people each, reported as people/s and images/s. Compilation
is excluded from the timings (one warm-up call) and reported apart.
"""

from __future__ import annotations

import time
from typing import Any, Sequence

import jax
import numpy as np
from flax import nnx

from sasmamba_jax import topdown
from sasmamba_jax.benchmarking import common
from sasmamba_jax.codecs import HeatmapCodec
from sasmamba_jax.models import registry


def _boxes(rng: np.random.Generator, people: int, width: int, height: int) -> np.ndarray:
  w = rng.uniform(0.15, 0.4, people) * width
  h = rng.uniform(0.3, 0.8, people) * height
  x = rng.uniform(0, width - w)
  y = rng.uniform(0, height - h)
  return np.stack([x, y, w, h], axis=1)


def bench(name: str, *, images: int, people: int, batch: int, repeats: int,
          flip: bool = True, image_size: Sequence[int] = (640, 480),
          dtype: str = "float32") -> dict[str, Any]:
  """One result row: forward crops/s and estimate_2d people/s and images/s."""
  model = registry.create(name, dtype=dtype)
  model.eval()
  crop_h, crop_w = model.config.image_size
  params = sum(int(np.prod(v.shape)) for v in jax.tree.leaves(nnx.state(model, nnx.Param)))

  graphdef, state = nnx.split(model)
  forward = jax.jit(lambda s, x: nnx.merge(graphdef, s)(x))
  crops = jax.random.normal(jax.random.key(0), (batch, crop_h, crop_w, 3))
  start = time.perf_counter()
  compiled = forward.lower(state, crops).compile()
  forward_compile_s = time.perf_counter() - start
  fwd = common.time_compiled(compiled, (state, crops), repeats=repeats)

  rng = np.random.default_rng(0)
  width, height = image_size
  frames = [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(images)]
  boxes = [_boxes(rng, people, width, height) for _ in range(images)]
  kwargs = dict(codec=HeatmapCodec((crop_w, crop_h)), flip=flip, batch_size=batch)
  start = time.perf_counter()
  topdown.estimate_2d(model, frames, boxes, **kwargs)          # compiles
  warmup_s = time.perf_counter() - start
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    topdown.estimate_2d(model, frames, boxes, **kwargs)
    times.append(time.perf_counter() - start)
  seconds = float(np.median(times))
  return {
      "model": name, "params": params, "dtype": dtype, "crop": f"{crop_h}x{crop_w}",
      "batch": batch, "flip": flip, "images": images, "people_per_image": people,
      "forward_crops_per_s": batch / fwd["median_s"],
      "forward_compile_s": round(forward_compile_s, 2),
      "estimate_2d_people_per_s": images * people / seconds,
      "estimate_2d_images_per_s": images / seconds,
      "estimate_2d_first_call_s": round(warmup_s, 2),
  }


def run(names: Sequence[str], **kwargs: Any) -> dict[str, Any]:
  return {"environment": common.environment(), "settings": kwargs,
          "results": [bench(name, **kwargs) for name in names]}
