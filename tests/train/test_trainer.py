"""The trainer end to end on tiny data: configs, learning, sharding, resume, failures."""

from __future__ import annotations

import json
import os
import pathlib
import socket
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

from sasmamba_jax import train
from sasmamba_jax.train import checkpointing
from tests.datasets import fakes
from tests.helpers import REPO_ROOT
from tests.helpers import TINY_LIFTER
from tests.helpers import load_config
from tests.helpers import run_main
from tests.helpers import tiny


@pytest.fixture(scope="module")
def data_dir(synthetic_tiny):
  return pathlib.Path(synthetic_tiny.data_dir_root)


def losses_of(workdir):
  return [r["train/loss"] for r in map(json.loads, (workdir / "metrics.jsonl")
                                       .read_text().splitlines()) if "train/loss" in r]


@pytest.mark.parametrize("name,arg", [("h36m_sasmamba.py", None),
                                      ("h36m_posemamba.py", "s"),
                                      ("synthetic_mlp_baseline.py", None)])
def test_configs_train_and_evaluate(name, arg, data_dir, tmp_path):
  cfg = tiny(load_config(name, arg), data_dir)
  results = train.train_and_evaluate(cfg, tmp_path)
  assert np.isfinite(results["p1_mm"]) and results["per_action"]
  saved = json.loads((tmp_path / "eval" / "step_4.json").read_text())
  assert saved["p1_mm"] == results["p1_mm"] and "p2_mm" in saved
  assert json.loads((tmp_path / "config.json").read_text())["model"]["name"] == (
      cfg.model.name)
  assert len(losses_of(tmp_path)) == 4
  assert list((tmp_path / "tensorboard").iterdir())
  assert (tmp_path / "checkpoints" / "4").is_dir() and (tmp_path / "best").is_dir()


def test_mpi_inf_3dhp_config(tmp_path):
  manual = tmp_path / "manual"
  manual.mkdir()
  train_data, test_data = fakes.fake_mpi()
  np.savez_compressed(manual / "data_train_3dhp.npz", data=train_data)
  np.savez_compressed(manual / "data_test_3dhp.npz", data=test_data)
  cfg = load_config("mpi_inf_3dhp_sasmamba.py")
  cfg.dataset.manual_dir = str(manual)
  cfg.dataset.data_dir = str(tmp_path / "tfds")
  cfg.dataset.prepare_if_missing = True
  for k, v in TINY_LIFTER.items():
    cfg.model[k] = v
  cfg.batch_size, cfg.eval_batch_size, cfg.max_steps = 4, 4, 2
  cfg.progress_bar = False
  results = train.train_and_evaluate(cfg, tmp_path / "run")
  assert np.isfinite(results["mpjpe_mm"]) and 0 <= results["pck_pct"] <= 100


def test_loss_falls(data_dir, tmp_path):
  cfg = tiny(load_config("synthetic_mlp_baseline.py"), data_dir, max_steps=30,
             eval_every_steps=30)
  train.train_and_evaluate(cfg, tmp_path)
  loss = losses_of(tmp_path)
  assert np.mean(loss[-5:]) < 0.7 * np.mean(loss[:5]), loss


def test_epochs_keep_the_last_partial_batch_and_logs_show_the_applied_rate(
    data_dir, tmp_path):
  # 288 train clips in batches of 100: the official loader's epoch is 3 steps
  # (100, 100, 88), not 2; the lr halves after each epoch.
  cfg = tiny(load_config("synthetic_mlp_baseline.py"), data_dir, batch_size=100,
             num_epochs=2, max_steps=0, eval_every_steps=0,
             **{"optimizer.lr_decay_per_epoch": 0.5})
  trainer = train.Trainer(cfg, tmp_path)
  assert (len(trainer.train_split), trainer.steps_per_epoch,
          trainer.total_steps) == (288, 3, 6)
  trainer.run()
  rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text()
          .splitlines()]
  train_rows = [r for r in rows if "train/learning_rate" in r]
  lr = cfg.optimizer.learning_rate
  assert [r["step"] for r in train_rows] == [1, 2, 3, 4, 5, 6]
  assert [r["train/learning_rate"] for r in train_rows] == pytest.approx(
      [lr, lr, lr, lr / 2, lr / 2, lr / 2])
  assert [r["train/epoch"] for r in train_rows] == pytest.approx(
      [s / 3 for s in range(1, 7)])
  # One evaluation per epoch, after its last (partial-batch) step.
  assert sorted(p.name for p in (tmp_path / "eval").iterdir()) == ["step_3.json",
                                                                   "step_6.json"]


