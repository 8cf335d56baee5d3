"""Run logs stay whole: recreated when deleted, no step twice after a resume."""

from __future__ import annotations

import json
import shutil

from sasmamba_jax.train import observability


def _steps(workdir):
  return [json.loads(line)["step"]
          for line in (workdir / "metrics.jsonl").read_text().splitlines()]


def test_deleted_logs_are_recreated(tmp_path):
  writer = observability.MetricsWriter(tmp_path, enabled=True)
  writer.write(1, {"loss": 1.0})
  (tmp_path / "metrics.jsonl").unlink()
  shutil.rmtree(tmp_path / "tensorboard")
  writer.write(2, {"loss": 0.5})
  writer.close()
  assert _steps(tmp_path) == [2]
  assert list((tmp_path / "tensorboard").iterdir())


def test_resume_drops_the_steps_after_the_checkpoint(tmp_path):
  writer = observability.MetricsWriter(tmp_path, enabled=True)
  for step in range(1, 7):
    writer.write(step, {"loss": 1.0 / step})
  writer.close()
  with open(tmp_path / "metrics.jsonl", "a", encoding="utf-8") as f:
    f.write('{"step": 7, "lo')  # A line torn by kill -9.
  resumed = observability.MetricsWriter(tmp_path, enabled=True, resume_step=4)
  resumed.write(5, {"loss": 0.3})
  resumed.close()
  assert _steps(tmp_path) == [1, 2, 3, 4, 5]
