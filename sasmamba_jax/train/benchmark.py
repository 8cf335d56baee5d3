"""Training throughput benchmark (run by ``experiments.benchmark_train``).

Times the trainer's own train step (same loss, optimizer, jit) on random clips of T
frames for each model, on the local devices, and reports clips per second and the
compiled step's memory. No dataset is read.
"""

from __future__ import annotations

import time
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from sasmamba_jax import benchmarking
from sasmamba_jax.train import config as config_lib
from sasmamba_jax.train import tasks
from sasmamba_jax.train import trainer


def bench_model(name: str, *, batch: int, frames: int, repeats: int,
                compute_dtype: str = "float32") -> dict[str, Any]:
  """One model's train step: clips/s, ms/step, memory, compile time."""
  cfg = config_lib.base_config()
  cfg.model.name = name
  if name != "mlp_baseline":
    cfg.model.kwargs.num_frames = frames
  cfg.compute_dtype = compute_dtype
  cfg.batch_size = batch
  task = tasks.create(config_lib.validate(cfg))
  tx, schedule = trainer.make_optimizer(cfg, steps_per_epoch=1000)
  graphdef, rest, state = trainer.init_train_state(task, tx, cfg.seed)
  step_fn = jax.jit(trainer.make_train_step(graphdef, rest, task, tx, schedule,
                                            jax.random.key(0)))
  rng = np.random.default_rng(0)
  joints = task.skeleton.num_joints
  batch_arrays = {
      "input_2d": jnp.asarray(rng.normal(size=(batch, frames, joints, 3)), jnp.float32),
      "label_3d": jnp.asarray(rng.normal(size=(batch, frames, joints, 3)), jnp.float32)}
  step = jnp.asarray(1, jnp.int32)
  start = time.perf_counter()
  compiled = step_fn.lower(state, batch_arrays, step).compile()
  compile_s = time.perf_counter() - start
  mem = benchmarking.compiled_memory_bytes(compiled)
  timing = benchmarking.time_compiled(compiled, (state, batch_arrays, step),
                                      repeats=repeats)
  peak = benchmarking.device_peak_bytes()
  return {
      "model": name,
      "params": int(sum(x.size for x in jax.tree.leaves(state["params"]))),
      "batch": batch,
      "frames": frames,
      "ms_per_step": timing["median_s"] * 1e3,
      "clips_per_s": batch / timing["median_s"],
      "mem_estimate_mib": mem["peak_estimate_bytes"] / 2**20 if mem else None,
      "device_peak_mib": peak / 2**20 if peak else None,
      "compile_s": compile_s,
  }


def run(names: Sequence[str], *, batch: int, frames: int, repeats: int,
        compute_dtype: str = "float32") -> dict[str, Any]:
  rows = []
  for name in names:
    row = bench_model(name, batch=batch, frames=frames, repeats=repeats,
                      compute_dtype=compute_dtype)
    print(benchmarking.format_table([row], list(row)), flush=True)
    rows.append(row)
  return {"environment": benchmarking.environment(), "batch": batch, "frames": frames,
          "compute_dtype": compute_dtype, "results": rows}
