"""The quickstart demonstration runs end to end and learns."""

import json
import pathlib
import subprocess
import sys

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_demo_scan_learns(tmp_path):
  result = subprocess.run(
      [sys.executable, "-m", "experiments.demo_scan", f"--workdir={tmp_path}",
       "--steps=80"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
      check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  assert "smallest end-to-end demonstration" in result.stdout
  losses = [json.loads(line)["loss"]
            for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  assert len(losses) == 80
  assert sum(losses[-10:]) / 10 < 0.5 * losses[0]
