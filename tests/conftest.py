"""Shared test fixtures and settings."""

import pathlib

import pytest


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
