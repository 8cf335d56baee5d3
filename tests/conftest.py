"""Shared test fixtures: the reference-fixture folder and the tiny synthetic dataset.

Fakes of the official data files live with the dataset tests (tests/datasets/).
"""

from __future__ import annotations

import pathlib

import pytest
import tensorflow_datasets as tfds

from sasmamba_jax import datasets

tfds.disable_progress_bar()

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_FIXTURES = REPO_ROOT.parent / "shared" / "fixtures"


@pytest.fixture(scope="session")
def shared_fixtures() -> pathlib.Path:
  """Path of ../shared/fixtures; skips the test when a clone has no such folder."""
  if not SHARED_FIXTURES.is_dir():
    pytest.skip(
        f"reference fixtures not found at {SHARED_FIXTURES}: they come from the "
        "official PyTorch code and ship beside the development checkout only")
  return SHARED_FIXTURES


@pytest.fixture(scope="session")
def synthetic_tiny(tmp_path_factory):
  """The synthetic_motion/tiny build, shared by the pipeline tests."""
  data_dir = tmp_path_factory.mktemp("tfds")
  return datasets.prepare("synthetic_motion/tiny", data_dir=data_dir)
