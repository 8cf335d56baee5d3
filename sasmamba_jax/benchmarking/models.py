"""Benchmark of the registered models (run by ``experiments.benchmark_models``).

Per model, at T frames: parameter count, forward FLOPs per frame from XLA's cost
analysis, inference frames per second and the memory of the compiled forward.

XLA's cost analysis counts the body of a while loop once, whatever its trip count, so
the FLOPs are taken from a loop-free build of the same model: block pairs unrolled
(``scan_layers=False``) and the selective scan as a single chunk (``impl="chunked"``,
``chunk_size`` = T * J: one associative scan over the whole sequence, the arithmetic
the chunked scan does inside its chunks; the registry's ``loop_free_overrides``).
Timing and memory use the model as configured by default. Inputs are random
batches of the task's batch spec, turned into model inputs by the task.
"""

from __future__ import annotations

import time
from typing import Any, Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from sasmamba_jax import tasks
from sasmamba_jax.benchmarking import common
from sasmamba_jax.models import registry


def _inputs(task: tasks.Task, model: nnx.Module, batch: int) -> tuple[jax.Array, ...]:
  bound = task.bind(model)
  spec = bound.batch_spec(batch)
  return tuple(jnp.asarray(x) for x in bound.model_inputs(common.random_batch(spec)))


def _compiled_forward(model: nnx.Module, x: jax.Array):
  graphdef, state = nnx.split(model)
  fwd = jax.jit(lambda state, x: nnx.merge(graphdef, state)(*x))
  start = time.perf_counter()
  compiled = fwd.lower(state, x).compile()
  return compiled, state, time.perf_counter() - start


def _flops(compiled) -> float | None:
  analysis = compiled.cost_analysis()
  if isinstance(analysis, (list, tuple)):  # Older JAX: one dict per computation.
    analysis = analysis[0] if analysis else None
  return float(analysis["flops"]) if analysis and "flops" in analysis else None


def bench_model(name: str, *, batch: int, frames: int, repeats: int,
                flops: bool = True, task: str = "lifting_3d",
                **overrides: Any) -> dict[str, Any]:
  """Measures one registered model in inference mode; returns one result row."""
  the_task = tasks.create(tasks.get(task).default_config())
  config = registry.get_config(name, **overrides)
  if getattr(config, "num_frames", 0) is None or getattr(config, "num_frames",
                                                         frames) < frames:
    overrides = {**overrides, "num_frames": frames}
  model = registry.create(name, **overrides)
  model.eval()
  x = _inputs(the_task, model, batch)
  row: dict[str, Any] = {"model": name, "batch": batch, "frames": frames,
                         "params": registry.count_parameters(model),
                         "dtype": model.config.dtype}
  compiled, state, seconds = _compiled_forward(model, x)
  row["compile_s"] = seconds
  mem = common.compiled_memory_bytes(compiled)
  row["mem_estimate_mib"] = mem["peak_estimate_bytes"] / 2**20 if mem else None
  timing = common.time_compiled(compiled, (state, x), repeats=repeats)
  row["ms_per_clip_batch"] = timing["median_s"] * 1e3
  row["frames_per_s"] = batch * frames / timing["median_s"]
  peak = common.device_peak_bytes()
  row["device_peak_mib"] = peak / 2**20 if peak else None
  if flops:
    loop_free = registry.loop_free_overrides(name, model.config, frames)
    counted = registry.create(name, **{**overrides, **loop_free})
    counted.eval()
    compiled_flops, _, _ = _compiled_forward(counted, x)
    total = _flops(compiled_flops)
    row["gflops_per_frame"] = total / (batch * frames) / 1e9 if total else None
  return row


def run(names: Sequence[str], *, batch: int, frames: int, repeats: int,
        flops: bool = True, **overrides: Any) -> dict[str, Any]:
  """Benchmarks every model in ``names``; returns the JSON payload."""
  rows = []
  for name in names:
    row = bench_model(name, batch=batch, frames=frames, repeats=repeats, flops=flops,
                      **overrides)
    print(common.format_table([row], list(row)), flush=True)
    rows.append(row)
  return {
      "environment": common.environment(),
      "settings": {"batch": batch, "frames": frames, "repeats": repeats,
                   "overrides": {k: str(v) for k, v in overrides.items()},
                   "mode": "inference (model.eval()), forward only, jitted"},
      "flops_note": ("XLA cost analysis of a loop-free build (scan_layers=False, "
                     "selective scan as one chunk); XLA counts a while-loop body once"),
      "results": rows,
  }
