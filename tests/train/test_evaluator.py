"""The prediction/evaluation path: our runs, official state dicts, experiments.evaluate."""

import json
import pathlib

import numpy as np
import pytest

from sasmamba_jax import models
from sasmamba_jax import train
from sasmamba_jax.checkpoints import to_official
from sasmamba_jax.train import evaluator as evaluate
from tests.helpers import TINY_LIFTER
from tests.helpers import copy_run
from tests.helpers import load_config
from tests.helpers import run_main
from tests.helpers import tiny

@pytest.fixture(scope="module")
def data_dir(synthetic_tiny):
  return pathlib.Path(synthetic_tiny.data_dir_root)


def test_our_run_best_checkpoint(tiny_run, tmp_path):
  run = copy_run(tiny_run.workdir, tmp_path / "run")
  results = evaluate.evaluate_checkpoint(
      tiny(load_config("synthetic_mlp_baseline.py"), tiny_run.data_dir), run)
  assert results["step"] == tiny_run.best["step"]
  assert results["p1_mm"] == pytest.approx(tiny_run.best["p1_mm"], rel=1e-6)
  assert json.loads((run / "eval" / "final.json").read_text())["p1_mm"] == (
      results["p1_mm"])


@pytest.fixture
def official_npz(tmp_path):
  model = models.create("sasmamba", seed=3, **TINY_LIFTER)
  path = tmp_path / "sasmamba_tiny_official.npz"
  np.savez(path, **to_official(model))
  return model, path


def test_official_checkpoint(data_dir, tmp_path, official_npz):
  model, path = official_npz
  cfg = tiny(load_config("h36m_sasmamba.py"), data_dir)
  results = evaluate.evaluate_checkpoint(cfg, path)
  assert json.loads(path.with_name(path.name + ".eval.json").read_text())[
      "p1_mm"] == results["p1_mm"]
  # The same weights evaluated directly give the same numbers.
  trainer = train.Trainer(tiny(load_config("h36m_sasmamba.py"), data_dir),
                          tmp_path / "direct")
  model.eval()
  trainer.set_model(model)
  assert trainer.evaluate(0)["p1_mm"] == pytest.approx(results["p1_mm"], rel=1e-6)


def test_channel_mismatch_is_explained(data_dir, official_npz):
  _, path = official_npz
  cfg = tiny(load_config("h36m_sasmamba.py"), data_dir)
  cfg.task.use_confidence = True
  with pytest.raises(ValueError, match="takes 2 input channels and 17 joints, but the "
                                       "task feeds 3 channels"):
    evaluate.evaluate_checkpoint(cfg, path)


def test_cli(data_dir, tmp_path, official_npz):
  _, path = official_npz
  out = tmp_path / "out.json"
  base = ["--config=configs/h36m_sasmamba.py", f"--checkpoint={path}",
          "--config.dataset.name=synthetic_motion/tiny",
          f"--config.dataset.data_dir={data_dir}", "--config.eval_batch_size=16",
          "--config.model.num_frames=27", f"--output={out}"]
  ok = run_main("experiments.evaluate", *base)
  assert ok.returncode == 0, ok.stderr[-3000:]
  assert "Average" in ok.stdout and np.isfinite(json.loads(out.read_text())["p1_mm"])
  missing = run_main("experiments.evaluate", base[0],
                     f"--checkpoint={tmp_path / 'nope.bin'}")
  assert missing.returncode == 1 and "does not exist" in missing.stderr


def test_non_finite_inputs_are_refused_not_predicted(data_dir):
  from sasmamba_jax import datasets  # pylint: disable=g-import-not-at-top
  cfg = train.validate(tiny(load_config("synthetic_mlp_baseline.py"), data_dir))
  predictor = evaluate.build_predictor(cfg)
  source = [dict(ex) for ex in list(datasets.load("synthetic_motion/tiny", "test",
                                                  data_dir=data_dir))[:6]]
  source[4]["input_2d"] = np.array(source[4]["input_2d"])
  source[4]["input_2d"][3, 2, 0] = np.nan
  with pytest.raises(ValueError, match="'input_2d' of example 4 .* NaN or infinite"):
    evaluate.evaluate(predictor, source, batch_size=4)