def _state(trainer):
  return jax.tree.map(np.asarray, {k: trainer.state[k] for k in ("params",
                                                                 "model_state")})


def test_resume_continues_exactly(data_dir, tmp_path):
  def cfg(steps):
    # The baseline has dropout (per-step randomness to reproduce) and BatchNorm
    # statistics (non-parameter state to carry through the checkpoint).
    return tiny(load_config("synthetic_mlp_baseline.py"), data_dir, max_steps=steps,
                eval_every_steps=100, checkpoint_every_steps=100)

  straight = train.Trainer(cfg(6), tmp_path / "straight")
  straight.run()
  first = train.Trainer(cfg(3), tmp_path / "resumed")
  first.run()
  resumed = train.Trainer(cfg(6), tmp_path / "resumed")
  resumed.run()
  assert (tmp_path / "resumed" / "checkpoints" / "3").is_dir()
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7),
               _state(straight), _state(resumed))
  assert losses_of(tmp_path / "resumed")[3:] == pytest.approx(
      losses_of(tmp_path / "straight")[3:], rel=1e-6)


def test_non_finite_loss_stops_without_overwriting(data_dir, tmp_path):
  cfg = tiny(load_config("synthetic_mlp_baseline.py"), data_dir, max_steps=6,
             checkpoint_every_steps=2, eval_every_steps=100)
  trainer = train.Trainer(cfg, tmp_path)
  step_fn = trainer._train_step  # pylint: disable=protected-access

  def diverging(state, batch, step):
    state, metrics = step_fn(state, batch, step)
    if int(step) >= 3:  # From step 3 on the update blows up.
      state = jax.tree.map(lambda x: x * np.nan if x.dtype.kind == "f" else x, state)
      metrics = dict(metrics, loss=metrics["loss"] * np.nan)
    return state, metrics

  trainer._train_step = diverging  # pylint: disable=protected-access
  with pytest.raises(train.NonFiniteLossError,
                     match=r"loss at step 3 is nan; the last checkpoint, step 2, was "
                           r"saved before that \(its checksums are verified"):
    trainer.run()
  steps = sorted(int(p.name) for p in (tmp_path / "checkpoints").glob("[0-9]*"))
  assert steps == [2]
  # The good checkpoint is intact: a fresh trainer resumes from it with finite weights.
  resumed = train.Trainer(cfg, tmp_path)
  ckpt = checkpointing.Checkpointer(tmp_path, keep=3)
  state, meta = ckpt.restore(checkpointing.abstract_like(resumed.state),
                             resumed.train_iterator())
  ckpt.close()
  assert meta["step"] == 2
  assert all(np.all(np.isfinite(np.asarray(x))) for x in jax.tree.leaves(state))


def test_missing_dataset_names_the_command(tmp_path):
  cfg = load_config("synthetic_sasmamba.py")
  cfg.dataset.data_dir = str(tmp_path / "empty")
  cfg.dataset.prepare_if_missing = False
  with pytest.raises(FileNotFoundError, match="experiments.prepare_data"):
    train.Trainer(cfg, tmp_path / "run")


def _run_script(script: str, env_extra: dict[str, str], timeout=600):
  env = dict(os.environ, **env_extra)
  return subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)],
                          cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)


_SCRIPT = """
import faulthandler, json, os, sys
# A process stuck for minutes writes every thread's stack beside its run (the test
# shows them): a hang says where it is.
_stacks = open({workdir!r} + f".stacks.{{os.getpid()}}", "w")
faulthandler.dump_traceback_later(90, repeat=False, file=_stacks)
from tests.helpers import load_config, tiny
from sasmamba_jax import train
cfg = tiny(load_config({config!r}), {data_dir!r}, max_steps=3,
           eval_every_steps=3, **{overrides!r})
results = train.train_and_evaluate(cfg, {workdir!r})
print("RESULT", json.dumps({{"p1_mm": results["p1_mm"]}}))
"""


