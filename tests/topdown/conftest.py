"""The ViTPose post-processing fixture (../shared/fixtures/vitpose/postprocess.npz)."""

import numpy as np
import pytest


@pytest.fixture(scope="session")
def postprocess(shared_fixtures):
  path = shared_fixtures / "vitpose" / "postprocess.npz"
  if not path.exists():
    pytest.skip(f"{path} not found (official ViTPose post-processing outputs)")
  with np.load(path) as f:
    return {k: f[k] for k in f.files}


@pytest.fixture(scope="session")
def vitpose_tiny(shared_fixtures):
  path = shared_fixtures / "vitpose" / "vitpose_tiny.npz"
  if not path.exists():
    pytest.skip(f"{path} not found (official ViTPose outputs)")
  with np.load(path) as f:
    return {k: f[k] for k in ("x", "heatmaps", "heatmaps_flip", "heatmaps_fliptest",
                              "img_uint8")}


@pytest.fixture(scope="session")
def tiny_checkpoint(shared_fixtures, tmp_path_factory):
  """The official tiny ViTPose weights of the fixture as a state-dict .npz file."""
  path = shared_fixtures / "vitpose" / "vitpose_tiny.npz"
  if not path.exists():
    pytest.skip(f"{path} not found (official ViTPose outputs)")
  out = tmp_path_factory.mktemp("vitpose") / "vitpose_tiny_state.npz"
  with np.load(path) as f:
    np.savez(out, **{k: f[k] for k in f.files
                     if k.startswith(("backbone.", "keypoint_head."))})
  return out


@pytest.fixture(scope="session")
def tiny_vitpose(tiny_checkpoint):
  """The official tiny ViTPose (64 x 48 crops, 2 heads), built once per session."""
  from sasmamba_jax import checkpoints  # pylint: disable=g-import-not-at-top
  return checkpoints.load_official(str(tiny_checkpoint), num_heads=2)
