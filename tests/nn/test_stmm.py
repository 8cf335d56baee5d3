"""nn.STMM's sampling grids and sources (the GLSMamba model uses the defaults; the
layer keeps the paper's alternatives)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from sasmamba_jax.nn import stmm


@pytest.mark.parametrize("grid", stmm.STMM_GRIDS)
def test_images_round_trip(grid):
  x = jax.random.normal(jax.random.key(0), (2, 3, 4, 5, 6))
  images = stmm._to_images(x, grid)   # pylint: disable=protected-access
  assert images.shape == ((6, 4, 5, 6) if grid == "frame" else (8, 3, 5, 6))
  np.testing.assert_array_equal(stmm._from_images(images, grid, x.shape), x)  # pylint: disable=protected-access


def _response(grid, sample_from):
  """How much each output frame moves when frame 0 of the incoming kind moves."""
  layer = stmm.STMM(4, ("unified", "time"), grids=(grid,), sample_from=sample_from,
                    rngs=nnx.Rngs(0))
  ys = {k: jax.random.normal(jax.random.key(i), (1, 3, 4, 5, 4))
        for i, k in enumerate(layer.kinds)}
  # Clip 0 as it is, clip 1 with frame 0 of the incoming kind moved: one call.
  pair = {k: jnp.concatenate([y, y.at[:, 0].add(1.0) if k == "time" else y])
          for k, y in ys.items()}
  out = np.asarray(nnx.jit(lambda m, y: m(y))(layer, pair))
  return np.abs(out[1] - out[0]).max(axis=(1, 2, 3))


def test_grids_and_sources_decide_what_reaches_each_frame():
  # At initialisation the offset/mask conv is zero: the incoming kind only reaches
  # the output where it is the one sampled ("kind"), and a frame's neighbours only
  # on the time x width plane.
  assert _response("frame", "stream").max() == 0
  frame = _response("frame", "kind")
  assert frame[0] > 0 and frame[1:].max() == 0
  plane = _response("time_width", "kind")
  assert plane[0] > 0 and plane[1] > 0 and plane[2] == 0    # 3 x 3 taps: one frame.
  with pytest.raises(ValueError, match="sample_from"):
    stmm.STMM(4, ("unified", "time"), sample_from="both", rngs=nnx.Rngs(0))
  with pytest.raises(ValueError, match="one grid"):
    stmm.STMM(4, ("unified", "time"), grids=("space",), rngs=nnx.Rngs(0))