@pytest.mark.slow
def test_eight_devices_match_one_device(data_dir, tmp_path):
  one = tiny(load_config("synthetic_sasmamba.py"), data_dir, max_steps=3,
             eval_every_steps=3)
  train.train_and_evaluate(one, tmp_path / "one")
  proc = _run_script(
      _SCRIPT.format(config="synthetic_sasmamba.py", data_dir=str(data_dir),
                     workdir=str(tmp_path / "eight"),
                     overrides={"mesh.param_sharding": "fsdp"}),
      {"XLA_FLAGS": "--xla_force_host_platform_device_count=8",
       "JAX_PLATFORMS": "cpu"})
  out, err = proc.communicate(timeout=600)
  assert proc.returncode == 0, err[-3000:]
  assert losses_of(tmp_path / "eight") == pytest.approx(losses_of(tmp_path / "one"),
                                                         rel=1e-4)


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def test_two_processes_over_jax_distributed(data_dir, tmp_path):
  port = _free_port()
  procs = []
  for pid in range(2):
    overrides = {"distributed.initialize": True,
                 "distributed.coordinator_address": f"127.0.0.1:{port}",
                 "distributed.num_processes": 2, "distributed.process_id": pid}
    # Without the suite's compilation cache (tests/conftest.py): with it, one CI
    # run hung at the shutdown barrier (a process loading what the other had just
    # compiled, we believe); the cache is a test-speed aid, not what this tests.
    procs.append(_run_script(
        _SCRIPT.format(config="synthetic_mlp_baseline.py", data_dir=str(data_dir),
                       workdir=str(tmp_path / "run"),
                       overrides=overrides),
        {"JAX_PLATFORMS": "cpu", "JAX_ENABLE_COMPILATION_CACHE": "false"}))
  outs = [p.communicate(timeout=600) for p in procs]
  stacks = "".join(f.read_text() for f in tmp_path.glob("run.stacks.*"))
  for p, (out, err) in zip(procs, outs):
    assert p.returncode == 0, err[-3000:] + "\nstacks of a stuck process:\n" + stacks
  results = [json.loads(o.split("RESULT", 1)[1]) for o, _ in outs]
  assert results[0] == results[1] and np.isfinite(results[0]["p1_mm"])
  assert (tmp_path / "run" / "eval" / "step_3.json").is_file()


def test_cli_runs_and_rejects_unknown_keys(data_dir, tmp_path):
  from absl import logging  # pylint: disable=g-import-not-at-top
  base = ["--config=configs/synthetic_mlp_baseline.py", f"--workdir={tmp_path}",
          "--config.dataset.name=synthetic_motion/tiny",
          f"--config.dataset.data_dir={data_dir}", "--config.max_steps=2",
          "--config.batch_size=8", "--config.eval_batch_size=32",
          "--config.model.width=64"]  # A model option the file does not set.
  ok = run_main("experiments.train", *base)
  assert ok.returncode == 0, ok.stderr[-3000:]
  assert (tmp_path / "eval" / "step_2.json").is_file()
  saved = json.loads((tmp_path / "config.json").read_text())["model"]
  assert saved["name"] == "mlp_baseline" and saved["width"] == 64
  assert saved["num_stages"] is None   # not set: the model's default
  # Library INFO logs (Orbax, TFDS, JAX) are off unless --verbosity asks for them.
  assert ok.verbosity == logging.WARNING
  bad = run_main("experiments.train", *base, "--config.optimizer.lerning_rate=1")
  assert bad.returncode == 1 and "Traceback" not in bad.stderr
  assert ("unknown config key --config.optimizer.lerning_rate; did you mean "
          "--config.optimizer.learning_rate?") in bad.stderr


@pytest.mark.slow
def test_bfloat16_compute_and_gradient_clipping(data_dir, tmp_path):
  cfg = tiny(load_config("synthetic_sasmamba.py"), data_dir, max_steps=2,
             eval_every_steps=2, compute_dtype="bfloat16",
             **{"optimizer.grad_clip_norm": 0.5})
  trainer = train.Trainer(cfg, tmp_path)
  results = trainer.run()
  assert np.isfinite(results["p1_mm"])
  # Parameters stay float32 whatever the compute dtype.
  assert {x.dtype for x in jax.tree.leaves(trainer.state["params"])} == {np.dtype("float32")}


_SIGTERM_SCRIPT = """
import json, sys
from tests.helpers import load_config, tiny
from sasmamba_jax import cli, train

def main(argv):
  cfg = tiny(load_config("synthetic_mlp_baseline.py"), {data_dir!r}, max_steps=100000,
             eval_every_steps=100000, checkpoint_every_steps=100000,
             checkpoint_every_minutes=0.0)
  train.train_and_evaluate(cfg, {workdir!r})

cli.run(main, ["train"])
"""


