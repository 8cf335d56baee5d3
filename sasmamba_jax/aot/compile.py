"""The trainer's own train step and predict step, compiled for a machine we lack.

``compile_train_step(config, target)`` lays out the run of ``config`` exactly as
``experiments.train`` would (the task's model, loss and batch spec, the optimizer,
the data / FSDP sharding over the target's devices: ``trainer.plan_train_state``,
``trainer.make_train_step``, ``trainer.jit_train_step``), with abstract arrays on
the target's compile-only devices, and compiles it with XLA for that target. No
parameter is initialised and nothing runs, so a ViTPose-H run is planned on a
laptop. ``compile_predict`` does the same for the evaluation step
(``evaluator.jit_predict``).

The selective scan's ``impl="auto"`` is resolved for the target's platform while
tracing (``ops.dispatch.lowering_for``), so the H100 build holds what an H100 would
run, not this machine's choice.

One difference from a compile on the device itself, and only on GPUs: without a
device XLA cannot autotune its GEMM fusions and takes one default Triton tiling per
fusion without trying it (``autotuner_pass.cc``: deviceless targets use default
configs). A GEMM whose operand is a transpose of rows that the default 16-row tile
cannot follow (rows = batch x frames x 17 joints, or batch x heads x tokens) then
fails with "Couldn't find output tile sizes". On the device the autotuner compiles
every candidate tiling, skips those that fail this way, and keeps cuBLAS as a
candidate (``gemm_fusion_autotuner.cc``, ``CompileAll``), so the same program
compiles. Such a compile is retried with Triton GEMM fusions off for that one
compilation (cuBLAS for every GEMM, which the device autotuner could also pick),
and the report says so (``gemm_fallback``).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
import re
import time
from typing import Any

from flax import nnx
import jax
from jax.experimental.compilation_cache import compilation_cache as jax_compilation_cache
import jax.numpy as jnp
import ml_collections
import numpy as np

from sasmamba_jax import tasks
from sasmamba_jax.aot import targets as targets_lib
from sasmamba_jax.ops import dispatch
from sasmamba_jax.train import config as config_lib
from sasmamba_jax.train import evaluator as evaluator_lib
from sasmamba_jax.train import optimizers
from sasmamba_jax.train import sharding
from sasmamba_jax.train import trainer

#: XLA's error for a default GEMM tiling it cannot apply (deviceless compiles only).
DEVICELESS_TILING_ERROR = "Couldn't find output tile sizes"
#: The per-compilation option of the retry (never a global XLA flag).
GEMM_FALLBACK_OPTIONS = {"xla_gpu_enable_triton_gemm": False}
#: How XLA refuses a program larger than the device (the TPU compiler checks).
_OUT_OF_MEMORY = re.compile(r"RESOURCE_EXHAUSTED.*?required for [^(]*\(([\d.]+)([KMGT]?)\)")


class OutOfMemory(RuntimeError):
  """The compiler refused the step: it needs more memory than the device has."""

  def __init__(self, message: str, required_bytes: int):
    super().__init__(message)
    self.required_bytes = required_bytes


def _out_of_memory(error: Exception) -> OutOfMemory | None:
  text = " ".join(str(error).split())
  m = _OUT_OF_MEMORY.search(text)
  if not m:
    return None
  scale = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}[m.group(2)]
  return OutOfMemory(text[:400], int(float(m.group(1)) * scale))


@dataclasses.dataclass
class Report:
  """What one ahead-of-time compile gave.

  Byte counts are per device: XLA's ``memory_analysis`` of the compiled step
  (arguments, outputs, donated outputs that reuse their arguments, temporaries)
  and, from the state's shardings, what its parameters, frozen parameters, carried
  model state and optimizer state take.
  """

  step: str                  # "train" or "predict"
  model: str
  target: str
  num_devices: int
  param_sharding: str
  batch_size: int            # global
  compile_seconds: float
  argument_bytes: int
  output_bytes: int
  alias_bytes: int
  temp_bytes: int
  params_bytes: int
  frozen_bytes: int
  model_state_bytes: int
  opt_state_bytes: int
  gemm_fallback: bool = False
  #: the compiler's refusal when the step cannot fit the device at all (TPU); the
  #: temporaries are then what it said they need, the arguments the state's
  out_of_memory: str | None = None

  @property
  def peak_bytes(self) -> int:
    """Device memory the step needs: inputs + outputs + temporaries - reuse."""
    return (self.argument_bytes + self.output_bytes + self.temp_bytes
            - self.alias_bytes)

  def as_dict(self) -> dict[str, Any]:
    return {**dataclasses.asdict(self), "peak_bytes": self.peak_bytes}


def _shapes_only(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """``config`` without what needs files: a backbone checkpoint has the shapes of
  a new backbone of the same name."""
  config = copy.deepcopy(config)
  backbone = config.task.get("backbone")
  if backbone is not None and backbone.get("checkpoint"):
    with config.unlocked():
      config.task.backbone.checkpoint = ""
  return config


def _concrete(tree: Any) -> Any:
  """Arrays for the RNG variables of an abstract model (constants of the step,
  replaced from (seed, step) at every step)."""
  def one(x):
    if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
      key = jax.random.key(0)
      return key if x.shape == () else jax.random.split(key, math.prod(x.shape)
                                                         ).reshape(x.shape)
    return jnp.zeros(x.shape, x.dtype)
  return jax.tree.map(one, tree)


def _abstract(tree: Any, shardings: Any) -> Any:
  return jax.tree.map(lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s),
                      tree, shardings)


def _bytes_per_device(tree: Any, shardings: Any) -> int:
  total = 0
  for x, s in zip(jax.tree.leaves(tree), jax.tree.leaves(shardings)):
    total += math.prod(s.shard_shape(x.shape)) * np.dtype(x.dtype).itemsize
  return total


@dataclasses.dataclass
class _Run:
  """A run's task bound to its abstract model, and the mesh on the target."""

  config: ml_collections.ConfigDict
  bound: tasks.BoundTask
  model: nnx.Module
  mesh: jax.sharding.Mesh
  target: targets_lib.Target


