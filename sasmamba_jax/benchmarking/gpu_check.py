"""The on-device check of the GPU path (``python -m experiments.check_gpu``).

Prepared on machines without a GPU, run on the first one lent (about 10 minutes on
an H100). Parts, each timed and recorded in one JSON file:

* ``kernel``: the compiled Pallas scan, forward and backward, against the
  sequential reference at the PoseMamba-S / SasMamba training shape (the two call
  the scan alike) and at an odd small shape;
* ``scans``: every scan implementation timed forward and forward+backward at that
  shape (``benchmarking.scan``), with the forward's share of the memory-bandwidth
  floor;
* ``train``: the train steps of sasmamba, posemamba_s (T 243, batch 16) and
  glsmamba_b (ViTPose-B crops, T 5, batch 8) with ``impl="auto"`` and
  ``impl="pallas"`` (``benchmarking.train_step``);
* ``tune``: the Pallas kernel's launch settings (warps, stages, channel blocks,
  chunks) over a small grid at the PoseMamba-S shape, forward+backward.

``smoke=True`` runs every part at tiny sizes with the Pallas interpreter in place of
the compiled kernel: what CI runs, on CPU, so that the GPU day finds a working
script.
"""

from __future__ import annotations

import functools
import time
import traceback
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from sasmamba_jax.benchmarking import common
from sasmamba_jax.benchmarking import scan as scan_bench
from sasmamba_jax.benchmarking import train_step
from sasmamba_jax.ops import dispatch
from sasmamba_jax.ops import scan_pallas

PARTS = ("kernel", "scans", "train", "tune")
#: Tolerances against the sequential scan, relative to the largest reference value
#: (the interpreted kernel's test tolerances, tests/ops/test_scan_pallas.py).
FORWARD_TOLERANCE = 2e-5
GRADIENT_TOLERANCE = 1e-3
#: The tuning grid (``scan_pallas.scan`` keywords), searched one knob at a time from
#: the defaults (the first value of each), keeping the best value of each knob
#: before moving to the next: 8 settings instead of the 54 of the full product.
TUNE_GRID = {"num_warps": (4, 2, 8), "num_stages": (1, 2),
             "block_channels": (32, 16, 64), "chunk_size": (64, 32, 128)}


def _kernel_impl(smoke: bool) -> str:
  return "pallas_interpret" if smoke else "pallas"


def _scan_loss(impl: str, weights: jax.Array, **kwargs) -> Callable[..., Any]:
  def loss(a):
    y = dispatch.selective_scan(**a, delta_softplus=True, impl=impl, **kwargs)
    return jnp.sum(y.astype(jnp.float32) * weights), y
  return jax.jit(jax.value_and_grad(loss, has_aux=True))


def check_kernel(shape: scan_bench.ScanShape, impl: str) -> dict[str, Any]:
  """Forward and every gradient of ``impl`` against "sequential" at ``shape``."""
  args = scan_bench.make_inputs(shape)
  weights = jax.random.normal(jax.random.PRNGKey(1), args["u"].shape, jnp.float32)
  (_, y), grads = _scan_loss(impl, weights)(args)
  (_, y_ref), ref = _scan_loss("sequential", weights)(args)
  scale = float(jnp.abs(y_ref).max())
  row = {"shape": shape.name, "impl": impl,
         "forward_max_error": float(jnp.abs(y - y_ref).max()) / scale}
  worst = 0.0
  for name in ref:
    g, g_ref = np.asarray(grads[name], np.float64), np.asarray(ref[name], np.float64)
    err = float(np.abs(g - g_ref).max() / max(np.abs(g_ref).max(), 1e-30))
    row[f"d_{name}_max_error"] = err
    worst = max(worst, err)
  row["gradient_max_error"] = worst
  row["ok"] = (row["forward_max_error"] <= FORWARD_TOLERANCE
               and worst <= GRADIENT_TOLERANCE)
  return row


def time_tuning(shape: scan_bench.ScanShape, settings: dict[str, Any], *,
                interpret: bool, repeats: int) -> dict[str, Any]:
  """Forward+backward time of the Pallas kernel with ``settings``."""
  args = scan_bench.make_inputs(shape)
  launch = {k: v for k, v in settings.items() if k != "chunk_size"}
  fn = functools.partial(scan_pallas.scan, interpret=interpret, **launch)
  weights = jnp.ones(args["u"].shape, jnp.float32) * 1e-3

  def loss(a):
    y, _ = fn(a["u"], a["delta"], a["A"], a["B"], a["C"], a["D"], a["z"],
              a["delta_bias"], True, None, settings.get("chunk_size"))
    return jnp.sum(y.astype(jnp.float32) * weights)

  compiled = jax.jit(jax.grad(loss)).lower(args).compile()
  timing = common.time_compiled(compiled, (args,), repeats=repeats)
  return {**settings, "fwd_bwd_ms": timing["median_s"] * 1e3,
          "fwd_bwd_min_ms": timing["min_s"] * 1e3}


