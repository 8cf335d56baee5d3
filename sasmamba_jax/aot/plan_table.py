"""The memory-plan table of the recipe configs (``experiments.plan_memory``)."""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import pathlib
import sys
import time
from typing import Any, Callable, Sequence

import ml_collections

from sasmamba_jax import benchmarking
from sasmamba_jax.aot import compile as compile_lib
from sasmamba_jax.aot import memory
from sasmamba_jax.aot import targets as targets_lib

#: The recipe configs of the table: (config spec, what it is).
RECIPES = (
    ("configs/h36m_sasmamba.py", "SasMamba, H36M (T 243)"),
    ("configs/h36m_posemamba.py:s", "PoseMamba-S, H36M (T 243)"),
    ("configs/h36m_posemamba.py:b", "PoseMamba-B, H36M (T 243)"),
    ("configs/h36m_posemamba.py:l", "PoseMamba-L, H36M (T 243)"),
    ("configs/h36m_posemamba.py:x", "PoseMamba-X, H36M (T 243)"),
    ("configs/mpi_inf_3dhp_sasmamba.py", "SasMamba, MPI-INF-3DHP (T 27)"),
    ("configs/posetrack18_glsmamba.py:b", "GLSMamba-B on ViTPose-B, PoseTrack"),
    ("configs/posetrack18_glsmamba.py:h", "GLSMamba-H on ViTPose-H, PoseTrack"),
)
#: The devices of the table; several devices are planned replicated and with FSDP.
DEVICES = ("h100", "v5e", "h100x8", "v5e:2x4")
GB = memory.GB


def environment() -> dict[str, Any]:
  """Versions of what compiled (the compiler plugins included) and the command."""
  env = benchmarking.environment()
  for package in ("jax-cuda12-plugin", "jax-cuda12-pjrt", "libtpu",
                  "nvidia-cuda-nvcc-cu12"):
    try:
      env[package] = importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
      env[package] = None
  env["command"] = " ".join(["python -m experiments.plan_memory"] + sys.argv[1:])
  env["compiled_for"] = "compile-only devices (sasmamba_jax.aot.targets), on this host"
  env["date"] = datetime.date.today().isoformat()
  return env


