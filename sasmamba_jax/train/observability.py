"""Run logs: metrics.jsonl, TensorBoard event files (no TensorFlow), progress bar.

Only process 0 writes; other processes get no-op writers.
"""

from __future__ import annotations

import json
import pathlib
import sys
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
  """Appends scalars to ``workdir/metrics.jsonl`` and TensorBoard events."""

  def __init__(self, workdir: str | pathlib.Path, *, enabled: bool | None = None):
    self.enabled = jax.process_index() == 0 if enabled is None else enabled
    self._jsonl = None
    self._tb = None
    if not self.enabled:
      return
    workdir = pathlib.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    self._jsonl = open(workdir / "metrics.jsonl", "a", encoding="utf-8")
    from tensorboardX import SummaryWriter  # pylint: disable=g-import-not-at-top
    self._tb = SummaryWriter(str(workdir / "tensorboard"))

  def write(self, step: int, metrics: Mapping[str, Any], prefix: str = "") -> None:
    if not self.enabled:
      return
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


class Progress:
  """tqdm progress with step rate and ETA on process 0 (silent elsewhere)."""

  def __init__(self, total: int, initial: int, enabled: bool):
    self._bar = None
    if enabled and jax.process_index() == 0:
      from tqdm import tqdm  # pylint: disable=g-import-not-at-top
      self._bar = tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True,
                       file=sys.stderr, mininterval=1.0)

  def update(self, n: int = 1, **postfix: Any) -> None:
    if self._bar is not None:
      self._bar.update(n)
      if postfix:
        self._bar.set_postfix(postfix, refresh=False)

  def write(self, text: str) -> None:
    if self._bar is not None:
      self._bar.write(text)
    elif jax.process_index() == 0:
      print(text, flush=True)

  def close(self) -> None:
    if self._bar is not None:
      self._bar.close()
