"""Every model family's train step and predict step compile for an H100 and a TPU
v5e, on this CPU-only machine (``sasmamba_jax.aot.compile``)."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest

from sasmamba_jax import cli
from sasmamba_jax.aot import compile as aot
from sasmamba_jax.train import config as config_lib

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
#: Test sizes of every family: (name, config changes).
FAMILIES = ("mlp_baseline", "sasmamba", "posemamba_s", "vitpose_tiny", "glsmamba_tiny")


def tiny_config(family: str):
  """A run config of ``family`` at test size, batch 4. The predict step runs without
  the flip test (a second forward of the same program: nothing more to compile for
  the device, and half the time)."""
  if family.startswith(("vitpose", "glsmamba")):
    c = config_lib.base_config("pose_2d_video")
    c.model.name = family
    c.task.backbone.name = "vitpose_tiny"
    c.task.input_size = (48, 64)
    if family == "vitpose_tiny":
      c.optimizer.freeze = ()
  else:
    c = config_lib.base_config("lifting_3d")
    c.model.name = family
    if family != "mlp_baseline":
      c.model.num_frames = 9
      c.model.dim = 16
      c.model.depth = 1   # The layer scan is compiled at the official sizes.
  c.task.flip_test = False
  c.batch_size = c.eval_batch_size = 4
  return c


def _check(report, target, step, config):
  assert report.step == step and report.target == target
  assert report.batch_size == 4 and report.num_devices == 1
  assert report.params_bytes > 0 and report.argument_bytes > 0
  if step == "train":
    # AdamW keeps two moments per trained parameter; the state is donated.
    assert report.opt_state_bytes >= 2 * report.params_bytes
    assert report.alias_bytes >= report.params_bytes
  assert report.peak_bytes < 2 * 10**9
  assert report.model == config.model.name


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_train_and_predict_steps_compile_for_h100(family, cuda):
  config = tiny_config(family)
  for compile_fn, step in ((aot.compile_train_step, "train"),
                           (aot.compile_predict, "predict")):
    compiled, report = compile_fn(config, "h100")
    _check(report, "h100", step, config)
    # Every GEMM became a Triton GEMM fusion, or a cuBLAS call after the fallback.
    text = compiled.as_text()
    gemm = "__cublas" if report.gemm_fallback else "__triton_nested_gemm_fusion"
    assert gemm in text and not (report.gemm_fallback and "gemm_fusion" in text)


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_train_and_predict_steps_compile_for_tpu_v5e(family, tpu):
  config = tiny_config(family)
  for compile_fn, step in ((aot.compile_train_step, "train"),
                           (aot.compile_predict, "predict")):
    _, report = compile_fn(config, "v5e")
    _check(report, "v5e", step, config)
    assert not report.gemm_fallback   # A GPU-only retry.


def test_the_gemm_fallback_is_only_for_the_deviceless_tiling_error():
  """The retry turns Triton GEMMs off for one compilation, on GPUs, for XLA's
  default-tiling error alone; any other error reaches the caller."""
  class Lowered:
    def __init__(self, error):
      self.error, self.calls = error, []

    def compile(self, compiler_options=None):
      self.calls.append(compiler_options)
      if compiler_options is None and self.error:
        raise RuntimeError(self.error)
      return "compiled"

  class Jitted:
    def __init__(self, lowered):
      self.lowered = lowered

    def trace(self, *args):
      del args
      return self

    def lower(self):
      return self.lowered

  from sasmamba_jax.aot import targets  # pylint: disable=g-import-not-at-top
  h100, v5e = targets.get("h100"), targets.get("v5e")
  tiling = ("INTERNAL: Couldn't find output tile sizes that satisfy hlo: %dot = "
            "f32[612,64]")
  lowered = Lowered(tiling)
  compiled, _, fallback = aot._compile(Jitted(lowered), (), h100)
  assert (compiled, fallback) == ("compiled", True)
  assert lowered.calls == [None, aot.GEMM_FALLBACK_OPTIONS]
  assert aot.GEMM_FALLBACK_OPTIONS == {"xla_gpu_enable_triton_gemm": False}
  for error, target in (("RESOURCE_EXHAUSTED: out of memory", h100), (tiling, v5e)):
    with pytest.raises(RuntimeError, match=error.split(":")[0]):
      aot._compile(Jitted(Lowered(error)), (), target)
  compiled, _, fallback = aot._compile(Jitted(Lowered(None)), (), h100)
  assert not fallback
  # The TPU compiler refuses a step larger than the chip: an OutOfMemory that says
  # how much it needs (the memory plan counts it as not fitting).
  refusal = ("RESOURCE_EXHAUSTED: Ran out of memory on HBM, the total memory required "
             "for HLO temporaries (18.73G) exceeds available HBM (15.75G).")
  with pytest.raises(aot.OutOfMemory) as e:
    aot._compile(Jitted(Lowered(refusal)), (), v5e)
  assert e.value.required_bytes == int(18.73 * 2**30)


@pytest.mark.slow
@pytest.mark.parametrize("spec", ["h36m_sasmamba.py", "h36m_posemamba.py:s"])
def test_official_sizes_train_step_compiles_for_h100(spec, cuda):
  config = cli.load_config_file(str(REPO_ROOT / "configs" / spec))
  _, report = aot.compile_train_step(config, "h100", batch_size=2)
  assert report.model == config.model.name
  # The official models: 951,351 / 1,470,211 float32 parameters.
  expected = {"sasmamba": 951_351, "posemamba_s": 1_470_211}[config.model.name]
  assert report.params_bytes == 4 * expected
  assert report.peak_bytes < 80 * 10**9
  assert np.isfinite(report.compile_seconds)


def test_accelerator_compiles_stay_out_of_the_persistent_cache(cuda, tmp_path):
  """Once a CPU compile has switched JAX's persistent cache on, a compile for a
  compile-only H100 neither writes an entry (no client could load it) nor warns."""
  import warnings  # pylint: disable=g-import-not-at-top
  import jax  # pylint: disable=g-import-not-at-top
  from jax.experimental.compilation_cache import compilation_cache  # pylint: disable=g-import-not-at-top
  before = (jax.config.jax_compilation_cache_dir,
            jax.config.jax_persistent_cache_min_compile_time_secs)
  jax.config.update("jax_compilation_cache_dir", str(tmp_path))
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
  compilation_cache.reset_cache()
  try:
    jax.jit(lambda x: x * 3 + 1).lower(np.float32(1)).compile()
    written = set(tmp_path.iterdir())
    assert written, "the CPU compile should have filled the cache"
    with warnings.catch_warnings():
      warnings.simplefilter("error")
      for _ in range(2):    # A second compile would read a first one's entry.
        aot.compile_predict(tiny_config("mlp_baseline"), "h100")
    # CPU programs that build the abstract state may add entries; the step may not.
    new = {p.name for p in tmp_path.iterdir()} - {p.name for p in written}
    assert not [name for name in new if name.startswith("jit_predict")], new
    assert jax.config.jax_enable_compilation_cache   # Restored for the CPU.
  finally:
    jax.config.update("jax_compilation_cache_dir", before[0])
    jax.config.update("jax_persistent_cache_min_compile_time_secs", before[1])
    compilation_cache.reset_cache()