def plan_config(config: ml_collections.ConfigDict, spec: str, devices: Sequence[str],
                *, shardings: Sequence[str] | None = None,
                budget_bytes: int | None = None, max_batch: int = 1 << 16,
                search: bool = True,
                log: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
  """Rows of the table for one config: one per device and parameter sharding.

  Every row has the compiled memory at the config's batch (split over the devices:
  rounded up to a multiple of their count). The config's own sharding is searched
  for the largest batch that fits; on several devices the other sharding
  (``fsdp`` for a replicated config) is compiled at the config's batch only, for
  what it saves per device (``largest_batch`` None), unless ``shardings`` names it.

  Args:
    config: the run config of ``spec``.
    spec: its name in the table ("configs/FILE.py[:arg]").
    devices: ``targets.TARGETS`` names.
    shardings: parameter shardings to search (default: the config's).
    budget_bytes: memory per device (default: the device's).
    max_batch: search no global batch above this.
    search: False compiles every row at the config's batch only (one compile
      each; ``largest_batch`` None) unless that batch does not fit: the quick
      table.
    log: progress lines.
  """
  rows = []
  single: dict[str, int] = {}   # platform -> one device's largest batch
  searched = tuple(shardings or (config.mesh.param_sharding,))
  for name in devices:
    target = targets_lib.get(name)
    n = target.num_devices
    modes = list(searched)
    if n > 1:
      modes += [m for m in ("replicated", "fsdp") if m not in modes]
    batch = -(-config.batch_size // n) * n  # The config's, split over the devices.
    for mode in modes:
      if log:
        log(f"{spec} on {name} ({mode}):")
      start = time.perf_counter()
      c = config.copy_and_resolve_references()
      c.batch_size = batch
      quick = compiled = None
      if not search and mode in searched:
        # One compile at the config's batch; a batch that does not fit is still
        # searched (from that compile), so the row names the largest batch that does.
        _, quick = compile_lib.compile_train_step(c, target, param_sharding=mode)
        if quick.peak_bytes > (budget_bytes or target.memory_bytes):
          quick, compiled = None, {batch: quick}
      if mode in searched and quick is None:
        # n devices hold about n times one device's batch: start the search there.
        hint = n * single[target.platform] if target.platform in single else None
        p = memory.plan(c, target, param_sharding=mode, budget_bytes=budget_bytes,
                        max_batch=max_batch, first_guess=hint, compiled=compiled,
                        log=log)
        if n == 1:
          single.setdefault(target.platform, p.largest_batch)
        r, largest, at_largest = p.at_config, p.largest_batch, p.at_largest
        budget, compiles, note = p.budget_bytes, p.compiles, p.note
      else:
        r = quick or compile_lib.compile_train_step(c, target, param_sharding=mode)[1]
        largest = at_largest = None
        budget = budget_bytes or target.memory_bytes
        # What it takes to use this much (not the whole budget: nothing searched).
        compiles, note = 1, memory.budget_note(target, r.peak_bytes)
        if log:
          log(f"  {name} batch {batch}: {r.peak_bytes / GB:.2f} GB per device "
              f"(compiled in {r.compile_seconds:.0f} s)")
      rows.append({
          "config": spec, "model": r.model, "device": name,
          "device_description": target.description, "devices": n,
          "param_sharding": mode, "config_batch": config.batch_size,
          "batch": batch, "peak_gb": r.peak_bytes / GB,
          "temp_gb": r.temp_bytes / GB,
          "state_gb": (r.params_bytes + r.frozen_bytes + r.model_state_bytes
                       + r.opt_state_bytes) / GB,
          "params_and_opt_gb": (r.params_bytes + r.opt_state_bytes) / GB,
          "frozen_gb": r.frozen_bytes / GB,
          "budget_gb": budget / GB, "fits": r.peak_bytes <= budget,
          "largest_batch": largest,
          "peak_gb_at_largest": at_largest.peak_bytes / GB if at_largest else None,
          "gemm_fallback": r.gemm_fallback, "compiles": compiles, "note": note,
          "refused_by_compiler": bool(r.out_of_memory),
          "seconds": round(time.perf_counter() - start, 1),
      })
      if log:
        log(_verdict(rows[-1]))
  _fsdp_savings(rows)
  return rows


def _verdict(row: dict[str, Any]) -> str:
  head = (f"  batch {row['batch']}: {row['peak_gb']:.2f} GB per device of "
          f"{row['budget_gb']:.0f} GB; ")
  if row["largest_batch"] is None:
    text = head + ("fits" if row["fits"] else "does NOT fit")
  elif row["fits"]:
    text = head + f"fits; the largest batch that fits is {row['largest_batch']}"
  elif row["largest_batch"]:
    text = head + (f"does NOT fit: use batch {row['largest_batch']} or less (or more "
                   "devices / FSDP)")
  else:
    text = head + "does NOT fit even one example per device"
  return text + (f" ({row['note']})" if row.get("note") else "")


def _fsdp_savings(rows: list[dict[str, Any]]) -> None:
  """Adds, to each FSDP row, the state memory (parameters, frozen parameters,
  optimizer state) it saves per device against the replicated row."""
  for row in rows:
    if row["param_sharding"] != "fsdp":
      continue
    for other in rows:
      if (other["param_sharding"] == "replicated" and other["device"] == row["device"]
          and other["config"] == row["config"]):
        saved = other["state_gb"] - row["state_gb"]
        row["fsdp_saves_gb"] = saved
        row["fsdp_saves_fraction"] = (saved / other["state_gb"]
                                      if other["state_gb"] else 0.0)


def run_table(load_config: Callable[[str], ml_collections.ConfigDict],
              log: Callable[[str], None] | None = None,
              recipes: Sequence[tuple[str, str]] = RECIPES,
              devices: Sequence[str] = DEVICES,
              done: Sequence[dict[str, Any]] = (),
              save: Callable[[dict[str, Any]], Any] | None = None,
              search: bool = True) -> dict[str, Any]:
  """Plans every recipe (loaded with ``load_config(spec)``) on every device;
  returns the JSON payload.

  Args:
    load_config: reads a config spec.
    log: progress lines.
    recipes, devices: what to plan.
    done: rows of an earlier, interrupted table: their configs are not planned
      again (``--resume``).
    save: called with the payload after each config (a long table survives an
      interruption).
    search: search each config's largest batch (False: the config's batch only).
  """
  rows = [r for r in done if r["config"] in {spec for spec, _ in recipes}]
  finished = {r["config"] for r in rows}
  payload = {"environment": environment(), "rows": rows}
  for spec, description in recipes:
    if spec in finished:
      continue
    for row in plan_config(load_config(spec), spec, devices, search=search, log=log):
      row["description"] = description
      rows.append(row)
    if save:
      save(payload)
  return payload


def markdown(payload: dict[str, Any]) -> str:
  """The table as Markdown."""
  lines = ["| config | device | params | batch | GB per device | state GB "
           "per device | fits | largest batch | FSDP saves per device |",
           "|---|---|---|---|---|---|---|---|---|"]
  for r in payload["rows"]:
    saves = (f"{r['fsdp_saves_gb']:.3f} GB ({100 * r['fsdp_saves_fraction']:.0f} %)"
             if "fsdp_saves_gb" in r else "")
    lines.append(
        f"| `{r['config']}` | {r['device']} | {r['param_sharding']} | {r['batch']} | "
        f"{r['peak_gb']:.2f} | {r['state_gb']:.3f} | "
        f"{'yes' if r['fits'] else '**no**'} | "
        f"{'-' if r['largest_batch'] is None else r['largest_batch']} | {saves} |")
  return "\n".join(lines)


def save(payload: dict[str, Any], results_dir: str | pathlib.Path) -> pathlib.Path:
  """Writes ``results_dir/plan_memory.json`` (atomically) and returns its path."""
  path = pathlib.Path(results_dir) / "plan_memory.json"
  path.parent.mkdir(parents=True, exist_ok=True)
  tmp = path.with_suffix(".json.tmp")
  tmp.write_text(json.dumps(payload, indent=2) + "\n")
  tmp.replace(path)
  return path
