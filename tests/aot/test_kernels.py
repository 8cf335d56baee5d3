"""The Pallas selective scan compiles to Triton kernels for an H100, forward and
backward, at odd sizes and in both dtypes, without register spills at the models'
shapes (``sasmamba_jax.aot.kernels``)."""

from __future__ import annotations

import jax.numpy as jnp
import pytest

from sasmamba_jax.aot import kernels

#: Odd L (3 forward chunks, a partial last one), N (padded to 8) and G.
ODD = kernels.ScanShape("odd", batch=2, length=151, channels=24, d_state=5, groups=3)
#: Kernels launched: the forward's chunk summary and output; the backward adds the
#: forward summary again (entering states), the adjoint summary and the main sweep.
KERNELS = {False: {"selective_scan_fwd_summary", "selective_scan_fwd_output"},
           True: {"selective_scan_fwd_summary", "selective_scan_fwd_output",
                  "selective_scan_bwd_summary", "selective_scan_bwd"}}


def _names(resources):
  return {r.kernel.split("__")[0] for r in resources}


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16], ids=["f32", "bf16"])
@pytest.mark.parametrize("backward", [False, True], ids=["fwd", "fwd_bwd"])
def test_odd_sizes_lower_to_triton_kernels(dtype, backward, cuda, tmp_path):
  compiled = kernels.compile_scan(ODD, dtype=dtype, backward=backward,
                                  dump_dir=tmp_path)
  assert compiled.triton_kernels == (5 if backward else 2)
  resources = kernels.kernel_resources(tmp_path)
  assert _names(resources) == KERNELS[backward]
  assert all(r.registers > 0 for r in resources)


@pytest.mark.parametrize("shape", kernels.MODEL_SHAPES, ids=lambda s: s.name)
def test_no_register_spills_at_the_model_shapes(shape, cuda, tmp_path):
  kernels.compile_scan(shape, backward=True, dump_dir=tmp_path)
  resources = kernels.kernel_resources(tmp_path)
  assert _names(resources) == KERNELS[True]
  spilled = [r for r in resources if r.spill_store_bytes or r.spill_load_bytes]
  assert not spilled, f"kernels spill registers: {spilled}"


def test_ptxas_report_is_parsed(tmp_path, monkeypatch):
  """The parser reads ptxas's lines (a spilling kernel is reported as such)."""
  (tmp_path / "k.ptx").write_text(".visible .entry selective_scan_bwd(\n")

  class Result:
    stderr = ("ptxas info    : Compiling entry function 'selective_scan_bwd' for "
              "'sm_90a'\nptxas info    : Function properties for selective_scan_bwd\n"
              "    8 bytes stack frame, 12 bytes spill stores, 16 bytes spill loads\n"
              "ptxas info    : Used 255 registers, used 1 barriers\n")

  monkeypatch.setattr(kernels, "ptxas", lambda: "ptxas")
  monkeypatch.setattr(kernels.subprocess, "run", lambda *a, **k: Result())
  (r,) = kernels.kernel_resources(tmp_path)
  assert (r.kernel, r.registers, r.spill_store_bytes, r.spill_load_bytes,
          r.stack_bytes) == ("selective_scan_bwd", 255, 12, 16, 8)
