"""Training throughput benchmark (run by ``experiments.benchmark_train``).

Times the trainer's own train step (same task loss, optimizer, jit) on random
batches of the task's batch spec for each model, on the local devices, and reports
examples (clips) per second and the compiled step's memory. No dataset is read.
"""

from __future__ import annotations

import time
from typing import Any, Sequence

from flax import nnx
import jax
import jax.numpy as jnp

from sasmamba_jax import tasks
from sasmamba_jax.benchmarking import common
from sasmamba_jax.train import config as config_lib
from sasmamba_jax.train import optimizers
from sasmamba_jax.train import sharding
from sasmamba_jax.train import trainer


def bench_model(name: str, *, batch: int, frames: int, repeats: int,
                compute_dtype: str = "float32", task: str = "lifting_3d",
                model_kwargs: dict[str, Any] | None = None,
                task_overrides: dict[str, Any] | None = None) -> dict[str, Any]:
  """One model's train step: clips/s, ms/step, memory, compile time.

  Args:
    name: registered model.
    batch, frames: global batch and clip length T.
    repeats: timed steps.
    compute_dtype: the config's ``compute_dtype``.
    task: the task family whose loss and batch spec the step uses.
    model_kwargs: more ``model.kwargs`` (e.g. ``impl``).
    task_overrides: ``task`` config keys to set (e.g. ``{"input_size": (48, 64)}``).
  """
  cfg = config_lib.base_config(task)
  cfg.model.name = name
  cfg.model.num_frames = frames
  for key, value in (model_kwargs or {}).items():
    cfg.model[key] = value
  for key, value in (task_overrides or {}).items():
    node = cfg.task
    *parents, leaf = key.split(".")
    for parent in parents:
      node = node[parent]
    node[leaf] = value
  cfg.compute_dtype = compute_dtype
  cfg.batch_size = batch
  cfg = config_lib.validate(cfg)
  the_task = tasks.create(cfg.task)
  mesh = sharding.make_mesh()
  model = sharding.create_sharded(
      lambda: the_task.build_model(cfg.model, rngs=nnx.Rngs(params=0, dropout=1),
                                   dtype=cfg.compute_dtype), mesh, "replicated")
  ts = trainer.make_train_state(model, cfg.optimizer, mesh, steps_per_epoch=1000,
                                total_steps=1000)
  bound = the_task.bind(model)
  step_fn = trainer.jit_train_step(
      trainer.make_train_step(ts.graphdef, ts.rest, bound, ts.tx, ts.schedule,
                              jax.random.key(0),
                              optimizers.trainable_filter(cfg.optimizer)),
      ts.shardings, mesh)
  batch_arrays = {k: jnp.asarray(v) for k, v in common.random_batch(
      bound.batch_spec(batch)).items()}
  step = jnp.asarray(1, jnp.int32)
  start = time.perf_counter()
  compiled = step_fn.lower(ts.state, batch_arrays, step).compile()
  compile_s = time.perf_counter() - start
  mem = common.compiled_memory_bytes(compiled)
  timing = common.time_compiled(compiled, (ts.state, batch_arrays, step),
                                thread_first=True,
                                repeats=repeats)
  peak = common.device_peak_bytes()
  return {
      "model": name,
      "params": int(sum(x.size for x in jax.tree.leaves(ts.state["params"]))),
      "batch": batch,
      "frames": frames,
      "ms_per_step": timing["median_s"] * 1e3,
      "clips_per_s": batch / timing["median_s"],
      "mem_estimate_mib": mem["peak_estimate_bytes"] / 2**20 if mem else None,
      "device_peak_mib": peak / 2**20 if peak else None,
      "compile_s": compile_s,
  }


def run(names: Sequence[str], *, batch: int, frames: int, repeats: int,
        compute_dtype: str = "float32", task: str = "lifting_3d") -> dict[str, Any]:
  rows = []
  for name in names:
    row = bench_model(name, batch=batch, frames=frames, repeats=repeats,
                      compute_dtype=compute_dtype, task=task)
    print(common.format_table([row], list(row)), flush=True)
    rows.append(row)
  return {"environment": common.environment(), "task": task, "batch": batch,
          "frames": frames, "compute_dtype": compute_dtype, "results": rows}
