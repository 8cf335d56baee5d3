"""Compile-only devices: the H100 description and the TPU topologies."""

from __future__ import annotations

import pytest

from sasmamba_jax.aot import targets


def test_h100_description_is_a_proto_xla_reads(cuda):
  text = targets.gpu_target_config(targets.H100_SXM)
  assert "core_count: 132" in text and "major: 9" in text
  (device,) = targets.devices(targets.get("h100"))
  assert device.device_kind == "NVIDIA H100 80GB HBM3"
  assert len(targets.devices(targets.get("h100x8"))) == 8
  mesh = targets.mesh(targets.get("h100x8"))
  assert mesh.shape == {"data": 8}


def test_tpu_topologies(tpu):
  assert len(targets.devices(targets.get("v5e"))) == 1
  assert len(targets.devices(targets.get("v5e:2x4"))) == 8
  assert targets.devices(targets.get("v5e"))[0].device_kind == "TPU v5 lite"


def test_unknown_device_and_missing_plugin_say_what_to_do(monkeypatch):
  with pytest.raises(ValueError, match="unknown device 'a100'; choose one of h100"):
    targets.get("a100")
  monkeypatch.setattr(targets, "_find_spec", lambda name: None)
  assert "pip install -e '.[aot]'" in targets.unavailable_reason("cuda")
  assert "libtpu" in targets.unavailable_reason("tpu")
  with pytest.raises(RuntimeError, match=r"jax-cuda12-plugin.*\.\[aot\]"):
    targets.devices(targets.get("h100"))
