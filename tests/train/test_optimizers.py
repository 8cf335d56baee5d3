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


def _official_epoch_rates(num_examples, batch_size, epochs, lr, decay):
  """The official loops' rate per optimizer step: a DataLoader with drop_last=False
  yields range(0, N, B) batches per epoch, and lr *= decay after each epoch."""
  rates = []
  for _ in range(epochs):
    rates += [lr] * len(range(0, num_examples, batch_size))
    lr *= decay
  return rates


@pytest.mark.parametrize("num_examples, batch_size", [(37, 8), (40, 8), (9, 8)])
def test_an_epoch_is_the_official_loaders_ceil_and_the_decay_steps_there(
    num_examples, batch_size):
  spe = optimizers.epoch_length(num_examples, batch_size)
  assert spe == -(-num_examples // batch_size)
  official = _official_epoch_rates(num_examples, batch_size, 4, 5e-4, 0.5)
  lr = optimizers.schedule(_cfg(lr_decay_per_epoch=0.5), steps_per_epoch=spe,
                           total_steps=4 * spe)
  assert len(official) == 4 * spe
  np.testing.assert_allclose([float(lr(s)) for s in range(len(official))], official,
                             rtol=1e-6)
  with pytest.raises(ValueError, match="batch_size >= 1"):
    optimizers.epoch_length(10, 0)


def test_logged_learning_rate_is_the_one_the_update_applied():
  """Adam with b1 = b2 = 0 and no weight decay moves each parameter by exactly lr
  (lr * g / (|g| + eps)), so the parameter change shows the rate that was applied."""
  model = models.create("mlp_baseline", width=8, num_stages=1, dropout=0.0)
  o = _cfg(learning_rate=0.1, lr_decay_per_epoch=0.5, b1=0.0, b2=0.0, eps=1e-12,
           weight_decay=0.0)  # One step per epoch: the rate halves every step.
  ts = trainer.make_train_state(model, o, sharding.make_mesh(), steps_per_epoch=1,
                                total_steps=10)

  class Task:
    def loss(self, m, batch):
      return jnp.mean(m(batch["x"], deterministic=True) ** 2), {}

  step_fn = jax.jit(trainer.make_train_step(ts.graphdef, ts.rest, Task(), ts.tx,
                                            ts.schedule, jax.random.key(0)))
  x = jnp.asarray(np.random.default_rng(1).normal(size=(4, 2, 17, 2)), jnp.float32)
  state = ts.state
  for step in (1, 2, 3):  # 1-based, as Trainer._loop passes it.
    before = jax.tree.leaves(jax.tree.map(np.asarray, state["params"]))
    count = int(jax.tree.leaves(state["opt_state"])[0])  # Adam's own count
    state, metrics = step_fn(state, {"x": x}, jnp.asarray(step, jnp.int32))
    after = jax.tree.leaves(jax.tree.map(np.asarray, state["params"]))
    moved = max(float(np.max(np.abs(a - b))) for a, b in zip(after, before))
    assert count == step - 1
    assert float(metrics["learning_rate"]) == pytest.approx(moved, rel=1e-5)
    assert float(metrics["learning_rate"]) == pytest.approx(0.1 * 0.5 ** count)
  assert float(optimizers.applied_learning_rate(ts.schedule, state["opt_state"])) == (
      pytest.approx(0.1 * 0.5 ** 3))
  with pytest.raises(ValueError, match="found 0"):
    optimizers.applied_learning_rate(ts.schedule, ())


def _torch_adam_steps(params, grads, lr, b1, b2, eps, weight_decay, amsgrad):
  """``torch.optim.AdamW`` (``Adam`` when weight_decay = 0), its documented
  single-tensor update, in NumPy float64."""
  p = params.astype(np.float64)
  m, v, v_max = np.zeros_like(p), np.zeros_like(p), np.zeros_like(p)
  for t, g in enumerate(grads, start=1):
    p = p * (1 - lr * weight_decay)
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    v_max = np.maximum(v_max, v)
    denom = np.sqrt(v_max if amsgrad else v) / np.sqrt(1 - b2 ** t) + eps
    p = p - lr / (1 - b1 ** t) * m / denom
  return p


@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_amsgrad_is_pytorchs(weight_decay):
  rng = np.random.default_rng(0)
  params = {"w": jnp.asarray(rng.normal(size=(6,)), jnp.float32)}
  # Large gradients first, then small ones: the running maximum of v matters.
  grads = [rng.normal(size=(6,)) * s for s in (3.0, 2.0, 0.1, 0.05, 0.02)]
  # b2 = 0.5 lets v fall quickly after the large gradients (official: 0.999).
  o = _cfg(amsgrad=True, schedule="constant", learning_rate=0.05, b2=0.5,
           weight_decay=weight_decay)
  tx, _ = optimizers.make(o, params, steps_per_epoch=1, total_steps=10)
  state, p = tx.init(params), params
  for g in grads:
    updates, state = tx.update({"w": jnp.asarray(g, jnp.float32)}, state, p)
    p = optax.apply_updates(p, updates)
  expected = _torch_adam_steps(np.asarray(params["w"]), grads, 0.05, 0.9, 0.5, 1e-8,
                               weight_decay, amsgrad=True)
  np.testing.assert_allclose(p["w"], expected, rtol=2e-5, atol=1e-6)
  # Plain Adam and optax.amsgrad (maximum of the bias-corrected moments) differ.
  assert not np.allclose(expected, _torch_adam_steps(
      np.asarray(params["w"]), grads, 0.05, 0.9, 0.5, 1e-8, weight_decay,
      amsgrad=False), rtol=1e-3)
  ref = optax.amsgrad(0.05, b2=0.5)
  s, q = ref.init(params), params
  for g in grads:
    u, s = ref.update({"w": jnp.asarray(g, jnp.float32)}, s, q)
    q = optax.apply_updates(q, u)
  if weight_decay == 0.0:
    assert not np.allclose(q["w"], expected, rtol=1e-4)
