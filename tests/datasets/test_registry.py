"""Names, load/prepare helpers and the prepare_data entry point."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest
import tensorflow_datasets as tfds

from sasmamba_jax import datasets
from tests.helpers import run_main



def test_every_builder_is_registered_with_tfds():
  names = datasets.dataset_names()
  for name in ("h36m/sh_243", "h36m/sh_81", "h36m/sh_27", "h36m/gt_243",
               "h36m/gt_81", "h36m/gt_27", "h36m/cpn_243", "h36m/cpn_81",
               "h36m/cpn_27", "mpi_inf_3dhp/clips_27", "mpi_inf_3dhp/clips_81",
               "mpi_inf_3dhp/clips_243", "synthetic_motion/clips_27",
               "synthetic_motion/clips_81", "synthetic_motion/clips_243",
               "synthetic_motion/tiny"):
    assert name in names
  for dataset in ("h36m", "mpi_inf_3dhp", "synthetic_motion"):
    assert dataset in tfds.list_builders(with_community_datasets=False)
  builder = tfds.builder("synthetic_motion/tiny", data_dir="/nonexistent")
  assert builder.builder_config.num_frames == 27


def test_unknown_names():
  with pytest.raises(ValueError, match="unknown dataset 'h37m'; known: h36m, "):
    datasets.get_builder("h37m/sh_243")
  with pytest.raises(ValueError, match="h36m has no config 'sh_100'; configs: sh_243"):
    datasets.get_builder("h36m/sh_100")


def test_load_before_building_gives_the_command(tmp_path):
  with pytest.raises(FileNotFoundError,
                     match=r"(?s)h36m/cpn_81 is not built in .*python -m experiments\."
                           r"prepare_data --dataset=h36m/cpn_81 --manual_dir=FOLDER"):
    datasets.load("h36m/cpn_81", "train", data_dir=tmp_path)
  with pytest.raises(FileNotFoundError,
                     match="--dataset=synthetic_motion/tiny --data_dir"):
    datasets.load("synthetic_motion/tiny", "train", data_dir=tmp_path)


def _prepare_data(*args):
  return run_main("experiments.prepare_data", *args)


def test_prepare_data_cli(tmp_path, h36m_manual):
  listed = _prepare_data("--list")
  assert listed.returncode == 0 and "h36m/sh_243" in listed.stdout
  built = _prepare_data("--dataset=synthetic_motion/tiny",
                        f"--data_dir={tmp_path / 'tfds'}")
  assert built.returncode == 0, built.stderr[-2000:]
  # Says what it builds and where, not TFDS's "Downloading ... Unknown size".
  assert built.stdout.startswith("building synthetic_motion/tiny (27-frame clips")
  assert f" in {tmp_path / 'tfds' / 'synthetic_motion' / 'tiny'}" in built.stdout
  assert "synthetic_motion/tiny built in " in built.stdout
  assert "train: 288 examples, test: 72 examples" in built.stdout
  assert "Downloading" not in built.stdout + built.stderr
  assert "Unknown size" not in built.stdout + built.stderr
  # Nor TFDS's progress bars (no terminal here) or its warning about a dataset
  # that is not built yet.
  assert "\r" not in built.stdout + built.stderr
  assert "Variant folder" not in built.stderr
  assert len(datasets.load("synthetic_motion/tiny", "test",
                           data_dir=tmp_path / "tfds")) == 72
  empty = tmp_path / "empty"
  empty.mkdir()
  failed = _prepare_data("--dataset=h36m/sh_81", f"--manual_dir={empty}",
                         f"--data_dir={tmp_path / 'tfds'}")
  assert failed.returncode == 1 and "Traceback" not in failed.stderr
  assert "h36m_sh_conf_cam_source_final.pkl not found" in failed.stderr
  assert _prepare_data("--dataset=h36m/sh_27", f"--manual_dir={h36m_manual}",
                       f"--data_dir={tmp_path / 'tfds'}").returncode == 0


def test_building_and_reading_never_import_tensorflow(tmp_path):
  code = (
      "import sys\n"
      "from sasmamba_jax import datasets\n"
      f"b = datasets.prepare('synthetic_motion/tiny', data_dir={str(tmp_path)!r})\n"
      "it = datasets.make_train_iterator(datasets.load(b, 'train'), batch_size=4, "
      "seed=0)\n"
      "next(it)\n"
      "assert 'tensorflow' not in sys.modules, 'tensorflow was imported'\n")
  subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
