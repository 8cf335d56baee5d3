"""experiments.export: a run becomes a model directory that the other tools load."""

from __future__ import annotations

import json

import numpy as np
import pytest

import sasmamba_jax
from tests.helpers import REPO_ROOT
from tests.helpers import copy_run
from tests.helpers import one_error_line
from tests.helpers import run_main
from tests.helpers import run_subprocess


def test_export_of_a_run_loads_and_evaluates_the_same(tiny_run, tiny_export, tmp_path):
  # The MLP baseline: what is checked here (the run's record, the best weights, the
  # evaluation of the directory) does not depend on the model. Lifters' model
  # directories are checked in tests/checkpoints/test_pretrained.py.
  run, export = tiny_run.workdir, tiny_export
  meta = json.loads((export / "config.json").read_text())
  assert meta["source"]["step"] == tiny_run.best["step"]
  assert meta["source"]["kind"] == "best"
  assert meta["metrics"]["p1_mm"] == pytest.approx(tiny_run.best["p1_mm"])
  # The same weights as the run's best checkpoint.
  from_run = sasmamba_jax.load_pretrained(run)
  exported = sasmamba_jax.load_pretrained(export)
  x = np.random.default_rng(0).normal(size=(2, 9, 17, 2)).astype(np.float32)
  np.testing.assert_array_equal(np.asarray(exported(x)), np.asarray(from_run(x)))
  evaluated = run_main("experiments.evaluate",
                       "--config=configs/synthetic_mlp_baseline.py",
                       f"--checkpoint={export}",
                       "--config.dataset.name=synthetic_motion/tiny",
                       f"--config.dataset.data_dir={tiny_run.data_dir}",
                       f"--output={tmp_path / 'eval.json'}")
  assert evaluated.returncode == 0, evaluated.stderr[-3000:]
  p1 = json.loads((tmp_path / "eval.json").read_text())["p1_mm"]
  assert p1 == pytest.approx(tiny_run.best["p1_mm"], rel=1e-5)
  bad = run_main("experiments.export", f"--checkpoint={tmp_path / 'nope'}",
                 f"--output={tmp_path / 'x'}")
  assert bad.returncode == 1 and "does not exist" in one_error_line(bad)


def test_export_never_destroys_a_run_or_an_earlier_export(tiny_run, tiny_export,
                                                         tmp_path):
  """--output=RUN would have replaced the run's config.json: refused, nothing
  written; an earlier export is replaced only with --overwrite."""
  run = copy_run(tiny_run.workdir, tmp_path / "run")
  export = copy_run(tiny_export, tmp_path / "export")
  run_files = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
  # The one-line contract of a real process, once.
  refused = run_subprocess("experiments.export", f"--checkpoint={run}",
                           f"--output={run}")
  line = one_error_line(refused)
  assert [l for l in refused.stderr.splitlines() if l.strip()] == [line]
  assert line.startswith(f"error: {run} holds a training run"), line
  refused = run_main("experiments.export", f"--checkpoint={run}",
                     f"--output={export}")
  assert one_error_line(refused).startswith(
      f"error: {export} already holds an exported model; pass --overwrite")
  assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == run_files
  replaced = run_main("experiments.export", f"--checkpoint={run}",
                      f"--output={export}", "--overwrite")
  assert replaced.returncode == 0, replaced.stderr[-3000:]
  assert sasmamba_jax.load_pretrained(export) is not None


@pytest.mark.slow
def test_downstream_example_runs():
  out = run_subprocess(str(REPO_ROOT / "examples" / "downstream_jax.py"), "--steps=3")
  assert out.returncode == 0, out.stderr[-3000:]
  assert "plain JAX: pelvis-to-head heights of shape (4, 9)" in out.stdout
  losses = [float(v) for v in out.stdout.split("fine-tuning losses: ")[1].split(", ")]
  assert len(losses) == 3 and losses[-1] < losses[0]
