"""Benchmark of the selective-scan implementations (run by ``experiments.benchmark_scan``)."""

from __future__ import annotations

import dataclasses
import functools
import os
from typing import Any, Sequence

import jax
import jax.numpy as jnp

from sasmamba_jax.benchmarking import common
from sasmamba_jax.ops import dispatch as scan_lib


@dataclasses.dataclass(frozen=True)
class ScanShape:
  name: str
  batch: int
  length: int
  channels: int
  d_state: int
  groups: int


SHAPES = {
    # PoseMamba-S training step: batch 16, K * d_inner = 4 * 128 channels,
    # L = T * J = 243 * 17, grouped B/C per scan direction.
    "posemamba_s": ScanShape("posemamba_s", 16, 243 * 17, 512, 16, 4),
    "small": ScanShape("small", 2, 27 * 17, 128, 16, 4),
    # The quickstart model's training step (configs/synthetic_sasmamba.py).
    "quickstart": ScanShape("quickstart", 16, 27 * 17, 4 * 64, 16, 4),
    "tiny": ScanShape("tiny", 1, 40, 16, 4, 2),   # smoke tests of this script
}


# Peak HBM bandwidth (GB/s) by device kind, to report the fraction a kernel reaches.
PEAK_BANDWIDTH_GBPS = {
    "NVIDIA H100 80GB HBM3": 3350.0,   # SXM
    "NVIDIA H100 PCIe": 2000.0,
    "NVIDIA H100 NVL": 3900.0,
    "NVIDIA H200": 4800.0,
    "NVIDIA A100-SXM4-80GB": 2039.0,
    "NVIDIA A100-SXM4-40GB": 1555.0,
}


def default_impls() -> list[str]:
  """Every implementation that runs natively here (the interpreter is test-only)."""
  return [name for name in scan_lib.available_impls()
          if name != "pallas_interpret" and scan_lib.can_run(name)]


def make_inputs(shape: ScanShape, seed: int = 0, dtype=jnp.float32) -> dict[str, Any]:
  """Inputs distributed as in a trained model: softplus'd deltas around 0.01-0.1."""
  keys = jax.random.split(jax.random.PRNGKey(seed), 8)
  b, l, d, n, g = shape.batch, shape.length, shape.channels, shape.d_state, shape.groups
  normal = lambda k, s: jax.random.normal(k, s, dtype)
  return dict(
      u=normal(keys[0], (b, l, d)),
      delta=normal(keys[1], (b, l, d)),
      A=-jnp.tile(jnp.arange(1, n + 1, dtype=jnp.float32), (d, 1)),
      B=normal(keys[2], (b, l, g, n)),
      C=normal(keys[3], (b, l, g, n)),
      D=jnp.ones((d,), jnp.float32),
      z=normal(keys[4], (b, l, d)),
      delta_bias=jnp.full((d,), -4.0, jnp.float32),
  )


def _memory_budget_bytes() -> int:
  """Half of host RAM on CPU, 90% of the device's limit elsewhere."""
  stats = jax.devices()[0].memory_stats() or {}
  if "bytes_limit" in stats:
    return int(0.9 * stats["bytes_limit"])
  return int(0.5 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def _variants(impls: Sequence[str], chunk_sizes: Sequence[int]):
  for impl in impls:
    if impl == "chunked":
      for c in chunk_sizes:
        yield f"chunked/{c}", impl, {"chunk_size": c}
    else:
      yield impl, impl, {}


def bench_one(shape: ScanShape, impl: str, kwargs: dict[str, Any], *, repeats: int,
              budget: int) -> dict[str, Any]:
  args = make_inputs(shape)
  scan = functools.partial(scan_lib.selective_scan, delta_softplus=True, impl=impl,
                           **kwargs)
  fwd = jax.jit(lambda a: scan(**a))
  weights = jnp.ones((shape.batch, shape.length, shape.channels), jnp.float32) * 1e-3

  def loss(a):
    return jnp.sum(scan(**a).astype(jnp.float32) * weights)
  fwd_bwd = jax.jit(jax.value_and_grad(loss))

  row: dict[str, Any] = {}
  for label, fn in (("fwd", fwd), ("fwd_bwd", fwd_bwd)):
    compiled = fn.lower(args).compile()
    mem = common.compiled_memory_bytes(compiled)
    row[f"{label}_mem_estimate_gib"] = (mem["peak_estimate_bytes"] / 2**30
                                        if mem else None)
    if mem and mem["peak_estimate_bytes"] > budget:
      row[f"{label}_skipped"] = (f"needs ~{mem['peak_estimate_bytes'] / 2**30:.1f} GiB "
                                 f"> budget {budget / 2**30:.1f} GiB")
      continue
    timing = common.time_compiled(compiled, (args,), repeats=repeats)
    row[f"{label}_ms"] = timing["median_s"] * 1e3
    row[f"{label}_min_ms"] = timing["min_s"] * 1e3
    peak = common.device_peak_bytes()
    if peak is not None:
      row[f"{label}_device_peak_gib"] = peak / 2**30
  # Minimum traffic of one forward: read u, delta, z, B, C once, write y once.
  itemsize = jnp.dtype(args["u"].dtype).itemsize
  min_bytes = itemsize * (4 * shape.batch * shape.length * shape.channels
                          + 2 * shape.batch * shape.length * shape.groups * shape.d_state)
  if row.get("fwd_min_ms"):
    row["fwd_gb_per_s"] = min_bytes / (row["fwd_min_ms"] * 1e-3) / 1e9
    peak = PEAK_BANDWIDTH_GBPS.get(jax.devices()[0].device_kind)
    if peak:
      row["fwd_bandwidth_fraction"] = row["fwd_gb_per_s"] / peak
  return row


def _add_speedups(rows: list[dict[str, Any]]) -> None:
  """fwd+bwd speed-up of each row over "associative" on the same shape and run."""
  base = {r["shape"]: r.get("fwd_bwd_min_ms") for r in rows if r["impl"] == "associative"}
  for r in rows:
    if base.get(r["shape"]) and r.get("fwd_bwd_min_ms"):
      r["fwd_bwd_speedup_vs_associative"] = base[r["shape"]] / r["fwd_bwd_min_ms"]


def run(shape_names: Sequence[str], impls: Sequence[str], chunk_sizes: Sequence[int],
        repeats: int) -> dict[str, Any]:
  """Benchmarks every (shape, implementation) pair; returns the JSON payload."""
  budget = _memory_budget_bytes()
  rows = []
  for shape_name in shape_names:
    if shape_name not in SHAPES:
      raise ValueError(f"unknown shape {shape_name!r}; known: {', '.join(SHAPES)}")
    shape = SHAPES[shape_name]
    for label, impl, kwargs in _variants(impls, chunk_sizes):
      row = {"shape": shape_name, "impl": label}
      row.update(bench_one(shape, impl, kwargs, repeats=repeats, budget=budget))
      print(common.format_table([row], list(row)), flush=True)
      rows.append(row)
  _add_speedups(rows)
  return {
      "environment": common.environment(),
      "shapes": {k: dataclasses.asdict(SHAPES[k]) for k in shape_names},
      "auto_resolves_to": {k: scan_lib.resolve_impl("auto") for k in shape_names},
      "memory_budget_gib": budget / 2**30,
      "results": rows,
  }
