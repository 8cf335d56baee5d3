"""The on-device check runs end to end in its CPU smoke mode (tiny sizes, the
interpreted kernel): the GPU day finds a working script."""

from __future__ import annotations

import json

import pytest

from sasmamba_jax.benchmarking import gpu_check


@pytest.mark.slow
def test_smoke_run_covers_every_part(tmp_path):
  lines = []
  payload = gpu_check.run(smoke=True, repeats=1, train_models=("sasmamba",),
                          log=lines.append)
  assert payload["failures"] == [] and payload["smoke"]
  parts = payload["parts"]
  assert set(parts) == set(gpu_check.PARTS)
  kernel = parts["kernel"]["result"]
  assert [r["shape"] for r in kernel] == ["tiny"] and all(r["ok"] for r in kernel)
  assert kernel[0]["impl"] == "pallas_interpret" and "d_A_max_error" in kernel[0]
  impls = {r["impl"] for r in parts["scans"]["result"]}
  assert impls == {"sequential", "pallas_interpret"}
  train = parts["train"]["result"]
  assert [(r["model"], r["impl"]) for r in train] == [
      ("sasmamba", "auto"), ("sasmamba", "pallas_interpret")]
  assert all(r["ms_per_step"] > 0 for r in train)
  tune = parts["tune"]["result"]
  assert tune["best"] and len(tune["rows"]) >= 2
  json.dumps(payload)   # What experiments.check_gpu saves.


def test_wrong_results_and_missing_gpu_are_reported(monkeypatch):
  with pytest.raises(ValueError, match="unknown parts"):
    gpu_check.run(["kernels"], smoke=True)
  with pytest.raises(RuntimeError, match="needs a CUDA GPU .* --smoke runs it"):
    gpu_check.run(["kernel"])
  # A kernel that is off by more than the tolerance fails the check.
  real = gpu_check.dispatch.selective_scan

  def off(*args, impl, **kwargs):
    y = real(*args, impl=impl, **kwargs)
    return y * 1.01 if impl == "pallas_interpret" else y
  monkeypatch.setattr(gpu_check.dispatch, "selective_scan", off)
  payload = gpu_check.run(["kernel"], smoke=True, repeats=1, log=lambda _: None)
  assert "kernel: results differ from the reference" in payload["failures"]
  assert not any(r["ok"] for r in payload["parts"]["kernel"]["result"])
