"""Fixtures of the dataset tests: fake official files in tmp folders."""

from __future__ import annotations

import pathlib
import types

import numpy as np
import pytest

from tests.datasets.fakes import fake_motionbert
from tests.datasets.fakes import fake_mpi
from tests.datasets.fakes import fake_videopose3d
from tests.datasets.fakes import write_pickle


@pytest.fixture
def h36m_manual(tmp_path) -> pathlib.Path:
  """Manual folder holding a fake MotionBERT pickle."""
  write_pickle(tmp_path / "manual" / "h36m_sh_conf_cam_source_final.pkl",
               fake_motionbert())
  return tmp_path / "manual"


@pytest.fixture
def cpn_manual(tmp_path) -> pathlib.Path:
  manual = tmp_path / "manual"
  manual.mkdir()
  data_3d, data_2d = fake_videopose3d()
  np.savez_compressed(manual / "data_3d_h36m.npz", **data_3d)
  np.savez_compressed(manual / "data_2d_h36m_cpn_ft_h36m_dbb.npz", **data_2d)
  return manual


@pytest.fixture
def mpi_manual(tmp_path) -> pathlib.Path:
  manual = tmp_path / "manual"
  manual.mkdir()
  train, test = fake_mpi()
  np.savez_compressed(manual / "data_train_3dhp.npz", data=train)
  np.savez_compressed(manual / "data_test_3dhp.npz", data=test)
  return manual


@pytest.fixture
def fakes() -> types.SimpleNamespace:
  """The fake-file makers, for tests that alter a structure before writing it."""
  return types.SimpleNamespace(motionbert=fake_motionbert, videopose3d=fake_videopose3d,
                               mpi=fake_mpi, write_pickle=write_pickle)
