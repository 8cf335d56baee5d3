"""Memory plan from the compiler: what a run's train step needs on a GPU or TPU, and
the largest batch that fits.

The train step is compiled for the target (``compile.compile_train_step``: the real
step, optimizer and sharding) and XLA's buffer assignment gives its memory per
device: the state and batch it reads, what it writes (the donated state reuses its
input buffers) and its temporaries. Temporaries grow with the batch, the state does
not, so after two compiles the largest fitting batch is predicted on that line and
then proven: a compile at that batch fits, one a step larger does not.

On GPUs JAX preallocates 75 % of the memory by default
(``XLA_PYTHON_CLIENT_MEM_FRACTION``), and XLA plans its rematerialisation for that
pool: a batch planned for the whole 80 GB of an H100 needs
``XLA_PYTHON_CLIENT_MEM_FRACTION=.95`` (``budget_note``).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import ml_collections

from sasmamba_jax.aot import compile as compile_lib
from sasmamba_jax.aot import targets as targets_lib

GB = 10**9


@dataclasses.dataclass
class Plan:
  """The memory plan of one config on one target.

  Attributes:
    at_config: the compile at the config's batch size.
    largest_batch: the largest global batch whose step fits ``budget_bytes`` per
      device (a multiple of the device count; 0: not even one example per device).
    at_largest: the compile at ``largest_batch`` (None when it is 0).
    budget_bytes: device memory the step may use.
    compiles: how many compiles the plan took.
    note: what it takes to use that much memory (``budget_note``), or None.
    tried: every compiled batch and its peak bytes per device.
  """

  at_config: compile_lib.Report
  largest_batch: int
  at_largest: compile_lib.Report | None
  budget_bytes: int
  compiles: int
  note: str | None = None
  tried: dict[int, int] = dataclasses.field(default_factory=dict)

  @property
  def fits(self) -> bool:
    return self.at_config.peak_bytes <= self.budget_bytes

  def as_dict(self) -> dict[str, Any]:
    return {"at_config": self.at_config.as_dict(), "largest_batch": self.largest_batch,
            "at_largest": self.at_largest.as_dict() if self.at_largest else None,
            "budget_bytes": self.budget_bytes, "fits": self.fits,
            "compiles": self.compiles, "note": self.note,
            "tried": {str(b): v for b, v in sorted(self.tried.items())}}


def plan(config: ml_collections.ConfigDict, target: str | targets_lib.Target, *,
         param_sharding: str | None = None, budget_bytes: int | None = None,
         max_batch: int = 1 << 16, first_guess: int | None = None,
         compiled: dict[int, compile_lib.Report] | None = None,
         log: Callable[[str], None] | None = None) -> Plan:
  """Compiles ``config``'s train step for ``target`` and finds the largest batch.

  Args:
    config: a run config.
    target: a ``targets.TARGETS`` name or Target.
    param_sharding: "replicated" or "fsdp" (default: the config's).
    budget_bytes: memory per device (default: the target's, 80 GB on an H100,
      16 GB on a v5e chip).
    max_batch: stop searching above this global batch.
    first_guess: where to compile second (default: twice the config's batch, or
      half when it does not fit), e.g. n times one device's answer for n devices.
    compiled: reports of batches already compiled for this config, target and
      sharding (not compiled again).
    log: called with a line per compile.
  """
  target = targets_lib.get(target) if isinstance(target, str) else target
  budget = budget_bytes or target.memory_bytes
  n = target.num_devices
  reports: dict[int, compile_lib.Report] = dict(compiled or {})

  def at(batch: int) -> compile_lib.Report:
    if batch not in reports:
      _, reports[batch] = compile_lib.compile_train_step(
          config, target, batch_size=batch, param_sharding=param_sharding)
      if log:
        r = reports[batch]
        log(f"  {target.name} batch {batch}: {r.peak_bytes / GB:.2f} GB per device "
            f"(compiled in {r.compile_seconds:.0f} s)")
    return reports[batch]

  first = at(config.batch_size)
  peak = lambda b: at(b).peak_bytes
  # Memory grows with the batch, nearly but not exactly linearly (padding, layouts,
  # XLA rematerialising more near its limit), so the search interpolates: from the
  # line through the two nearest compiled batches to the budget, inside the bracket
  # [largest batch that fits, smallest larger batch that does not] once there is
  # one, until the two are n apart. Smooth curves take a few compiles. (Memory is
  # not strictly monotone in the batch: the answer is a batch that fits while the
  # next multiple of n does not.)
  round_n = lambda b: max(n, min(max_batch // n * n, int(b) // n * n))
  b0 = config.batch_size
  if first_guess and round_n(first_guess) != b0:
    at(round_n(first_guess))
  elif peak(b0) <= budget:
    if round_n(b0 * 2) > b0:     # At max_batch already: nothing larger to try.
      at(round_n(b0 * 2))
  else:
    at(max(n, b0 // 2 // n * n) if b0 > n else 2 * n)
  while True:
    fitting = [b for b in reports if peak(b) <= budget]
    lo = max(fitting, default=0)
    above = [b for b in reports if b > lo and peak(b) > budget]
    hi = min(above, default=None)
    if hi is not None and hi - lo <= n:
      break
    if hi is None and lo >= max_batch // n * n:
      break
    if lo == 0 and hi is not None and hi <= n:
      break
    if hi is None or lo == 0:
      # Outside the bracket: extrapolate along the two compiled batches nearest
      # to the side where the answer lies.
      near = sorted(reports)[-2:] if hi is None else sorted(reports)[:2]
      (x0, x1) = near
      slope = (peak(x1) - peak(x0)) / (x1 - x0)
      guess = (x1 + (budget - peak(x1)) / slope) if slope > 0 else (
          2 * x1 if hi is None else x0 / 2)
      guess = round_n(guess)
      if hi is None:
        guess = max(guess, lo + n)
      else:
        guess = min(guess, hi - n)
    else:
      # Inside: the line through the bracket's ends, kept an eighth away from them
      # so that the bracket shrinks every time.
      x = lo + (budget - peak(lo)) * (hi - lo) / (peak(hi) - peak(lo))
      margin = (hi - lo) / 8 if hi - lo > 4 * n else 0
      guess = round_n(min(max(x, lo + margin), hi - margin))
      guess = min(max(guess, lo + n), hi - n)
    if guess in reports:   # Nothing new to learn there: halve the bracket instead.
      guess = round_n((lo + (hi or 2 * max(lo, n))) / 2)
      if guess in reports:
        break
    at(guess)
  guess = lo
  largest = guess
  return Plan(first, largest, at(largest) if largest else None, budget, len(reports),
              budget_note(target, budget),
              {b: r.peak_bytes for b, r in reports.items()})


def budget_note(target: targets_lib.Target, budget_bytes: int) -> str | None:
  """What it takes to use ``budget_bytes`` on ``target`` (None: nothing)."""
  if target.platform == "cuda" and budget_bytes > 0.75 * target.memory_bytes:
    return ("JAX preallocates 75 % of GPU memory by default: run with "
            "XLA_PYTHON_CLIENT_MEM_FRACTION=.95 to use more than "
            f"{0.75 * target.memory_bytes / GB:.0f} GB")
  return None
