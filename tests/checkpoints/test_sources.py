"""Where a model comes from: the resolver, and the registry name in the config."""

from __future__ import annotations

import json

import numpy as np
import pytest

import sasmamba_jax
from sasmamba_jax import models
from sasmamba_jax.checkpoints import sources
from sasmamba_jax.checkpoints import to_official


def test_resolve_sorts_each_kind_of_path(tmp_path):
  model = models.create("mlp_baseline", width=8, num_stages=1)
  directory = sasmamba_jax.save_pretrained(model, tmp_path / "export")
  np.savez(tmp_path / "official.npz", a=np.zeros(2))
  (tmp_path / "run" / "best").mkdir(parents=True)
  assert sources.resolve(directory) == sources.ModelDirectory(directory)
  assert sources.resolve(tmp_path / "run") == sources.RunDirectory(tmp_path / "run")
  assert sources.resolve(tmp_path / "official.npz") == sources.OfficialCheckpoint(
      tmp_path / "official.npz")
  with pytest.raises(FileNotFoundError, match="nope does not exist"):
    sources.resolve(tmp_path / "nope")
  with pytest.raises(ValueError, match="is a training run: read it with "
                                       "sasmamba_jax.load"):
    sources.load_model(sources.RunDirectory(tmp_path / "run"))
  # A run without its config.json cannot say what it trained.
  with pytest.raises(sasmamba_jax.loading.PretrainedError, match="config.json is "
                                                                 "missing"):
    sasmamba_jax.load(tmp_path / "run")


def test_the_registry_name_lives_in_the_config():
  model = models.create("posemamba_s", num_frames=9, dim=8, depth=1)
  assert model.config.name == "posemamba_s" and not hasattr(model, "registry_name")
  assert models.get_config("vitpose_tiny").name == "vitpose_tiny"
  with pytest.raises(ValueError, match="the options name another model"):
    models.get_config("sasmamba", name="posemamba_s")


def test_official_checkpoints_are_named_by_their_architecture(tmp_path):
  """A released size gets its name; another width is no registered model: ""."""
  released = models.create("sasmamba", num_frames=9)
  assert sasmamba_jax.load_pretrained(_npz(tmp_path / "a", released)).config.name == (
      "sasmamba")
  assert models.name_for(models.get_config("sasmamba", dim=8)) == ""
  tiny = models.create("vitpose_tiny")
  loaded = sasmamba_jax.checkpoints.load_official(_npz(tmp_path / "b", tiny),
                                                  num_heads=2)
  assert loaded.config.name == "vitpose_tiny"
  # A ViTPose of width 48: not the test size (32), whatever its other fields.
  wider = models.create("vitpose_tiny", embed_dim=48)
  other = sasmamba_jax.checkpoints.load_official(_npz(tmp_path / "c", wider),
                                                 num_heads=2)
  assert other.config.name == "" and other.config.embed_dim == 48
  # It exports as what it is, and loads back.
  directory = sasmamba_jax.save_pretrained(other, tmp_path / "export")
  meta = json.loads((directory / "config.json").read_text())
  assert meta["model"]["name"] == "" and meta["model"]["config_type"] == "ViTPoseConfig"
  assert "no registered model describes" in (directory / "README.md").read_text()
  back = sasmamba_jax.load(directory)
  assert back.config == other.config


def _npz(path, model):
  path.mkdir()
  np.savez(path / "weights.npz", **to_official(model))
  return path / "weights.npz"
