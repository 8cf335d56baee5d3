"""What several test modules share: configs at test size, entry points run in-process
or as a subprocess, small data. No test module imports another; they import this.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import io
import os
import pathlib
import runpy
import subprocess
import sys
import traceback
import numpy as np

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
CONFIGS = REPO_ROOT / "configs"
#: A lifter at test size (the shared runs and the trainer tests).
TINY_LIFTER = {"num_frames": 27, "dim": 16, "depth": 1}


def load_config(name: str, arg: str | None = None):
  """``configs/NAME[:arg]``'s ``get_config``."""
  spec = importlib.util.spec_from_file_location(f"cfg_{name[:-3]}", CONFIGS / name)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config() if arg is None else module.get_config(arg)


def tiny(config, data_dir, **overrides):
  """``config`` on synthetic_motion/tiny with a tiny model and a few steps."""
  config.dataset.name = "synthetic_motion/tiny"
  config.dataset.data_dir = str(data_dir)
  config.dataset.prepare_if_missing = False
  if config.model.name != "mlp_baseline":
    for k, v in TINY_LIFTER.items():
      config.model[k] = v
  config.batch_size = 8
  config.eval_batch_size = 16
  config.max_steps = 4
  config.log_every_steps = 1
  config.eval_every_steps = 4
  config.progress_bar = False
  for path, value in overrides.items():
    node = config
    *parents, leaf = path.split(".")
    for p in parents:
      node = node[p]
    node[leaf] = value
  return config


@dataclasses.dataclass
class Result:
  """What an entry point did: its exit code and what it printed."""

  returncode: int
  stdout: str
  stderr: str
  #: absl's logging verbosity when an in-process entry point ended (None: a process)
  verbosity: int | None = None


def run_main(module: str, *args: str, cwd: pathlib.Path = REPO_ROOT) -> Result:
  """``python -m module args`` run in this process.

  The module runs as ``__main__`` (its flags are defined, its ``cli.run(main)``
  parses them), with stdout and stderr captured; afterwards the flags it defined
  are removed and the others get their values back, so that the next entry point
  starts clean. What only a separate process shows (one line on the real stderr,
  signals, several processes) is tested with ``run_subprocess``.
  """
  from absl import flags  # pylint: disable=g-import-not-at-top
  from absl.testing import flagsaver  # pylint: disable=g-import-not-at-top
  # Libraries define their flags once, at import: imported before the snapshot,
  # theirs stay; only the entry point's own are removed afterwards.
  import sasmamba_jax.cli  # pylint: disable=g-import-not-at-top,unused-import
  before = set(flags.FLAGS)
  out, err = io.StringIO(), io.StringIO()
  argv, here = sys.argv, os.getcwd()
  from absl import logging  # pylint: disable=g-import-not-at-top
  code, verbosity = 0, None
  with flagsaver.flagsaver():
    try:
      os.chdir(cwd)
      sys.argv = [module, *args]
      with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
          runpy.run_module(module, run_name="__main__", alter_sys=False)
        except SystemExit as e:
          code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except Exception:  # pylint: disable=broad-except  # --debug re-raises.
          traceback.print_exc()
          code = 1
    finally:
      verbosity = logging.get_verbosity()
      sys.argv = argv
      os.chdir(here)
      for name in set(flags.FLAGS) - before:
        with contextlib.suppress(AttributeError):
          delattr(flags.FLAGS, name)
  return Result(code, out.getvalue(), err.getvalue(), verbosity)


def run_subprocess(module_or_file: str, *args: str, timeout: int = 600,
                   env: dict[str, str] | None = None) -> Result:
  """``python -m module args`` (or ``python FILE.py args``) in a new process."""
  target = ([module_or_file] if module_or_file.endswith(".py")
            else ["-m", module_or_file])
  done = subprocess.run([sys.executable, *target, *args], cwd=REPO_ROOT,
                        capture_output=True, text=True, timeout=timeout, check=False,
                        env=env)
  return Result(done.returncode, done.stdout, done.stderr)


def one_error_line(result: Result) -> str:
  """The single ``error: ...`` line of a failed entry point (asserted to be one)."""
  assert result.returncode == 1, result.stderr[-2000:]
  assert "Traceback" not in result.stderr, result.stderr[-3000:]
  errors = [l for l in result.stderr.splitlines() if l.startswith("error: ")]
  assert len(errors) == 1, result.stderr[-2000:]
  return errors[0]


def swaying_poses(frames: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
  """A swaying person, H36M, image-aligned (y down): (F, 17, 3) and (F, 17, 2) px."""
  rest = np.array([[0, 0, 0], [-.13, 0, 0], [-.14, .44, 0], [-.14, .88, 0],
                   [.13, 0, 0], [.14, .44, 0], [.14, .88, 0], [0, -.23, 0],
                   [0, -.48, 0], [0, -.6, -.05], [0, -.7, 0], [.15, -.46, 0],
                   [.3, -.2, 0], [.35, .05, 0], [-.15, -.46, 0], [-.3, -.2, 0],
                   [-.35, .05, 0]])
  rng = np.random.default_rng(seed)
  poses = rest + 0.03 * rng.normal(size=(frames, 17, 3))
  poses[:, :, 0] += 0.1 * np.sin(np.arange(frames) / 2)[:, None] * (rest[:, 1] > 0)
  poses -= poses[:, :1]
  keypoints = 300 + 200 * poses[..., :2]
  return poses, keypoints


def vitpose_state_dict(config, seed: int = 0) -> dict[str, np.ndarray]:
  """An official-layout ViTPose state dict of random weights (numpy: no slow
  initialisers)."""
  from sasmamba_jax.checkpoints import vitpose as vitpose_weights  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(seed)
  state = {}
  for key, shape in vitpose_weights.official_shapes(config).items():
    if key.endswith("num_batches_tracked"):
      state[key] = np.asarray(7, np.int64)
    elif key.endswith("running_var"):
      state[key] = rng.uniform(0.5, 2.0, shape).astype(np.float32)
    else:
      fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 4
      state[key] = (rng.normal(size=shape) / np.sqrt(fan_in)).astype(np.float32)
  return state


def copy_run(run: pathlib.Path, destination: pathlib.Path) -> pathlib.Path:
  """A copy of a shared run that a test may change (damage, resume, export into)."""
  import shutil  # pylint: disable=g-import-not-at-top
  shutil.copytree(run, destination, symlinks=True)
  return destination
