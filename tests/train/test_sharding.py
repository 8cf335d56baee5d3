"""Sharded initialisation and the host/device helpers of the prediction loop."""

from __future__ import annotations

import jax
import numpy as np
from flax import nnx

from sasmamba_jax import models
from sasmamba_jax.train import sharding


def test_jitted_init_builds_the_model_on_its_shardings():
  mesh = sharding.make_mesh()
  build = lambda: models.create("sasmamba", rngs=nnx.Rngs(params=0, dropout=1),
                                num_frames=9, dim=8, depth=2)
  eager = nnx.state(build(), nnx.Param)
  placed = nnx.state(sharding.create_jitted(build, mesh, "replicated"), nnx.Param)
  for a, b in zip(jax.tree.leaves(eager), jax.tree.leaves(placed)):
    assert isinstance(b.sharding, jax.sharding.NamedSharding)
    # Same initialisers, compiled instead of eager: equal up to float rounding.
    np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-5, atol=1e-6)
  # On one device the model is built eagerly: exactly the eager values.
  single = nnx.state(sharding.create_sharded(build, mesh, "replicated"), nnx.Param)
  for a, b in zip(jax.tree.leaves(eager), jax.tree.leaves(single)):
    np.testing.assert_array_equal(np.asarray(b), np.asarray(a))
  # Already-placed arrays pass through put() untouched.
  shardings = sharding.state_shardings(placed, mesh, "replicated")
  again = sharding.put(placed, shardings)
  assert all(x is y for x, y in zip(jax.tree.leaves(again), jax.tree.leaves(placed)))


def test_single_process_helpers():
  mesh = sharding.make_mesh()
  x = jax.device_put(np.arange(6.0).reshape(3, 2), sharding.batch_sharding(mesh))
  np.testing.assert_array_equal(sharding.local_rows(x, mesh), np.arange(6.0).reshape(3, 2))
  assert sharding.all_gather_bytes(b"abc") == [b"abc"]
  assert sharding.all_sum(5) == 5


def test_put_relabels_single_device_arrays_so_a_step_compiles_once():
  # An eagerly built model lives on a single-device sharding; put() must hand the
  # train step the mesh sharding its outputs carry, or jit compiles it twice.
  mesh = sharding.make_mesh()
  repl = sharding.replicated(mesh)
  x = jax.numpy.arange(4.0)  # single-device, as an eager model build leaves it
  placed = sharding.put({"w": x}, {"w": repl})["w"]
  assert placed.sharding == repl
  np.testing.assert_array_equal(np.asarray(placed), np.arange(4.0))
  step = jax.jit(lambda w: w + 1, in_shardings=repl, out_shardings=repl)
  out = step(step(placed))
  assert step._cache_size() == 1  # pylint: disable=protected-access
  np.testing.assert_array_equal(np.asarray(out), np.arange(4.0) + 2)
