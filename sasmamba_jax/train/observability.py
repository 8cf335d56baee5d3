"""Run logs: metrics.jsonl, TensorBoard event files (no TensorFlow), progress.

Only process 0 writes; other processes get no-op writers.
"""

from __future__ import annotations

import json
import pathlib
import sys
import time
from typing import Any, Mapping

import jax
import numpy as np


def _scalar(value: Any) -> float | None:
  try:
    arr = np.asarray(value)
  except Exception:  # pylint: disable=broad-except
    return None
  if arr.shape != () or arr.dtype.kind not in "fiub":
    return None
  return float(arr)


class MetricsWriter:
  """Appends scalars to ``workdir/metrics.jsonl`` and TensorBoard events.

  Durable: a log file or TensorBoard folder deleted during the run is recreated at
  the next write. ``resume_step``: on a resumed run, the lines after that step
  (written after the restored checkpoint, so about to be written again) are dropped
  from metrics.jsonl and TensorBoard is told to discard its later events, so no
  step appears twice.
  """

  def __init__(self, workdir: str | pathlib.Path, *, enabled: bool | None = None,
               resume_step: int | None = None):
    self.enabled = jax.process_index() == 0 if enabled is None else enabled
    self._jsonl = None
    self._tb = None
    self._workdir = pathlib.Path(workdir)
    self._purge_step = None
    if not self.enabled:
      return
    self._workdir.mkdir(parents=True, exist_ok=True)
    if resume_step is not None:
      self._truncate(resume_step)
      self._purge_step = resume_step + 1
    self._open()

  @property
  def jsonl_path(self) -> pathlib.Path:
    return self._workdir / "metrics.jsonl"

  @property
  def tensorboard_dir(self) -> pathlib.Path:
    return self._workdir / "tensorboard"

  def _truncate(self, step: int) -> None:
    if not self.jsonl_path.exists():
      return
    kept = []
    for line in self.jsonl_path.read_text(encoding="utf-8").splitlines():
      try:
        if int(json.loads(line)["step"]) <= step:
          kept.append(line)
      except (ValueError, KeyError, TypeError, RecursionError):
        continue  # A torn last line of a killed run.
    tmp = self.jsonl_path.with_suffix(".jsonl.tmp")
    tmp.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
    tmp.replace(self.jsonl_path)

  def _open(self) -> None:
    self._workdir.mkdir(parents=True, exist_ok=True)
    if self._jsonl is None or not self.jsonl_path.exists():
      if self._jsonl is not None:
        self._jsonl.close()
      self._jsonl = open(self.jsonl_path, "a", encoding="utf-8")
    if self._tb is None or not self.tensorboard_dir.exists():
      if self._tb is not None:
        self._tb.close()
      from tensorboardX import SummaryWriter  # pylint: disable=g-import-not-at-top
      self._tb = SummaryWriter(str(self.tensorboard_dir),
                               purge_step=self._purge_step)
      self._purge_step = None

  def write(self, step: int, metrics: Mapping[str, Any], prefix: str = "") -> None:
    if not self.enabled:
      return
    self._open()
    scalars = {f"{prefix}{k}": v for k, v in
               ((k, _scalar(v)) for k, v in metrics.items()) if v is not None}
    self._jsonl.write(json.dumps({"step": int(step), **scalars}) + "\n")
    self._jsonl.flush()
    for k, v in scalars.items():
      self._tb.add_scalar(k, v, global_step=int(step))
    self._tb.flush()

  def close(self) -> None:
    if self._jsonl is not None:
      self._jsonl.close()
    if self._tb is not None:
      self._tb.close()


def _is_terminal(stream: Any) -> bool:
  try:
    return bool(stream.isatty())
  except (AttributeError, ValueError):  # No isatty, or a closed stream.
    return False


class Progress:
  """Training progress on process 0 (silent elsewhere).

  On a terminal, a tqdm bar with step rate and ETA. Without one (output redirected
  to a file or a pipe) a bar would write carriage-return updates into the log, so
  a plain line is printed every ``every`` steps (and at the last) instead:
  ``step 200/1000 (20%): loss 0.0123, 4.1 steps/s, 3m15s left``.
  """

  def __init__(self, total: int, initial: int, enabled: bool, *, every: int = 50,
               stream: Any = None):
    self._bar = None
    self._plain = False
    self._stream = sys.stderr if stream is None else stream
    self._total, self._every = total, max(1, int(every))
    self._step = self._start = initial
    self._started = time.monotonic()
    if enabled and jax.process_index() == 0:
      if _is_terminal(self._stream):
        from tqdm import tqdm  # pylint: disable=g-import-not-at-top
        self._bar = tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True,
                         file=self._stream, mininterval=1.0)
      else:
        self._plain = True

  def reset(self, initial: int) -> None:
    """Starts counting from ``initial`` (the step a run resumes from)."""
    self._step = self._start = initial
    self._started = time.monotonic()
    if self._bar is not None:
      self._bar.reset(total=self._bar.total)
      self._bar.update(initial)

  def update(self, n: int = 1, **postfix: Any) -> None:
    self._step += n
    if self._bar is not None:
      self._bar.update(n)
      if postfix:
        self._bar.set_postfix(postfix, refresh=False)
    elif self._plain and (self._step % self._every == 0 or self._step == self._total):
      self.write(self._line(postfix))

  def _line(self, postfix: dict[str, Any]) -> str:
    done = self._step - self._start
    elapsed = time.monotonic() - self._started
    rate = done / elapsed if elapsed > 0 and done > 0 else 0.0
    parts = [f"{k} {v}" for k, v in postfix.items()]
    if rate:
      parts.append(f"{rate:.3g} steps/s")
      left = (self._total - self._step) / rate
      if left > 0:
        parts.append(f"{_duration(left)} left")
    share = 100 * self._step / max(self._total, 1)
    return (f"step {self._step}/{self._total} ({share:.0f}%)"
            + (": " + ", ".join(parts) if parts else ""))

  def write(self, text: str) -> None:
    if self._bar is not None:
      self._bar.write(text)
    elif jax.process_index() == 0:
      print(text, flush=True)

  def close(self) -> None:
    if self._bar is not None:
      self._bar.close()


def _duration(seconds: float) -> str:
  seconds = int(round(seconds))
  hours, rest = divmod(seconds, 3600)
  minutes, secs = divmod(rest, 60)
  if hours:
    return f"{hours}h{minutes:02d}m"
  return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
