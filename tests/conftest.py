"""Shared test fixtures: the reference-fixture folder and the tiny synthetic dataset.

Fakes of the official data files live with the dataset tests (tests/datasets/).
"""

from __future__ import annotations

import dataclasses
import os
import pathlib

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_FIXTURES = REPO_ROOT.parent / "shared" / "fixtures"

# One JAX compilation cache for the run: both xdist workers and the subprocesses the
# tests start read and fill it, and many tests compile the same tiny programs (a
# resumed run recompiles its train step: 20 s -> 6 s). Same programs, same numbers;
# set JAX_COMPILATION_CACHE_DIR to put it elsewhere. It lives in .pytest_cache
# (git-ignored; `make clean` or deleting it is always safe).
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR",
                      str(REPO_ROOT / ".pytest_cache" / "jax_compilation_cache"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")

import jax  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position
import pytest  # pylint: disable=g-import-not-at-top,wrong-import-position
import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top,wrong-import-position

from sasmamba_jax import datasets  # pylint: disable=g-import-not-at-top,wrong-import-position

# In case jax was imported before this file (a plugin): the same settings.
jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
jax.config.update("jax_persistent_cache_min_compile_time_secs",
                  float(os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"]))

tfds.disable_progress_bar()


def pytest_collection_modifyitems(config, items):
  """Tests marked ``slow`` run first (stable order otherwise): with two xdist
  workers, a long test handed out last keeps one worker busy while the other idles."""
  del config
  items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(scope="session")
def shared_fixtures() -> pathlib.Path:
  """Path of ../shared/fixtures; skips the test when a clone has no such folder."""
  if not SHARED_FIXTURES.is_dir():
    pytest.skip(
        f"reference fixtures not found at {SHARED_FIXTURES}: they come from the "
        "official PyTorch code and ship beside the development checkout only")
  return SHARED_FIXTURES


def vitpose_fixture(shared_fixtures: pathlib.Path, name: str, what: str,
                    keys: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
  """The arrays of ``vitpose/<name>.npz`` (``keys`` of them, default all); skips the
  test when the file is absent."""
  path = shared_fixtures / "vitpose" / f"{name}.npz"
  if not path.exists():
    pytest.skip(f"{path} not found ({what})")
  with np.load(path) as f:
    return {k: f[k] for k in (keys or f.files)}


@pytest.fixture(scope="session")
def postprocess(shared_fixtures):
  """ViTPose's official post-processing outputs (warp, flip back, DARK, decoding)."""
  return vitpose_fixture(shared_fixtures, "postprocess",
                         "official ViTPose post-processing outputs")


@pytest.fixture(scope="session")
def synthetic_tiny(tmp_path_factory):
  """The synthetic_motion/tiny build, shared by the pipeline tests."""
  data_dir = tmp_path_factory.mktemp("tfds")
  return datasets.prepare("synthetic_motion/tiny", data_dir=data_dir)


@dataclasses.dataclass(frozen=True)
class TinyRun:
  """A finished run: ``workdir``, its data, the last and the best evaluation."""

  workdir: pathlib.Path
  data_dir: pathlib.Path
  results: dict
  best: dict


@pytest.fixture(scope="session")
def tiny_run(synthetic_tiny, tmp_path_factory) -> TinyRun:
  """One finished run of the MLP baseline on synthetic_motion/tiny (4 steps,
  evaluated and checkpointed at steps 2 and 4), shared by the tests of the CLIs,
  the evaluator, the export and the lifter. Tests only read it: one that writes
  into a run works on ``tests.helpers.copy_run``."""
  import json  # pylint: disable=g-import-not-at-top
  from sasmamba_jax import train  # pylint: disable=g-import-not-at-top
  from tests import helpers  # pylint: disable=g-import-not-at-top
  data_dir = pathlib.Path(synthetic_tiny.data_dir_root)
  workdir = tmp_path_factory.mktemp("tiny_run") / "run"
  cfg = helpers.tiny(helpers.load_config("synthetic_mlp_baseline.py"), data_dir,
                     max_steps=4, eval_every_steps=2)
  results = train.train_and_evaluate(cfg, workdir)
  evals = [json.loads(p.read_text()) for p in (workdir / "eval").glob("step_*.json")]
  best = min(evals, key=lambda r: r["p1_mm"])
  return TinyRun(workdir, data_dir, results, best)


@pytest.fixture(scope="session")
def tiny_export(tiny_run, tmp_path_factory) -> pathlib.Path:
  """``experiments.export`` of ``tiny_run`` (its best checkpoint): a model directory."""
  from tests import helpers  # pylint: disable=g-import-not-at-top
  out = tmp_path_factory.mktemp("tiny_export") / "export"
  result = helpers.run_main("experiments.export", f"--checkpoint={tiny_run.workdir}",
                            f"--output={out}")
  assert result.returncode == 0, result.stderr[-3000:]
  return out
