"""The streaming evaluator interface and how evaluator states travel between hosts.

An evaluator sees the eval split once, batch by batch, as the predictions are made
(big_vision's evaluators work alike): ``update(predictions, batch)`` folds a batch
into running accumulators and ``result()`` turns them into the protocol's numbers.
Neither the predictions nor the examples are kept whole, so nothing is re-read after
prediction. On several hosts every process updates its own evaluator with its own
rows; ``state()`` / ``merge(state)`` combine them (``merge_states`` below turns
states into bytes and back for the transport, with no pickle).
"""

from __future__ import annotations

import io
from typing import Any, Mapping, Protocol, Sequence

import numpy as np


class Evaluator(Protocol):
  """A streaming evaluation protocol."""

  #: batch features ``update`` reads besides the predictions (the pipeline keeps them)
  metadata_keys: tuple[str, ...]

  def update(self, predictions: np.ndarray, batch: Mapping[str, Any]) -> None:
    """Folds in one batch: ``predictions`` (B, ...) aligned with ``batch`` rows.

    Padding rows must already be removed (the prediction loop drops them).
    """

  def result(self) -> dict[str, Any]:
    """The protocol's numbers over everything seen so far (JSON-serialisable)."""

  def state(self) -> dict[str, np.ndarray]:
    """The accumulators as NumPy arrays (numbers or unicode), for ``merge``."""

  def merge(self, state: Mapping[str, np.ndarray]) -> None:
    """Adds another evaluator's ``state()`` (e.g. another host's) into this one."""


def state_to_bytes(state: Mapping[str, np.ndarray]) -> bytes:
  """An evaluator state as ``.npz`` bytes (no pickle: object arrays are refused)."""
  buffer = io.BytesIO()
  arrays = {k: np.asarray(v) for k, v in state.items()}
  for k, v in arrays.items():
    if v.dtype == object:
      raise TypeError(f"evaluator state {k!r} is an object array; use numbers or str")
  np.savez(buffer, **arrays)
  return buffer.getvalue()


def state_from_bytes(data: bytes) -> dict[str, np.ndarray]:
  with np.load(io.BytesIO(data), allow_pickle=False) as f:
    return {k: f[k] for k in f.files}


def merge_states(evaluator: Evaluator, states: Sequence[bytes]) -> None:
  """Merges serialized states (``state_to_bytes``) into ``evaluator``, in order."""
  for data in states:
    evaluator.merge(state_from_bytes(data))


def rows(batch: Mapping[str, Any], keys: Sequence[str]) -> list[dict[str, Any]]:
  """A batch (dict of stacked features) as per-row dicts of ``keys``."""
  present = [k for k in keys if k in batch]
  if not present:
    return []
  n = len(batch[present[0]])
  return [{k: batch[k][i] for k in present} for i in range(n)]
