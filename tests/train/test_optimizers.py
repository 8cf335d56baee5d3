"""Schedules, layer-wise decay, weight-decay masks and freezing."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from sasmamba_jax import models
from sasmamba_jax.train import optimizers
from sasmamba_jax.train import sharding
from sasmamba_jax.train import trainer


def _cfg(**changes):
  o = optimizers.default_config()
  for k, v in changes.items():
    o[k] = v
  return o


def test_exponential_per_epoch_is_the_official_recipe():
  lr = optimizers.schedule(_cfg(), steps_per_epoch=10, total_steps=100)
  assert float(lr(0)) == pytest.approx(5e-4) and float(lr(9)) == pytest.approx(5e-4)
  assert float(lr(10)) == pytest.approx(5e-4 * 0.99)
  assert float(lr(35)) == pytest.approx(5e-4 * 0.99 ** 3)


def test_warmup_cosine_step_and_constant():
  cos = optimizers.schedule(_cfg(schedule="warmup_cosine", warmup_epochs=1.0,
                                 min_lr_ratio=0.1, learning_rate=1.0),
                            steps_per_epoch=10, total_steps=110)
  assert float(cos(0)) == 0.0 and float(cos(5)) == pytest.approx(0.5)
  assert float(cos(10)) == pytest.approx(1.0)
  assert float(cos(110)) == pytest.approx(0.1)
  assert 0.1 < float(cos(60)) < 1.0
  step = optimizers.schedule(_cfg(schedule="step", step_epochs=(6, 12),
                                  learning_rate=1e-4), steps_per_epoch=10,
                             total_steps=200)
  assert [float(step(s)) for s in (0, 59, 60, 119, 120, 199)] == pytest.approx(
      [1e-4, 1e-4, 1e-5, 1e-5, 1e-6, 1e-6])
  const = optimizers.schedule(_cfg(schedule="constant"), 10, 100)
  assert float(const(0)) == float(const(99)) == pytest.approx(5e-4)


def test_layer_decay_scales_by_block_depth():
  model = models.create("sasmamba", num_frames=9, dim=8, depth=3)
  params = nnx.state(model, nnx.Param)
  scales = optimizers.layer_scales(_cfg(layer_decay=0.5), params)
  flat = {optimizers.path_string(p): s
          for p, s in jax.tree_util.tree_flatten_with_path(scales)[0]}
  assert flat["head/kernel"] == 1.0  # Above the last block: full lr.
  assert flat["spatial_blocks/2/mlp/fc1/kernel"] == 0.5
  assert flat["temporal_blocks/0/mlp/fc1/kernel"] == 0.5 ** 3
  assert flat["joint_embed/kernel"] == 0.5 ** 4
  with pytest.raises(ValueError, match="no parameter path matches"):
    optimizers.layer_scales(_cfg(layer_decay=0.5, layer_pattern=r"layers/(\d+)/"),
                            params)


def _step(model, o, batch_x):
  """One train step of a sum-of-outputs loss; returns (train state, new state)."""
  mesh = sharding.make_mesh()
  ts = trainer.make_train_state(model, o, mesh, steps_per_epoch=1, total_steps=10)

  class Task:
    def loss(self, m, batch):
      out = m(batch["x"], deterministic=True)
      return jnp.mean(out ** 2), {}

  step = jax.jit(trainer.make_train_step(ts.graphdef, ts.rest, Task(), ts.tx,
                                         ts.schedule, jax.random.key(0),
                                         optimizers.trainable_filter(o)))
  before = jax.tree.map(np.asarray, ts.state)
  after, metrics = step(ts.state, {"x": batch_x}, jnp.asarray(0, jnp.int32))
  return before, jax.tree.map(np.asarray, after), metrics


def test_freeze_gives_no_gradient_and_no_optimizer_state():
  model = models.create("mlp_baseline", width=16, num_stages=1, dropout=0.0)
  x = jnp.asarray(np.random.default_rng(0).normal(size=(4, 2, 17, 2)), jnp.float32)
  o = _cfg(freeze=(r"^input/", r"^stages/"), learning_rate=1e-2)
  before, after, _ = _step(model, o, x)
  frozen_paths = [optimizers.path_string(p) for p, _ in
                  jax.tree_util.tree_flatten_with_path(before["frozen"])[0]]
  assert frozen_paths and all(p.startswith(("input/", "stages/")) for p in frozen_paths)
  jax.tree.map(np.testing.assert_array_equal, before["frozen"], after["frozen"])
  trained = [optimizers.path_string(p) for p, _ in
             jax.tree_util.tree_flatten_with_path(before["params"])[0]]
  assert trained == ["output/bias", "output/kernel"]
  # Adam moments exist for the trained parameters only.
  moments = jax.tree.leaves(after["opt_state"])
  assert sum(m.size for m in moments if m.ndim) == 2 * sum(
      np.size(p) for p in jax.tree.leaves(before["params"]))
  assert not np.allclose(before["params"]["output"]["kernel"][...],
                         after["params"]["output"]["kernel"][...])
  with pytest.raises(ValueError, match="matches no parameter"):
    _step(model, _cfg(freeze=("backbone",)), x)


def test_no_weight_decay_mask():
  model = models.create("mlp_baseline", width=8, num_stages=0, dropout=0.0,
                        batch_norm=False)
  params = nnx.state(model, nnx.Param)
  o = _cfg(no_weight_decay=(r"bias$",), weight_decay=0.5, learning_rate=1.0,
           schedule="constant")
  tx, _ = optimizers.make(o, params, steps_per_epoch=1, total_steps=1)
  zeros = jax.tree.map(jnp.zeros_like, params)
  updates, _ = tx.update(zeros, tx.init(params), params)
  flat = {optimizers.path_string(p): np.asarray(u) for p, u in
          jax.tree_util.tree_flatten_with_path(updates)[0]}
  assert np.all(flat["output/bias"] == 0)  # Zero gradient, no decay: no update.
  np.testing.assert_allclose(flat["output/kernel"],
                             -0.5 * np.asarray(params["output"]["kernel"][...]),
                             rtol=1e-6)
  assert optax.tree.norm(updates) > 0
