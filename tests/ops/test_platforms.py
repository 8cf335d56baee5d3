"""``impl="auto"`` resolved per lowering platform, and what goes into artefacts."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from sasmamba_jax.ops import dispatch
from sasmamba_jax.ops import scan_pallas
from sasmamba_jax.ops import selective_scan
from tests.ops.scan_reference import make_inputs


@pytest.fixture
def pallas_in_auto(monkeypatch):
  """Pallas at the front of ``auto`` and runnable on the local devices: what a
  measured GPU will make of it (ops/README.md)."""
  monkeypatch.setattr(dispatch, "AUTO_ORDER", ["pallas"])
  monkeypatch.setitem(dispatch._AVAILABLE, "pallas", lambda: True)


def test_local_auto_is_unchanged():
  if jax.default_backend() != "cpu":
    pytest.skip("the rule under test is the CPU one")
  assert dispatch.local_platform() == "cpu"
  assert dispatch.resolve_impl("auto") == "sequential_vjp"


def test_each_lowering_platform_gets_its_own_choice():
  with dispatch.lowering_for(("cpu", "cuda", "tpu")):
    assert dispatch.resolve_impl("auto") == {"cpu": "sequential_vjp", "cuda": "chunked",
                                             "tpu": "chunked"}
  with dispatch.lowering_for(("cuda",)):
    assert dispatch.resolve_impl("auto") == "chunked"
    # Compiling for a GPU from this machine: the kernel is not refused for lack of
    # a local GPU.
    assert dispatch.resolve_impl("pallas") == "pallas"
  with dispatch.lowering_for(("tpu",)):
    with pytest.raises(ValueError, match="impl 'pallas' cannot run on platform 'tpu'"):
      dispatch.resolve_impl("pallas")
  with pytest.raises(ValueError, match="platforms must be some of cpu, cuda, rocm"):
    with dispatch.lowering_for(("gpu",)):
      pass


def test_pallas_in_auto_only_where_it_runs_and_never_in_portable_artefacts(
    pallas_in_auto):
  with dispatch.lowering_for(("cuda",)):
    assert dispatch.resolve_impl("auto") == "pallas"
  with dispatch.lowering_for(("cpu", "cuda", "tpu"), portable=True):
    assert dispatch.resolve_impl("auto") == {"cpu": "sequential_vjp", "cuda": "chunked",
                                             "tpu": "chunked"}
    with pytest.raises(ValueError, match="impl 'pallas' is tied to one GPU generation"):
      dispatch.resolve_impl("pallas")


def test_multi_platform_lowering_runs_the_cpu_branch_here():
  """A function lowered for (cpu, cuda, tpu) holds a platform conditional and gives
  the CPU implementation's numbers when run here."""
  args = make_inputs(0, 2, 19, 8, 4, 2)
  expected = selective_scan(**args, impl="sequential_vjp")
  fn = lambda a: selective_scan(**a)
  with dispatch.lowering_for(("cpu", "cuda", "tpu")):
    exported = jax.export.export(jax.jit(fn), platforms=("cpu", "cuda", "tpu"))(args)
  text = exported.mlir_module()
  assert "stablehlo.case" in text and scan_pallas.__name__ not in text
  np.testing.assert_allclose(exported.call(args), expected, rtol=1e-6, atol=1e-6)
