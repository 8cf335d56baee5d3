"""Entry points at the boundary: one-line errors, config overrides, --debug."""

from __future__ import annotations

import json

from absl import flags
import ml_collections
from ml_collections import config_flags
import pytest

from sasmamba_jax import cli
from sasmamba_jax import train
from tests.helpers import REPO_ROOT
from tests.helpers import copy_run
from tests.helpers import load_config
from tests.helpers import one_error_line as _one_error_line
from tests.helpers import run_main
from tests.helpers import run_subprocess


def _parse(*overrides):
  """configs/synthetic_sasmamba.py with ``--config.KEY=VALUE`` overrides, parsed as an
  entry point parses them (stock ml_collections.config_flags, our one-line errors)."""
  argv = ["prog", f"--config={REPO_ROOT / 'configs' / 'synthetic_sasmamba.py'}",
          *(f"--config.{o}" for o in overrides)]
  flag_values = flags.FlagValues()
  holder = config_flags.DEFINE_config_file("config", flag_values=flag_values,
                                           sys_argv=argv)
  try:
    flag_values(argv)
  except Exception as e:  # pylint: disable=broad-except
    raise cli.UsageError(cli._flag_error(e, argv)) from e  # pylint: disable=protected-access
  return holder.value


def test_overrides_parse_types_tuples_and_model_options():
  cfg = _parse("batch_size=8", "optimizer.learning_rate=1", "task.flip_test=false",
               "optimizer.freeze=('a', 'b')", "optimizer.step_epochs=6",
               "model.remat=True", "model.impl=chunked", "model.dim=32",
               "dataset.name=h36m/sh_27")
  assert cfg.batch_size == 8 and cfg.optimizer.learning_rate == 1.0
  assert cfg.task.flip_test is False and cfg.optimizer.freeze == ("a", "b")
  assert cfg.optimizer.step_epochs == (6,)
  assert cfg.model.remat is True and cfg.model.impl == "chunked"
  assert cfg.model.dim == 32 and cfg.model.depth == 2   # the file's value stays
  train.validate(cfg)
  for bad, message in (("batch_size=ten", "invalid literal for int"),
                       ("model.dim=3.5", "invalid literal for int"),
                       ("optimizer.lerning_rate=1", "unknown config key "
                        "--config.optimizer.lerning_rate; did you mean "
                        "--config.optimizer.learning_rate"),
                       ("model.dimm=1", "unknown config key --config.model.dimm; "
                        "did you mean --config.model.dim")):
    with pytest.raises(cli.UsageError, match=message):
      _parse(bad)


def test_train_errors_are_one_line(tmp_path):
  a_file = tmp_path / "a_file"
  a_file.write_text("keep me")
  cases = [
      (["--config=configs/synthetic_sasmamb.py", f"--workdir={tmp_path}/run"],
       "config file configs/synthetic_sasmamb.py not found; did you mean "
       "configs/synthetic_sasmamba.py?"),
      (["--config=configs/synthetic_sasmamba.py", f"--workdir={tmp_path}/run",
        "--config.foo=1"], "unknown config key --config.foo"),
      (["--config=configs/synthetic_mlp_baseline.py", f"--workdir={a_file}",
        "--config.dataset.data_dir=/nonexistent"], "is a file"),
  ]
  # The contract on a real process's stderr: one line, exit code 1 ...
  line = _one_error_line(run_subprocess("experiments.train", *cases[0][0]))
  assert cases[0][1] in line, line
  # ... and the other errors' lines, in this process.
  for args, message in cases[1:]:
    line = _one_error_line(run_main("experiments.train", *args))
    assert message in line, line
  assert a_file.read_text() == "keep me"
  debug = run_main("experiments.train", "--config=configs/synthetic_sasmamb.py",
                   f"--workdir={tmp_path}/run", "--debug")
  assert debug.returncode != 0


def test_damaged_dataset_file_names_the_rebuild(tmp_path):
  from sasmamba_jax import datasets  # pylint: disable=g-import-not-at-top
  data_dir = tmp_path / "tfds"
  datasets.prepare("synthetic_motion/tiny", data_dir=data_dir)
  for path in data_dir.rglob("*train.array_record*"):
    data = bytearray(path.read_bytes())
    for i in range(64, len(data) - 64, 97):
      data[i] ^= 0xFF
    path.write_bytes(bytes(data))
  result = run_main("experiments.train", "--config=configs/synthetic_mlp_baseline.py",
                    f"--workdir={tmp_path}/run",
                    "--config.dataset.name=synthetic_motion/tiny",
                    f"--config.dataset.data_dir={data_dir}", "--config.max_steps=2",
                    "--config.batch_size=8", "--config.progress_bar=False")
  line = _one_error_line(result)
  assert "may be damaged" in line and "python -m experiments.prepare_data " \
      "--dataset=synthetic_motion/tiny" in line, line


def test_evaluate_reads_the_runs_config_and_writes_where_it_says(tiny_run, tmp_path):
  workdir = copy_run(tiny_run.workdir, tmp_path / "run")
  out = run_main("experiments.evaluate", f"--checkpoint={workdir}",
                 "--config.eval_batch_size=16")
  assert out.returncode == 0, out.stderr[-3000:]
  final = json.loads((workdir / "eval" / "final.json").read_text())
  assert final["p1_mm"] == pytest.approx(tiny_run.best["p1_mm"], rel=1e-6)
  assert final["step"] == tiny_run.best["step"]
  assert not (workdir / "eval" / "eval").exists()


def test_evaluate_with_a_wrong_config_is_one_short_line(tiny_run):
  workdir, data_dir = tiny_run.workdir, tiny_run.data_dir
  line = _one_error_line(run_main(
      "experiments.evaluate", "--config=configs/synthetic_sasmamba.py",
      f"--checkpoint={workdir}", "--config.dataset.name=synthetic_motion/tiny",
      f"--config.dataset.data_dir={data_dir}"))
  assert "trained with another model or config" in line and len(line) < 1200, line
  line = _one_error_line(run_main("experiments.evaluate",
                                  f"--checkpoint={workdir / 'nope'}"))
  assert "does not exist" in line


def test_evaluate_on_a_damaged_best_checkpoint_is_one_line(tiny_run, tmp_path):
  data_dir = tiny_run.data_dir
  run = copy_run(tiny_run.workdir, tmp_path / "run")
  for path in (run / "best").rglob("*"):
    if path.is_file() and path.parent.name == "d":  # The arrays' data files.
      path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
  # A real process: what the checkpoint library's threads print reaches its stderr.
  result = run_subprocess("experiments.evaluate", f"--checkpoint={run}",
                          f"--config.dataset.data_dir={data_dir}")
  line = _one_error_line(result)
  assert f"in {run / 'best'} is damaged" in line and "(--latest)" in line, line
  # Nothing else: no tracebacks from the checkpoint library's threads.
  assert [l for l in result.stderr.splitlines() if l.strip()] == [line]


def test_config_json_of_a_run_validates():
  cfg = ml_collections.ConfigDict(json.loads(
      load_config("h36m_posemamba.py", "s").to_json_best_effort()))
  train.validate(cfg)