def _mlp(data_dir, steps):
  return tiny(load_config("synthetic_mlp_baseline.py"), data_dir, max_steps=steps,
              eval_every_steps=100000, checkpoint_every_steps=100000)


@pytest.mark.slow
def test_sigterm_saves_the_step_and_resume_is_bit_identical(data_dir, tmp_path):
  import signal  # pylint: disable=g-import-not-at-top
  import time  # pylint: disable=g-import-not-at-top
  workdir = tmp_path / "interrupted"
  proc = _run_script(_SIGTERM_SCRIPT.format(data_dir=str(data_dir),
                                            workdir=str(workdir)),
                     {"JAX_PLATFORMS": "cpu"})
  metrics = workdir / "metrics.jsonl"
  deadline = time.monotonic() + 300
  while time.monotonic() < deadline and proc.poll() is None:
    if metrics.exists() and len(metrics.read_text().splitlines()) >= 3:
      break
    time.sleep(0.05)
  proc.send_signal(signal.SIGTERM)
  _, err = proc.communicate(timeout=300)
  assert proc.returncode == 128 + signal.SIGTERM, err[-3000:]
  assert "Traceback" not in err
  line = [l for l in err.splitlines() if l.startswith("stopped: ")]
  assert len(line) == 1 and "run the same command" in line[0], err[-2000:]
  step = int(line[0].split("after step ")[1].split(";")[0])
  assert step >= 3 and (workdir / "checkpoints" / str(step)).is_dir()
  assert not (workdir / "run.lock").exists()
  # Resumed, it ends exactly where a run that was never interrupted ends.
  target = step + 3
  straight = train.Trainer(_mlp(data_dir, target), tmp_path / "straight")
  straight.run()
  resumed = train.Trainer(_mlp(data_dir, target), workdir)
  resumed.run()
  jax.tree.map(np.testing.assert_array_equal, _state(straight), _state(resumed))
  steps = [r["step"] for r in map(json.loads, metrics.read_text().splitlines())
           if "train/loss" in r]
  assert steps == list(range(1, target + 1))  # No step logged twice.


def test_one_run_per_workdir(data_dir, tmp_path):
  from sasmamba_jax.train import workdir_lock  # pylint: disable=g-import-not-at-top
  trainer = train.Trainer(_mlp(data_dir, 2), tmp_path)
  with workdir_lock.WorkdirLock(tmp_path):  # Another run holds it.
    with pytest.raises(workdir_lock.WorkdirLockedError, match="in use by another run"):
      trainer.run()
  assert not (tmp_path / "checkpoints").exists()


def test_resume_checks_the_config_and_a_finished_run_says_so(data_dir, tmp_path,
                                                              capsys):
  first = train.train_and_evaluate(_mlp(data_dir, 2), tmp_path)
  capsys.readouterr()
  again = train.train_and_evaluate(_mlp(data_dir, 2), tmp_path)
  assert again["p1_mm"] == first["p1_mm"]
  assert "already finished at step 2" in capsys.readouterr().out
  changed = _mlp(data_dir, 2)
  changed.batch_size = 4
  with pytest.raises(ValueError, match=r"other settings; changed: batch_size: 8 -> 4"):
    train.train_and_evaluate(changed, tmp_path)
  longer = _mlp(data_dir, 3)  # max_steps may change: the run continues.
  train.train_and_evaluate(longer, tmp_path)
  out = capsys.readouterr().out
  assert "resuming with changed settings: max_steps: 2 -> 3" in out
  assert "training steps 3..3" in out


def test_workdir_that_is_a_file_is_refused(data_dir, tmp_path):
  path = tmp_path / "file"
  path.write_text("mine")
  with pytest.raises(NotADirectoryError, match="is a file"):
    train.Trainer(_mlp(data_dir, 2), path)
  assert path.read_text() == "mine"


def test_checkpoints_by_wall_time(data_dir, tmp_path):
  cfg = _mlp(data_dir, 3)
  cfg.checkpoint_every_minutes = 1e-6  # Every step is "a while" since the last save.
  cfg.keep_checkpoints = 5
  train.train_and_evaluate(cfg, tmp_path)
  saved = sorted(int(p.name) for p in (tmp_path / "checkpoints").glob("[0-9]*"))
  assert saved == [1, 2, 3]
