"""experiments.export: a run becomes a model directory that the other tools load."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import sasmamba_jax
from sasmamba_jax import train
from tests.train.test_config import load_config
from tests.train.test_trainer import tiny

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]


def _run(*args):
  return subprocess.run([sys.executable, *args], cwd=REPO_ROOT, capture_output=True,
                        text=True, timeout=600, check=False)


def test_export_of_a_run_loads_and_evaluates_the_same(synthetic_tiny, tmp_path):
  # The MLP baseline: what is checked here (the run's record, the best weights, the
  # evaluation of the directory) does not depend on the model, and a lifter's run
  # took 3x longer to train, export and evaluate. Lifters' model directories are
  # checked in tests/checkpoints/test_pretrained.py.
  data_dir = pathlib.Path(synthetic_tiny.data_dir_root)
  cfg = tiny(load_config("synthetic_mlp_baseline.py"), data_dir, max_steps=2,
             eval_every_steps=2)
  results = train.train_and_evaluate(cfg, tmp_path / "run")
  out = _run("-m", "experiments.export", f"--checkpoint={tmp_path / 'run'}",
             f"--output={tmp_path / 'export'}")
  assert out.returncode == 0, out.stderr[-3000:]
  meta = json.loads((tmp_path / "export" / "config.json").read_text())
  assert meta["source"]["step"] == 2 and meta["source"]["kind"] == "best"
  assert meta["metrics"]["p1_mm"] == pytest.approx(results["p1_mm"])
  # The same weights as the run's best checkpoint.
  from_run = sasmamba_jax.load_pretrained(tmp_path / "run")
  exported = sasmamba_jax.load_pretrained(tmp_path / "export")
  x = np.random.default_rng(0).normal(size=(2, 9, 17, 2)).astype(np.float32)
  np.testing.assert_array_equal(np.asarray(exported(x)), np.asarray(from_run(x)))
  evaluated = _run("-m", "experiments.evaluate",
                   "--config=configs/synthetic_mlp_baseline.py",
                   f"--checkpoint={tmp_path / 'export'}",
                   "--config.dataset.name=synthetic_motion/tiny",
                   f"--config.dataset.data_dir={data_dir}",
                   f"--output={tmp_path / 'eval.json'}")
  assert evaluated.returncode == 0, evaluated.stderr[-3000:]
  p1 = json.loads((tmp_path / "eval.json").read_text())["p1_mm"]
  assert p1 == pytest.approx(results["p1_mm"], rel=1e-5)
  bad = _run("-m", "experiments.export", f"--checkpoint={tmp_path / 'nope'}",
             f"--output={tmp_path / 'x'}")
  assert bad.returncode == 1 and "Traceback" not in bad.stderr
  assert "does not exist" in bad.stderr
  # --output=RUN would have replaced the run's config.json: refused, nothing written.
  run_files = {p: p.read_bytes() for p in (tmp_path / "run").rglob("*") if p.is_file()}
  for output, message in ((tmp_path / "run", "holds a training run"),
                          (tmp_path / "export", "already holds an exported model; "
                                                "pass --overwrite")):
    refused = _run("-m", "experiments.export", f"--checkpoint={tmp_path / 'run'}",
                   f"--output={output}")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: {output} {message}"), lines
  assert {p: p.read_bytes() for p in (tmp_path / "run").rglob("*")
          if p.is_file()} == run_files


@pytest.mark.slow
def test_downstream_example_runs():
  out = _run("examples/downstream_jax.py", "--steps=3")
  assert out.returncode == 0, out.stderr[-3000:]
  assert "plain JAX: pelvis-to-head heights of shape (4, 9)" in out.stdout
  losses = [float(v) for v in out.stdout.split("fine-tuning losses: ")[1].split(", ")]
  assert len(losses) == 3 and losses[-1] < losses[0]