def _setup(config: ml_collections.ConfigDict, target: str | targets_lib.Target,
           param_sharding: str | None) -> _Run:
  target = targets_lib.get(target) if isinstance(target, str) else target
  config = config_lib.validate(_shapes_only(config))
  if param_sharding is not None:
    with config.unlocked():
      config.mesh.param_sharding = param_sharding
  mesh = targets_lib.mesh(target)
  task = tasks.create(config.task)
  model = nnx.eval_shape(lambda: task.build_model(
      config.model, rngs=nnx.Rngs(params=config.seed, dropout=config.seed + 1),
      dtype=config.compute_dtype))
  bound = task.bind(model)
  # A run on precomputed features (the video task's feature cache) trains on them
  # instead of crops: the binding its prepare_data would give.
  if config.task.get("cache_features") and "cached" in {
      f.name for f in dataclasses.fields(bound)}:
    bound = dataclasses.replace(bound, cached=True)
  return _Run(config, bound, model, mesh, target)


def _batch(run: _Run, batch_size: int) -> dict[str, jax.ShapeDtypeStruct]:
  n = run.target.num_devices
  if batch_size % n:
    raise ValueError(f"batch size {batch_size} must be a multiple of the "
                     f"{n} devices of {run.target.name}")
  spec = run.bound.batch_spec(batch_size)
  split = sharding.batch_sharding(run.mesh)
  return {k: jax.ShapeDtypeStruct(v.shape, v.dtype, sharding=split)
          for k, v in spec.items()}


@contextlib.contextmanager
def no_persistent_cache():
  """Compiles for compile-only devices stay out of JAX's persistent cache: no
  client can load them back, so an entry would only cost disk and a warning.

  JAX decides once per process whether the cache is used: the flag alone does not
  turn an initialized cache off, so the decision is reset on the way in and out.
  """
  enabled = jax.config.jax_enable_compilation_cache
  jax.config.update("jax_enable_compilation_cache", False)
  jax_compilation_cache.reset_cache()
  try:
    yield
  finally:
    jax.config.update("jax_enable_compilation_cache", enabled)
    jax_compilation_cache.reset_cache()


def _compile(jitted, args: tuple[Any, ...], target: targets_lib.Target
             ) -> tuple[Any, float, bool]:
  start = time.perf_counter()
  with dispatch.lowering_for((target.platform,)):
    lowered = jitted.trace(*args).lower()
  with no_persistent_cache():
    try:
      try:
        compiled, fallback = lowered.compile(), False
      except Exception as e:  # pylint: disable=broad-except  # XLA's JaxRuntimeError.
        if target.platform != "cuda" or DEVICELESS_TILING_ERROR not in str(e):
          raise
        compiled = lowered.compile(compiler_options=GEMM_FALLBACK_OPTIONS)
        fallback = True
    except Exception as e:  # pylint: disable=broad-except
      oom = _out_of_memory(e)
      if oom is None:
        raise
      raise oom from e
  return compiled, time.perf_counter() - start, fallback


