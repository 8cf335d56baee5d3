"""Benchmark of the ViTPose models (run by ``experiments.benchmark_vitpose``).

Per model, at one crop size: parameter counts (backbone, head, all), forward GFLOPs
per image from XLA's cost analysis (the model has no loops, so the count is
complete), inference images per second and the memory of the compiled forward.
Weights are random (NumPy, filled into a placeholder model: eager construction
draws every initial weight, which only costs time); speed does not depend on them.
"""

from __future__ import annotations

import time
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from sasmamba_jax.benchmarking import common
from sasmamba_jax.checkpoints import vitpose as vitpose_weights
from sasmamba_jax.models import registry


def _count(module: nnx.Module) -> int:
  return int(sum(np.prod(p.shape) for p in jax.tree.leaves(nnx.state(module, nnx.Param))))


def random_model(name: str, seed: int = 0, **overrides: Any) -> nnx.Module:
  """Registered ViTPose ``name`` with random weights, built fast, in eval mode."""
  config = registry.get_config(name, **overrides)
  model = vitpose_weights.placeholder_model(config, seed)
  rng = np.random.default_rng(seed)
  params = nnx.state(model, nnx.Param)
  nnx.update(model, jax.tree.map(
      lambda p: jnp.asarray(rng.normal(0.0, 0.02, p.shape).astype(np.float32)), params))
  stats = nnx.state(model, nnx.BatchStat)
  nnx.update(model, jax.tree.map(
      lambda s: jnp.ones(s.shape, s.dtype) if s.dtype == jnp.float32 else s, stats))
  model.eval()
  return model


def bench_model(name: str, *, batch: int, repeats: int, image_size: Sequence[int] |
                None = None, **overrides: Any) -> dict[str, Any]:
  """Measures one registered ViTPose forward (heatmaps, eval mode); one result row."""
  if registry.kind(name) != "pose2d":
    raise ValueError(f"{name} is not a ViTPose model; choose from "
                     f"{', '.join(registry.names('pose2d'))}")
  model = random_model(name, **overrides)
  size = tuple(image_size or model.config.image_size)
  x = jnp.asarray(np.random.default_rng(1).normal(size=(batch, *size, 3)), jnp.float32)
  graphdef, state = nnx.split(model)
  fwd = jax.jit(lambda state, x: nnx.merge(graphdef, state)(x))
  start = time.perf_counter()
  compiled = fwd.lower(state, x).compile()
  compile_s = time.perf_counter() - start
  analysis = compiled.cost_analysis()
  if isinstance(analysis, (list, tuple)):
    analysis = analysis[0] if analysis else None
  flops = float(analysis["flops"]) if analysis and "flops" in analysis else None
  mem = common.compiled_memory_bytes(compiled)
  timing = common.time_compiled(compiled, (state, x), repeats=repeats)
  peak = common.device_peak_bytes()
  return {
      "model": name, "image": f"{size[0]}x{size[1]}", "batch": batch,
      "dtype": model.config.dtype,
      "params_backbone": _count(model.backbone),
      "params_head": _count(model.keypoint_head),
      "params": registry.count_parameters(model),
      "gflops_per_image": flops / batch / 1e9 if flops else None,
      "images_per_s": batch / timing["median_s"],
      "ms_per_batch": timing["median_s"] * 1e3,
      "compile_s": compile_s,
      "mem_estimate_mib": mem["peak_estimate_bytes"] / 2**20 if mem else None,
      "device_peak_mib": peak / 2**20 if peak else None,
  }


def run(names: Sequence[str], *, batch: int, repeats: int,
        image_size: Sequence[int] | None = None, **overrides: Any) -> dict[str, Any]:
  """Benchmarks every model in ``names``; returns the JSON payload."""
  rows = []
  for name in names:
    row = bench_model(name, batch=batch, repeats=repeats, image_size=image_size,
                      **overrides)
    print(common.format_table([row], list(row)), flush=True)
    rows.append(row)
  return {
      "environment": common.environment(),
      "settings": {"batch": batch, "repeats": repeats,
                   "image_size": list(image_size) if image_size else "configured",
                   "overrides": {k: str(v) for k, v in overrides.items()},
                   "mode": "inference (model.eval()), forward to heatmaps, jitted"},
      "results": rows,
  }
