"""The scan benchmark runs, measures and saves what the README quotes."""

import json

from sasmamba_jax import benchmarking
from sasmamba_jax.benchmarking import scan as benchmark


def test_benchmark_runs_and_saves(tmp_path):
  payload = benchmark.run(["tiny"], ["sequential", "associative", "chunked"], [8],
                          repeats=1)
  rows = {r["impl"]: r for r in payload["results"]}
  assert set(rows) == {"sequential", "associative", "chunked/8"}
  for row in rows.values():
    assert row["fwd_ms"] > 0 and row["fwd_bwd_ms"] > 0
    assert row["fwd_bwd_speedup_vs_associative"] > 0
  assert rows["associative"]["fwd_bwd_speedup_vs_associative"] == 1.0
  assert payload["environment"]["jax"] and payload["auto_resolves_to"] == {"tiny": "sequential_vjp"}
  path = benchmarking.save_results("benchmark_scan", payload, tmp_path)
  assert json.loads(path.read_text())["results"] == payload["results"]


def test_default_impls_skip_the_interpreter_and_unavailable_kernels():
  impls = benchmark.default_impls()
  assert "pallas_interpret" not in impls and "chunked" in impls


def test_entry_point_prints_and_saves(tmp_path):
  from tests.helpers import run_main  # pylint: disable=g-import-not-at-top
  out = run_main("experiments.benchmark_scan", "--shapes=tiny", "--impls=sequential",
                 "--chunk_sizes=8", "--repeats=1", f"--results_dir={tmp_path}")
  assert out.returncode == 0, out.stderr[-2000:]
  assert "| shape | impl |" in out.stdout and "auto resolves to" in out.stdout
  saved = json.loads(next(tmp_path.glob("benchmark_scan_*.json")).read_text())
  assert [r["impl"] for r in saved["results"]] == ["sequential"]
