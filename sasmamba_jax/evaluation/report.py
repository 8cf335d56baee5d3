"""Plain-text result tables of the evaluation protocols."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
  """A markdown table, columns padded: the first left-aligned, the rest right."""
  widths = [max(len(r[c]) for r in [header, *rows]) for c in range(len(header))]

  def line(cells):
    # Names left-aligned, numbers right-aligned.
    padded = [cells[0].ljust(widths[0])]
    padded += [c.rjust(w) for c, w in zip(cells[1:], widths[1:])]
    return "| " + " | ".join(padded) + " |"

  rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
  return "\n".join([line(header), rule] + [line(r) for r in rows])


def _need(results: Mapping[str, Any], keys: Sequence[str], fn: str) -> None:
  missing = [k for k in keys if k not in results]
  if missing:
    raise ValueError(f"{fn}: results lack {missing}; pass the dict the matching "
                     "evaluate_* function returned")


def format_h36m_table(results: Mapping[str, Any], digits: int = 2) -> str:
  """Per-action P1 / P2 table (the official evaluate() prints it transposed alike).

  Args:
    results: what ``evaluate_h36m`` returned.
    digits: decimals printed.

  Returns:
    A markdown-compatible table: one column per action plus ``Average`` (the mean
    over actions, i.e. ``p1_mm`` / ``p2_mm``), rows P1 and P2 in mm.
  """
  _need(results, ("per_action", "p1_mm", "p2_mm"), "format_h36m_table")
  actions = list(results["per_action"])
  header = ["mm", *actions, "Average"]
  rows = []
  for name, key in (("P1", "p1_mm"), ("P2", "p2_mm")):
    cells = [f"{results['per_action'][a][key]:.{digits}f}" for a in actions]
    rows.append([name, *cells, f"{results[key]:.{digits}f}"])
  return markdown_table(header, rows)


def format_mpi_inf_3dhp_table(results: Mapping[str, Any], digits: int = 2) -> str:
  """Per-sequence MPJPE / PCK / AUC table with the pooled ``All`` row.

  Args:
    results: what ``evaluate_mpi_inf_3dhp`` returned.
    digits: decimals printed.

  Returns:
    A markdown-compatible table, one row per sequence.
  """
  _need(results, ("per_sequence", "mpjpe_mm", "pck_pct", "auc_pct", "num_frames",
                  "pck_threshold_mm"), "format_mpi_inf_3dhp_table")
  thr = results["pck_threshold_mm"]
  header = ["sequence", "frames", "MPJPE (mm)", f"PCK@{thr:g}mm (%)", "AUC (%)"]
  rows = []
  entries = list(results["per_sequence"].items()) + [("All", results)]
  for name, r in entries:
    rows.append([name, str(r["num_frames"]), f"{r['mpjpe_mm']:.{digits}f}",
                 f"{r['pck_pct']:.{digits}f}", f"{r['auc_pct']:.{digits}f}"])
  return markdown_table(header, rows)