def _tuning_rows(shape, *, interpret: bool, repeats: int, limit: int | None):
  """Greedy search over ``TUNE_GRID``; returns (every row, the best row)."""
  best_settings = {k: values[0] for k, values in TUNE_GRID.items()}
  rows: list[dict[str, Any]] = []
  tried: dict[tuple[Any, ...], dict[str, Any]] = {}

  def measure(settings):
    key = tuple(settings.values())
    if key not in tried:
      try:
        row = time_tuning(shape, settings, interpret=interpret, repeats=repeats)
      except Exception as e:  # pylint: disable=broad-except  # Triton refused it.
        row = {**settings, "error": f"{type(e).__name__}: {str(e)[:300]}"}
      tried[key] = row
      rows.append(row)
    return tried[key].get("fwd_bwd_ms", float("inf"))

  for knob, values in TUNE_GRID.items():
    for value in values:
      if limit is not None and len(rows) >= limit:
        break
      candidate = dict(best_settings, **{knob: value})
      if measure(candidate) < measure(best_settings):
        best_settings = candidate
  timed = [r for r in rows if "fwd_bwd_ms" in r]
  best = min(timed, key=lambda r: r["fwd_bwd_ms"]) if timed else None
  return rows, best


def run(parts: Sequence[str] = PARTS, *, smoke: bool = False, repeats: int = 5,
        train_models: Sequence[str] = ("sasmamba", "posemamba_s", "glsmamba_b"),
        log: Callable[[str], None] = print) -> dict[str, Any]:
  """Runs ``parts`` (on the local GPU, or tiny and interpreted with ``smoke``).

  ``train_models`` are the train steps the ``train`` part times (with ``smoke``,
  glsmamba_b stands for its test size, glsmamba_tiny).

  A part that fails is recorded with its error and the rest still run.

  Returns:
    The JSON payload (environment, per-part results and seconds, failures).
  """
  unknown = [p for p in parts if p not in PARTS]
  if unknown:
    raise ValueError(f"unknown parts {unknown}; choose from {', '.join(PARTS)}")
  if not smoke and not scan_pallas.can_run():
    raise RuntimeError(
        "the on-device check needs a CUDA GPU with compute capability >= 8.0 "
        f"(found {jax.devices()[0].device_kind} on the {jax.default_backend()} "
        "backend); --smoke runs it at tiny sizes on any machine")
  impl = _kernel_impl(smoke)
  model_shape = scan_bench.SHAPES["tiny" if smoke else "posemamba_s"]
  odd = scan_bench.ScanShape("odd", 2, 151, 24, 5, 3)
  payload: dict[str, Any] = {"environment": common.environment(), "smoke": smoke,
                             "kernel_impl": impl, "parts": {}, "failures": []}

  def part(name, fn):
    start = time.perf_counter()
    log(f"== {name}")
    try:
      result = fn()
    except Exception as e:  # pylint: disable=broad-except  # Keep the other parts.
      result = {"error": f"{type(e).__name__}: {e}",
                "traceback": traceback.format_exc(limit=8)}
      payload["failures"].append(name)
    payload["parts"][name] = {"seconds": round(time.perf_counter() - start, 1),
                              "result": result}
    log(f"   {name}: {payload['parts'][name]['seconds']} s")

  if "kernel" in parts:
    def kernel():
      # Smoke: the tiny shape only (tests/ops test the interpreted kernel at odd ones).
      rows = [check_kernel(s, impl) for s in ((model_shape,) if smoke
                                                 else (odd, model_shape))]
      for r in rows:
        log(f"   {r['shape']}: forward {r['forward_max_error']:.2e}, gradients "
            f"{r['gradient_max_error']:.2e} -> {'ok' if r['ok'] else 'WRONG'}")
      if not all(r["ok"] for r in rows):
        payload["failures"].append("kernel: results differ from the reference")
      return rows
    part("kernel", kernel)
  if "scans" in parts:
    impls = ["sequential", impl] if smoke else scan_bench.default_impls()
    part("scans", lambda: scan_bench.run([model_shape.name], impls, [32, 64],
                                         repeats)["results"])
  if "train" in parts:
    def train():
      rows = []
      frames, batch = (9, 2) if smoke else (243, 16)
      models = {"sasmamba": ("sasmamba", "lifting_3d", frames, batch),
                "posemamba_s": ("posemamba_s", "lifting_3d", frames, batch),
                "glsmamba_b": ("glsmamba_tiny" if smoke else "glsmamba_b",
                               "pose_2d_video", 3 if smoke else 5, 2 if smoke else 8)}
      unknown = [m for m in train_models if m not in models]
      if unknown:
        raise ValueError(f"train_models: unknown {unknown}; choose from {list(models)}")
      for name, task, t, b in (models[m] for m in train_models):
        for choice in ("auto", impl):
          kwargs = {"impl": choice}
          overrides = {}
          if smoke and task == "lifting_3d":
            kwargs.update(dim=16, depth=1)
          if smoke and task == "pose_2d_video":
            overrides = {"backbone.name": "vitpose_tiny", "input_size": (48, 64)}
          row = train_step.bench_model(name, batch=b, frames=t, repeats=repeats,
                                       task=task, model_kwargs=kwargs,
                                       task_overrides=overrides)
          row["impl"] = choice
          log(f"   {name} impl={choice}: {row['ms_per_step']:.1f} ms/step, "
              f"{row['clips_per_s']:.1f} clips/s")
          rows.append(row)
      return rows
    part("train", train)
  if "tune" in parts:
    def tune():
      rows, best = _tuning_rows(model_shape, interpret=smoke, repeats=repeats,
                                limit=2 if smoke else None)
      log(f"   best: {best}")
      return {"shape": model_shape.name, "rows": rows, "best": best}
    part("tune", tune)
  return payload
