"""Deformable convolution (``nn.deform_conv2d``) against a plain convolution.

For each shape: forward and forward+backward (gradients of every input) of the
deformable convolution with random offsets (uniform +-2.5 px) and, where the shape
says so, masks, once per internal path (``impl`` "auto", "gather", "dense"; "dense"
only up to ``DENSE_MAX_BYTES`` of dense weights), and of ``lax.conv_general_dilated``
with the same input, weight and groups; median times, XLA's memory estimate of each
compiled function, and the size of the column tensor (B, Ho, Wo, K, C) float32.
"""

from __future__ import annotations

import time
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from sasmamba_jax.benchmarking import common
from sasmamba_jax.nn.deform_conv import deform_conv2d

# name -> (B, H, W, C, Cout, k, groups, offset groups, mask)
SHAPES = {
    # One GLSMamba STMM stage: the 5 frames of a clip at 64 x 48, E = 128, full 3x3.
    "glsmamba_stmm": (5, 64, 48, 128, 128, 3, 1, 1, True),
    # The same at training batch 8 (B T = 40).
    "glsmamba_stmm_b8": (40, 64, 48, 128, 128, 3, 1, 1, True),
    # GLSMamba-tiny's STMM: B T = 16 x 5 clips of 16 x 12 features, dim 32.
    "glsmamba_tiny": (80, 16, 12, 32, 32, 3, 1, 1, True),
    "glsmamba_tiny_depthwise": (80, 16, 12, 32, 32, 3, 32, 1, True),
    # SasMamba's depthwise DCNv1 over a (T, J) grid: 243 frames x 17 joints, d_inner
    # 128; and the quickstart's (27 frames, d_inner 32, batch 32).
    "sasmamba_depthwise": (1, 243, 17, 128, 128, 3, 128, 1, False),
    "sasmamba_quickstart": (32, 27, 17, 32, 32, 3, 32, 1, False),
    # A small shape for a quick check.
    "small": (2, 16, 12, 32, 32, 3, 1, 1, True),
}
# The dense path is timed only while its (B, Ho, Wo, K, G, H W) float32 weights fit.
DENSE_MAX_BYTES = 2**30


def _inputs(shape: Sequence[int], seed: int = 0):
  b, h, w, c, cout, k, groups, g, masked = shape
  rng = np.random.default_rng(seed)
  f32 = lambda *s: jnp.asarray(rng.normal(size=s).astype(np.float32))
  x = f32(b, h, w, c)
  weight = f32(k, k, c // groups, cout) / np.sqrt(c // groups * k * k)
  offset = jnp.asarray(rng.uniform(-2.5, 2.5, (b, h, w, 2 * g * k * k)), jnp.float32)
  mask = jax.nn.sigmoid(f32(b, h, w, g * k * k)) if masked else None
  return x, offset, mask, weight


def _measure(fn, args, repeats: int) -> dict[str, Any]:
  start = time.perf_counter()
  compiled = jax.jit(fn).lower(*args).compile()
  compile_s = time.perf_counter() - start
  mem = common.compiled_memory_bytes(compiled)
  timing = common.time_compiled(compiled, args, repeats=repeats)
  return {"ms": timing["median_s"] * 1e3, "compile_s": compile_s,
          "mem_mib": mem["peak_estimate_bytes"] / 2**20 if mem else None}


def bench_shape(name: str, repeats: int) -> list[dict[str, Any]]:
  """Rows for the deformable and the plain convolution at shape ``name``."""
  b, h, w, c, cout, k, groups, g, _ = SHAPES[name]
  x, offset, mask, weight = _inputs(SHAPES[name])
  pad = (k - 1) // 2

  def deform(impl):
    def fn(x, offset, mask, weight):
      return deform_conv2d(x, offset, weight, mask=mask, padding=pad, groups=groups,
                           impl=impl)
    return fn

  def plain(x, offset, mask, weight):
    del offset, mask
    return jax.lax.conv_general_dilated(
        x, weight, (1, 1), ((pad, pad), (pad, pad)), feature_group_count=groups,
        dimension_numbers=("NHWC", "HWIO", "NHWC"))

  ops = [(f"deform_conv2d {impl}", deform(impl)) for impl in ("auto", "gather")]
  if b * h * w * k * k * g * h * w * 4 <= DENSE_MAX_BYTES:
    ops.append(("deform_conv2d dense", deform("dense")))
  rows = []
  for op, fn in ops + [("plain conv", plain)]:
    row: dict[str, Any] = {"shape": name, "op": op, "B,H,W,C,Cout,k,groups,G,mask":
                           ",".join(str(v) for v in SHAPES[name])}
    args = (x, offset, mask, weight)
    fwd = _measure(fn, args, repeats)
    loss = lambda *a: jnp.sum(fn(*a) ** 2)
    wrt = (0, 3) if op == "plain conv" else (0, 1, 3) if mask is None else (0, 1, 2, 3)
    bwd = _measure(jax.grad(loss, argnums=wrt), args, repeats)
    row.update({"fwd_ms": fwd["ms"], "fwd_bwd_ms": bwd["ms"], "fwd_mem_mib":
                fwd["mem_mib"], "fwd_bwd_mem_mib": bwd["mem_mib"],
                "compile_s": fwd["compile_s"] + bwd["compile_s"]})
    if op != "plain conv":
      row["columns_mib"] = b * h * w * k * k * c * 4 / 2**20
    rows.append(row)
  base = rows[-1]
  for row in rows:
    row["fwd_vs_plain"] = row["fwd_ms"] / base["fwd_ms"]
    row["fwd_bwd_vs_plain"] = row["fwd_bwd_ms"] / base["fwd_bwd_ms"]
  return rows


def run(shapes: Sequence[str], repeats: int) -> dict[str, Any]:
  """Benchmarks every shape; returns the JSON payload."""
  rows = []
  for name in shapes:
    if name not in SHAPES:
      raise ValueError(f"unknown shape {name!r}; choose from {', '.join(SHAPES)}")
    new = bench_shape(name, repeats)
    print(common.format_table(new, list(new[0])), flush=True)
    rows += new
  return {"environment": common.environment(),
          "settings": {"shapes": {n: SHAPES[n] for n in shapes}, "repeats": repeats,
                       "offsets": "uniform +-2.5 px",
                       "mask": "sigmoid(normal) where the shape has one"},
          "results": rows}
