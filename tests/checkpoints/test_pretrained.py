"""Model directories: round trips, the plain-JAX forward, and every bad-input message."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import sasmamba_jax
from sasmamba_jax import models
from sasmamba_jax.checkpoints import pretrained

TINY = {"sasmamba": dict(num_frames=9, dim=8, depth=2),
        "posemamba_s": dict(num_frames=9, dim=8, depth=1, in_channels=3),
        "mlp_baseline": dict(width=16, num_stages=1)}


def _x(channels=2, frames=9, batch=3, seed=0):
  return np.random.default_rng(seed).normal(size=(batch, frames, 17, channels)).astype(
      np.float32)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
  out = {}
  for name, kwargs in TINY.items():
    model = models.create(name, seed=5, **kwargs)
    model.eval()
    directory = tmp_path_factory.mktemp(name)
    sasmamba_jax.save_pretrained(model, directory, metrics={"p1_mm": 51.5},
                                 source={"checkpoint": "runs/x", "step": 7})
    out[name] = (model, directory)
  return out


@pytest.mark.parametrize("name", list(TINY))
def test_round_trip_gives_identical_outputs(saved, name):
  model, directory = saved[name]
  assert sorted(p.name for p in directory.iterdir()) == [
      "README.md", "config.json", "forward.jaxexport", "model.safetensors"]
  loaded = sasmamba_jax.load_pretrained(directory)
  x = _x(model.config.in_channels)
  np.testing.assert_array_equal(np.asarray(loaded(x)), np.asarray(model(x)))
  meta = json.loads((directory / "config.json").read_text())
  assert meta["model"]["name"] == name and meta["metrics"] == {"p1_mm": 51.5}
  assert meta["library_version"] == sasmamba_jax.__version__
  assert meta["input"]["shape"][2:] == [17, model.config.in_channels]
  assert meta["output"]["root_relative"] is True
  assert "load_pretrained" in (directory / "README.md").read_text()


_PLAIN_JAX = """
import sys, jax, numpy as np, safetensors.numpy
for directory, x_path, out_path in zip(*[iter(sys.argv[1:])] * 3):
  weights = safetensors.numpy.load_file(directory + "/model.safetensors")
  with open(directory + "/forward.jaxexport", "rb") as f:
    forward = jax.export.deserialize(f.read())
  np.save(out_path, np.asarray(forward.call(weights, np.load(x_path))))
