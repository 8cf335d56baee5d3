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
