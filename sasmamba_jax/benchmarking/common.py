"""Timing, memory, provenance and data helpers shared by every benchmark.

Benchmarks print a table and save JSON under ``benchmarks/results/`` with the device,
library versions, command and date, so every number in the README can be traced to
the run that produced it.
"""

from __future__ import annotations

import datetime
import json
import os
import pathlib
import platform
import shlex
import sys
import time
from typing import Any, Callable, Mapping, Sequence

import jax
import numpy as np

RESULTS_DIR = pathlib.Path("benchmarks") / "results"


def environment() -> dict[str, Any]:
  """Device, software versions and command line of the current process."""
  import flax  # pylint: disable=g-import-not-at-top
  device = jax.devices()[0]
  info = {
      "backend": jax.default_backend(),
      "device_kind": device.device_kind,
      "device_count": jax.device_count(),
      "jax": jax.__version__,
      "jaxlib": getattr(jax.lib, "__version__", None) or _jaxlib_version(),
      "flax": flax.__version__,
      "numpy": np.__version__,
      "python": platform.python_version(),
      "host": platform.machine(),
      "cpu_count": os.cpu_count(),
      "command": " ".join(shlex.quote(a) for a in ["python", "-m", _module_name()]
                          + sys.argv[1:]),
      "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
  }
  if info["backend"] == "gpu":
    info["cuda"] = _cuda_version()
  return info


def _jaxlib_version() -> str | None:
  try:
    import jaxlib  # pylint: disable=g-import-not-at-top
    return jaxlib.__version__
  except (ImportError, AttributeError):
    return None


def _cuda_version() -> str | None:
  try:
    from jax._src.lib import cuda_versions  # pylint: disable=g-import-not-at-top
    return str(cuda_versions.cuda_runtime_get_version())
  except Exception:  # pylint: disable=broad-except  # Best effort: versions only.
    return None


def _module_name() -> str:
  main = sys.modules.get("__main__")
  spec = getattr(main, "__spec__", None)
  return spec.name if spec is not None else (sys.argv[0] if sys.argv else "?")


def compiled_memory_bytes(compiled) -> dict[str, int] | None:
  """XLA's static memory estimate of a compiled function (arguments, outputs, temps)."""
  try:
    analysis = compiled.memory_analysis()
  except Exception:  # pylint: disable=broad-except  # Not every backend implements it.
    return None
  if analysis is None:
    return None
  fields = ("argument_size_in_bytes", "output_size_in_bytes", "temp_size_in_bytes",
            "alias_size_in_bytes", "generated_code_size_in_bytes")
  out = {f: int(getattr(analysis, f, 0) or 0) for f in fields}
  out["peak_estimate_bytes"] = (out["argument_size_in_bytes"]
                                + out["output_size_in_bytes"]
                                + out["temp_size_in_bytes"]
                                - out["alias_size_in_bytes"])
  return out


def device_peak_bytes() -> int | None:
  """Peak bytes in use on the first device where the backend tracks it (GPU/TPU)."""
  stats = jax.devices()[0].memory_stats()
  if not stats:
    return None
  return int(stats.get("peak_bytes_in_use", 0)) or None


def time_compiled(compiled: Callable[..., Any], args: Sequence[Any], *,
                  repeats: int = 5, min_seconds: float = 0.0,
                  thread_first: bool = False) -> dict[str, float]:
  """Runs an already compiled function (warm-up excluded) and times each call.

  With ``thread_first`` each call's first output is the next call's first argument
  (a train step whose donated state is consumed by the call).

  Returns the median and minimum seconds per call, blocking on every output, and
  the warm-up call's seconds.
  """
  args = list(args)

  def call():
    out = jax.block_until_ready(compiled(*args))
    if thread_first:
      args[0] = out[0]

  t0 = time.perf_counter()
  call()  # Warm-up: allocation, first dispatch.
  warmup_s = time.perf_counter() - t0
  times = []
  start = time.perf_counter()
  while len(times) < repeats or time.perf_counter() - start < min_seconds:
    t0 = time.perf_counter()
    call()
    times.append(time.perf_counter() - t0)
  return {"median_s": float(np.median(times)), "min_s": float(np.min(times)),
          "repeats": len(times), "warmup_s": warmup_s}


def format_table(rows: Sequence[dict[str, Any]], columns: Sequence[str], *,
                 markdown: bool = False) -> str:
  """A plain-text (or Markdown) table, one row per dict; missing cells print as '-'."""
  cells = [[_cell(r.get(c)) for c in columns] for r in rows]
  if markdown:
    return "\n".join(["| " + " | ".join(columns) + " |",
                      "|" + "---|" * len(columns)]
                     + ["| " + " | ".join(r) + " |" for r in cells])
  widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
  line = lambda vals: "  ".join(v.ljust(w) for v, w in zip(vals, widths))
  return "\n".join([line(columns), line(["-" * w for w in widths])]
                   + [line(r) for r in cells])


def _cell(value: Any) -> str:
  if value is None:
    return "-"
  if isinstance(value, float):
    return f"{value:.4g}"
  return str(value)


def save_results(name: str, payload: dict[str, Any],
                 results_dir: pathlib.Path | str = RESULTS_DIR) -> pathlib.Path:
  """Writes ``results_dir/<name>_<backend>_<device>.json`` and returns its path."""
  results_dir = pathlib.Path(results_dir)
  results_dir.mkdir(parents=True, exist_ok=True)
  env = payload.get("environment") or environment()
  device = "".join(ch if ch.isalnum() else "-" for ch in env["device_kind"]).strip("-")
  path = results_dir / f"{name}_{env['backend']}_{device.lower()}.json"
  tmp = path.with_suffix(".json.tmp")
  tmp.write_text(json.dumps(payload, indent=2, sort_keys=False) + "\n")
  tmp.replace(path)  # Never leave a half-written result behind.
  return path


def random_batch(spec: Mapping[str, jax.ShapeDtypeStruct], seed: int = 0
                 ) -> dict[str, np.ndarray]:
  """Standard-normal arrays of a task's batch spec (``Task.batch_spec``)."""
  rng = np.random.default_rng(seed)
  return {k: rng.normal(size=s.shape).astype(s.dtype) for k, s in spec.items()}


def report(name: str, payload: dict[str, Any], columns: Sequence[str],
           results_dir: pathlib.Path | str = RESULTS_DIR) -> pathlib.Path:
  """Prints the results table (plain and Markdown) and saves the JSON; returns its path."""
  print()
  print(format_table(payload["results"], columns))
  print()
  print(format_table(payload["results"], columns, markdown=True))
  path = save_results(name, payload, results_dir)
  print(f"\nsaved {path}")
  return path