assert not any(m.startswith("sasmamba_jax") for m in sys.modules), "imported us"
"""


def test_exported_forward_runs_in_plain_jax(saved, tmp_path):
  args, expected = [], {}
  for name, (model, directory) in saved.items():
    frames = json.loads((directory / "config.json").read_text())["input"][
        "exported_forward_frames"]
    assert frames == ("T" if name == "mlp_baseline" else 9)
    x = _x(model.config.in_channels, batch=5)  # Another batch size than any seen.
    np.save(tmp_path / f"{name}_x.npy", x)
    args += [str(directory), str(tmp_path / f"{name}_x.npy"),
             str(tmp_path / f"{name}_y.npy")]
    expected[name] = np.asarray(sasmamba_jax.load_pretrained(directory)(x))
  # One process for all models, outside the repository (sasmamba_jax not importable).
  result = subprocess.run([sys.executable, "-c", textwrap.dedent(_PLAIN_JAX), *args],
                          capture_output=True, text=True, timeout=300, check=False,
                          cwd=tmp_path)
  assert result.returncode == 0, result.stderr[-3000:]
  for name, want in expected.items():
    np.testing.assert_allclose(np.load(tmp_path / f"{name}_y.npy"), want, rtol=0,
                               atol=1e-6 * max(np.abs(want).max(), 1.0))


def _copy(directory, tmp_path):
  import shutil  # pylint: disable=g-import-not-at-top
  target = tmp_path / "copy"
  shutil.copytree(directory, target)
  return target


def _resign(directory):
  """Ties model.safetensors to the config.json beside it (its config_sha256)."""
  import hashlib  # pylint: disable=g-import-not-at-top
  from safetensors.numpy import load_file, save_file  # pylint: disable=g-import-not-at-top
  digest = hashlib.sha256((directory / "config.json").read_bytes()).hexdigest()
  save_file(load_file(str(directory / "model.safetensors")),
            str(directory / "model.safetensors"), metadata={"config_sha256": digest})


def test_bad_directories_are_named(saved, tmp_path):
  _, directory = saved["sasmamba"]
  with pytest.raises(FileNotFoundError, match="does not exist"):
    sasmamba_jax.load_pretrained(tmp_path / "nope")
  broken = _copy(directory, tmp_path)
  (broken / "model.safetensors").write_bytes(b"not safetensors at all")
  with pytest.raises(pretrained.PretrainedError,
                     match="model.safetensors is damaged or not a safetensors file"):
    sasmamba_jax.load_pretrained(broken)
  (broken / "model.safetensors").unlink()
  with pytest.raises(pretrained.PretrainedError, match="model.safetensors is missing"):
    sasmamba_jax.load_pretrained(broken)


def test_config_and_weights_must_agree(saved, tmp_path):
  from safetensors.numpy import load_file, save_file  # pylint: disable=g-import-not-at-top
  _, directory = saved["sasmamba"]
  _, other = saved["posemamba_s"]
  mixed = _copy(directory, tmp_path)
  (mixed / "model.safetensors").write_bytes((other / "model.safetensors").read_bytes())
  with pytest.raises(pretrained.PretrainedError, match="another config.json"):
    sasmamba_jax.load_pretrained(mixed)
  # A config.json changed to describe a huge model never gets to build it (the
  # weights' header is checked first; building it would exhaust the memory).
  huge = _copy(directory, tmp_path / "huge")
  meta = json.loads((huge / "config.json").read_text())
  meta["model"]["config"]["dim"] = 10**9
  (huge / "config.json").write_text(json.dumps(meta))
  with pytest.raises(pretrained.PretrainedError, match="another config.json"):
    sasmamba_jax.load_pretrained(huge)
  # Weights whose shapes disagree with config.json (written with its hash).
  import hashlib  # pylint: disable=g-import-not-at-top
  weights = load_file(str(directory / "model.safetensors"))
  weights["head/kernel"] = np.zeros((4, 3), np.float32)
  digest = hashlib.sha256((mixed / "config.json").read_bytes()).hexdigest()
  save_file(weights, str(mixed / "model.safetensors"),
            metadata={"config_sha256": digest})
  with pytest.raises(pretrained.PretrainedError,
                     match=r"does not match .*config.json: wrong shapes: head/kernel"):
    sasmamba_jax.load_pretrained(mixed)


def test_newer_or_unknown_configs_are_refused(saved, tmp_path):
  _, directory = saved["mlp_baseline"]
  newer = _copy(directory, tmp_path)
  meta = json.loads((newer / "config.json").read_text())
  meta["format_version"] = 99
  meta["future_field"] = 1
  (newer / "config.json").write_text(json.dumps(meta))
  with pytest.raises(pretrained.PretrainedError,
                     match=r"unknown fields \['future_field'\].*upgrade sasmamba_jax"):
    sasmamba_jax.load_pretrained(newer)
  meta = json.loads((directory / "config.json").read_text())
  meta["model"]["name"] = "glsmamba_x"
  (newer / "config.json").write_text(json.dumps(meta))
  _resign(newer)   # As a newer library would have written it.
  with pytest.raises(pretrained.PretrainedError, match="'glsmamba_x' is not registered"):
    sasmamba_jax.load_pretrained(newer)
  (newer / "config.json").write_text("{not json")
  with pytest.raises(pretrained.PretrainedError, match="not valid JSON"):
    sasmamba_jax.load_pretrained(newer)


def test_official_checkpoints_export_too(tmp_path):
  from sasmamba_jax.checkpoints import to_official  # pylint: disable=g-import-not-at-top
  model = models.create("sasmamba", seed=2, **TINY["sasmamba"])
  np.savez(tmp_path / "official.npz", **to_official(model))
  official = sasmamba_jax.load_pretrained(tmp_path / "official.npz")
  sasmamba_jax.save_pretrained(official, tmp_path / "exported")
  loaded = sasmamba_jax.load_pretrained(tmp_path / "exported")
  model.eval()
  np.testing.assert_allclose(np.asarray(loaded(_x())), np.asarray(model(_x())),
                             rtol=1e-6, atol=1e-6)


def test_export_with_pallas_in_auto_holds_no_kernel_and_runs_on_cpu(monkeypatch,
                                                                    tmp_path):
  """Where Pallas leads ``auto`` (a measured GPU), an export for (cpu, cuda, tpu)
  still gets a portable scan on every platform; the kernel goes into an artefact
  only when asked for by name, and then the export is refused with the fix."""
  import jax  # pylint: disable=g-import-not-at-top
  from safetensors.numpy import load_file  # pylint: disable=g-import-not-at-top
  from sasmamba_jax.ops import dispatch  # pylint: disable=g-import-not-at-top
  monkeypatch.setattr(dispatch, "AUTO_ORDER", ["pallas"])
  monkeypatch.setitem(dispatch._AVAILABLE, "pallas", lambda: True)
  model = models.create("sasmamba", seed=5, **TINY["sasmamba"])
  model.eval()
  sasmamba_jax.save_pretrained(model, tmp_path / "auto")
  forward = jax.export.deserialize((tmp_path / "auto" / "forward.jaxexport").read_bytes())
  assert forward.platforms == ("cpu", "cuda", "tpu")
  assert "triton" not in forward.mlir_module().lower()
  x = _x()
  y = forward.call(load_file(str(tmp_path / "auto" / "model.safetensors")), x)
  np.testing.assert_allclose(np.asarray(y), np.asarray(model(x)), rtol=2e-5, atol=2e-5)
  kernel = models.create("sasmamba", seed=5, impl="pallas", **TINY["sasmamba"])
  kernel.eval()
  with pytest.raises(ValueError, match=r"impl 'pallas' is tied to one GPU generation "
                     r"and cannot go into an artefact exported for cpu, cuda, tpu"):
    sasmamba_jax.save_pretrained(kernel, tmp_path / "pallas")


def test_export_never_writes_over_a_run_or_other_files(saved, tmp_path, monkeypatch):
  model, earlier = saved["mlp_baseline"]
  run = tmp_path / "run"
  (run / "checkpoints" / "4").mkdir(parents=True)
  (run / "config.json").write_text('{"a run": 1}')
  with pytest.raises(pretrained.PretrainedError,
                     match=r"run holds a training run \(checkpoints, config.json\)"):
    sasmamba_jax.save_pretrained(model, run)
  assert (run / "config.json").read_text() == '{"a run": 1}'
  mine = tmp_path / "mine"
  mine.mkdir()
  (mine / "notes.txt").write_text("keep")
  (tmp_path / "hf").mkdir()   # A Hugging Face folder: config.json, but not ours.
  (tmp_path / "hf" / "config.json").write_text('{"model_type": "vitpose"}')
  for folder, shown in ((mine, "notes.txt"), (tmp_path / "hf", "config.json")):
    with pytest.raises(pretrained.PretrainedError,
                       match=rf"holds files that are not an export .*{shown}"):
      sasmamba_jax.save_pretrained(model, folder)
  assert (mine / "notes.txt").read_text() == "keep"
  assert (tmp_path / "hf" / "config.json").read_text() == '{"model_type": "vitpose"}'
  (tmp_path / "a_file").write_text("keep")
  with pytest.raises(pretrained.PretrainedError, match="is a file"):
    sasmamba_jax.save_pretrained(model, tmp_path / "a_file")
  # An earlier export: replaced only when asked, and whole until the new one is in.
  again = _copy(earlier, tmp_path)
  before = {p.name: p.read_bytes() for p in again.iterdir()}
  with pytest.raises(pretrained.PretrainedError, match="already holds an exported "
                                                       "model; pass --overwrite"):
    sasmamba_jax.save_pretrained(model, again, overwrite=False)
  monkeypatch.setattr(pretrained, "_card", lambda meta: 1 / 0)  # Dies mid-export.
  with pytest.raises(ZeroDivisionError):
    sasmamba_jax.save_pretrained(model, again)
  assert {p.name: p.read_bytes() for p in again.iterdir()} == before
  monkeypatch.undo()
  assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "copy", "hf", "mine",
                                                        "run"]  # No leftovers.
  umask = os.umask(0o027)
  try:
    sasmamba_jax.save_pretrained(model, again, metrics={"p1_mm": 1.0})
  finally:
    os.umask(umask)
  assert json.loads((again / "config.json").read_text())["metrics"] == {"p1_mm": 1.0}
  assert stat.S_IMODE(again.stat().st_mode) == 0o750
  assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in again.iterdir()} == {
      name: 0o640 for name in pretrained.EXPORT_FILES}
  assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "copy", "hf", "mine",
                                                        "run"]


def test_changed_weights_are_refused_by_their_digest(saved, tmp_path):
  _, directory = saved["sasmamba"]
  tampered = _copy(directory, tmp_path)
  path = tampered / "model.safetensors"
  data = bytearray(path.read_bytes())
  middle = len(data) // 2
  data[middle:middle + 400] = bytes(b ^ 0x5A for b in data[middle:middle + 400])
  path.write_bytes(bytes(data))
  with pytest.raises(pretrained.PretrainedError,
                     match=r"copy/model.safetensors is damaged or was changed after "
                           r"export: its tensors do not match the digest in "
                           r".*copy/config.json; export the model again"):
    sasmamba_jax.load_pretrained(tampered)
  # An export written before digests existed loads as it always did.
  import hashlib  # pylint: disable=g-import-not-at-top
  from safetensors.numpy import load_file, save_file  # pylint: disable=g-import-not-at-top
  old = tmp_path / "old"
  old.mkdir()
  meta = json.loads((directory / "config.json").read_text())
  del meta["model"]["weights_sha256"]
  text = json.dumps(meta, indent=2, sort_keys=True) + "\n"
  (old / "config.json").write_text(text)
  save_file(load_file(str(directory / "model.safetensors")), str(old / "model.safetensors"),
            metadata={"config_sha256": hashlib.sha256(text.encode()).hexdigest()})
  x = _x()
  np.testing.assert_array_equal(np.asarray(sasmamba_jax.load_pretrained(old)(x)),
                                np.asarray(sasmamba_jax.load_pretrained(directory)(x)))


def test_a_model_directory_without_config_json_is_named(saved, tmp_path):
  _, directory = saved["sasmamba"]
  broken = _copy(directory, tmp_path)
  (broken / "config.json").unlink()
  with pytest.raises(pretrained.PretrainedError,
                     match=r"copy/config.json is missing: .*copy holds an exported "
                           r"model's files but not the config.json"):
    sasmamba_jax.load_pretrained(broken)
  (broken / "model.safetensors").unlink()   # Only the forward left.
  with pytest.raises(pretrained.PretrainedError, match="config.json is missing"):
    sasmamba_jax.load_pretrained(broken)


def test_evaluating_an_export_says_config_supplies_the_dataset(saved):
  from sasmamba_jax.train import evaluator  # pylint: disable=g-import-not-at-top
  _, directory = saved["mlp_baseline"]
  message = evaluator.config_needed(directory)
  assert message.startswith(f"{directory} is an exported model: it holds the model, "
                            "not the dataset settings")
  assert "--config supplies them" in message


def test_model_card_describes_this_model(saved):
  _, directory = saved["sasmamba"]   # dim 8, depth 2, T 9
  card = (directory / "README.md").read_text()
  assert card.startswith("# sasmamba (sasmamba_jax ")
  assert ("Built from the registered `sasmamba` options with num_frames 9 "
          "(registered: 243), dim 8 (registered: 64), depth 2 (registered: 5)") in card
  for row in ("| dim | 8 |", "| depth | 2 |", "| num_frames | 9 |",
              "| in_channels | 2 |"):
    assert row in card, row
  assert "dim 64, 5 pairs" not in card and "{'" not in card
  assert "Exported from `runs/x` (step 7)." in card
  _, mlp = saved["mlp_baseline"]
  assert "| width | 16 |" in (mlp / "README.md").read_text()
