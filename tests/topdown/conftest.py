"""The official tiny ViTPose: its outputs, its weights and the model built from them."""

import json

import numpy as np
import pytest

from tests.conftest import vitpose_fixture


@pytest.fixture(scope="session")
def vitpose_tiny(shared_fixtures):
  return vitpose_fixture(shared_fixtures, "vitpose_tiny", "official ViTPose outputs",
                         ("x", "heatmaps", "heatmaps_flip", "heatmaps_fliptest",
                          "img_uint8"))


@pytest.fixture(scope="session")
def tiny_checkpoint(shared_fixtures, tmp_path_factory):
  """The fixture's official tiny ViTPose: its weights as a state-dict .npz file, its
  number of heads and input (H, W), read from the manifest (the hidden set differs)."""
  folder = shared_fixtures / "vitpose"
  path = folder / "vitpose_tiny.npz"
  if not path.exists():
    pytest.skip(f"{path} not found (official ViTPose outputs)")
  config = json.loads((folder / "manifest.json").read_text())["cases"]["vitpose_tiny"][
      "config"]
  out = tmp_path_factory.mktemp("vitpose") / "vitpose_tiny_state.npz"
  with np.load(path) as f:
    np.savez(out, **{k: f[k] for k in f.files
                     if k.startswith(("backbone.", "keypoint_head."))})
  return {"path": out, "num_heads": int(config["heads"]),
          "image_size": tuple(int(s) for s in config["img"])}


@pytest.fixture(scope="session")
def tiny_vitpose(tiny_checkpoint):
  """The official tiny ViTPose, built once per session."""
  from sasmamba_jax import checkpoints  # pylint: disable=g-import-not-at-top
  return checkpoints.load_official(str(tiny_checkpoint["path"]),
                                   num_heads=tiny_checkpoint["num_heads"])
