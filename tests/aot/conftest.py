"""Ahead-of-time compiles for accelerators this machine does not have.

The tests compile for compile-only devices (``sasmamba_jax.aot.targets``) and need
the compiler plugins of the ``aot`` extra. Without them they skip and say what to
install; where the plugins must be there (CI sets ``SASMAMBA_AOT_REQUIRED=1``) a
missing plugin fails instead, so a broken install cannot pass silently.
"""

from __future__ import annotations

import os

import pytest

from sasmamba_jax.aot import targets


def _require(platform: str) -> None:
  reason = targets.unavailable_reason(platform)
  if reason is None:
    return
  if os.environ.get("SASMAMBA_AOT_REQUIRED") == "1":
    pytest.fail(f"SASMAMBA_AOT_REQUIRED=1 but {reason}")
  pytest.skip(reason)


@pytest.fixture
def cuda():
  """Skips (or, where required, fails) without the CUDA compiler plugin."""
  _require("cuda")


@pytest.fixture
def tpu():
  """Skips (or, where required, fails) without libtpu."""
  _require("tpu")


@pytest.fixture
def target_of(request):
  """``target_of(name)`` checks that ``name``'s platform can be compiled for."""
  def check(name: str) -> str:
    _require(targets.get(name).platform)
    return name
  return check