def _report(step: str, run: _Run, batch_size: int, result, state: dict[str, Any],
            shardings: dict[str, Any]) -> Report:
  """The Report of ``result``: (compiled, seconds, fallback) or an OutOfMemory."""
  part = lambda k: (_bytes_per_device(state[k], shardings[k]) if k in state else 0)
  common = dict(
      step=step, model=run.config.model.name, target=run.target.name,
      num_devices=run.target.num_devices,
      param_sharding=run.config.mesh.param_sharding, batch_size=batch_size,
      params_bytes=part("params"), frozen_bytes=part("frozen"),
      model_state_bytes=part("model_state"), opt_state_bytes=part("opt_state"))
  if isinstance(result, OutOfMemory):
    state_bytes = sum(common[k] for k in ("params_bytes", "frozen_bytes",
                                          "model_state_bytes", "opt_state_bytes"))
    return Report(**common, compile_seconds=0.0, argument_bytes=state_bytes,
                  output_bytes=0, alias_bytes=0, temp_bytes=result.required_bytes,
                  out_of_memory=str(result))
  compiled, seconds, fallback = result
  mem = compiled.memory_analysis()
  return Report(**common, compile_seconds=round(seconds, 2),
                argument_bytes=int(mem.argument_size_in_bytes),
                output_bytes=int(mem.output_size_in_bytes),
                alias_bytes=int(mem.alias_size_in_bytes),
                temp_bytes=int(mem.temp_size_in_bytes), gemm_fallback=fallback)


def _compile_or_oom(jitted, args, target):
  try:
    return _compile(jitted, args, target)
  except OutOfMemory as oom:
    return oom


def compile_train_step(config: ml_collections.ConfigDict,
                       target: str | targets_lib.Target, *,
                       batch_size: int | None = None,
                       param_sharding: str | None = None) -> tuple[Any, Report]:
  """Compiles ``config``'s train step for ``target`` (nothing is initialised or run).

  Args:
    config: a run config (``configs/*.py``); a backbone checkpoint is not read.
    target: a ``targets.TARGETS`` name or Target; the run's mesh spans its devices.
    batch_size: global batch (default: the config's).
    param_sharding: "replicated" or "fsdp" (default: the config's ``mesh``).

  Returns:
    (the ``jax.stages.Compiled`` step, its Report); (None, a Report with
    ``out_of_memory``) when the compiler refuses a step larger than the device.

  Raises:
    RuntimeError: this machine cannot compile for ``target`` (what to install).
  """
  run = _setup(config, target, param_sharding)
  c = run.config
  batch_size = batch_size or c.batch_size
  ts, opt_state = trainer.plan_train_state(
      run.model, c.optimizer, run.mesh, c.mesh.param_sharding,
      steps_per_epoch=1000, total_steps=c.num_epochs * 1000)
  state = {**ts.state, "opt_state": opt_state}
  step_fn = trainer.make_train_step(ts.graphdef, _concrete(ts.rest), run.bound, ts.tx,
                                    ts.schedule, jax.random.key(c.seed),
                                    optimizers.trainable_filter(c.optimizer))
  jitted = trainer.jit_train_step(step_fn, ts.shardings, run.mesh)
  step = jax.ShapeDtypeStruct((), jnp.int32, sharding=sharding.replicated(run.mesh))
  result = _compile_or_oom(
      jitted, (_abstract(state, ts.shardings), _batch(run, batch_size), step),
      run.target)
  compiled = None if isinstance(result, OutOfMemory) else result[0]
  return compiled, _report("train", run, batch_size, result, state, ts.shardings)


def compile_predict(config: ml_collections.ConfigDict,
                    target: str | targets_lib.Target, *,
                    batch_size: int | None = None,
                    param_sharding: str | None = None) -> tuple[Any, Report]:
  """Compiles ``config``'s evaluation step (the task's ``predict``: flip test and
  decoding included) for ``target``; arguments as ``compile_train_step``."""
  run = _setup(config, target, param_sharding)
  c = run.config
  batch_size = batch_size or c.eval_batch_size
  graphdef, rest, variables = evaluator_lib.split_model(run.model, c.optimizer.freeze)
  shardings = sharding.state_shardings(variables, run.mesh, c.mesh.param_sharding)
  variables = {k: v for k, v in variables.items() if k in evaluator_lib.EVAL_KEYS}
  shardings = {k: shardings[k] for k in variables}
  jitted = evaluator_lib.jit_predict(run.bound, graphdef, _concrete(rest), shardings,
                                     run.mesh)
  result = _compile_or_oom(
      jitted, (_abstract(variables, shardings), _batch(run, batch_size)), run.target)
  compiled = None if isinstance(result, OutOfMemory) else result[0]
  return compiled, _report("predict", run, batch_size, result, variables, shardings)
