"""Run logs stay whole: recreated when deleted, no step twice after a resume."""

from __future__ import annotations

import io
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


class _Stream(io.StringIO):
  def __init__(self, terminal):
    super().__init__()
    self.terminal = terminal

  def isatty(self):
    return self.terminal


def test_progress_without_a_terminal_is_a_plain_line_every_n_steps(capsys):
  log = _Stream(terminal=False)
  progress = observability.Progress(10, 0, True, every=4, stream=log)
  for _ in range(10):
    progress.update(1, loss="0.5000")
  progress.write("best p1_mm 12.00 at step 8")
  progress.close()
  out = capsys.readouterr().out
  assert "\r" not in out + log.getvalue() and log.getvalue() == ""
  lines = out.splitlines()
  assert [line.split(":")[0] for line in lines[:3]] == [
      "step 4/10 (40%)", "step 8/10 (80%)", "step 10/10 (100%)"]
  assert lines[0].startswith("step 4/10 (40%): loss 0.5000, ") and "steps/s" in lines[0]
  assert lines[3] == "best p1_mm 12.00 at step 8"
  # On a terminal: the bar, as before.
  terminal = _Stream(terminal=True)
  bar = observability.Progress(10, 0, True, every=4, stream=terminal)
  bar.update(1, loss="0.5000")
  bar.close()
  assert "\r" in terminal.getvalue() and capsys.readouterr().out == ""
