"""DropPath, Mlp, the PyTorch-default initialisers and the residual block."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from sasmamba_jax.nn import BiSTSSMBlock
from sasmamba_jax.nn import DropPath
from sasmamba_jax.nn import Mlp
from sasmamba_jax.nn import SSMConfig
from sasmamba_jax.nn import torch_init


def test_droppath_drops_whole_samples_and_rescales():
  drop = DropPath(0.5, rngs=nnx.Rngs(0))
  x = jnp.ones((512, 3, 2))
  y = drop(x)
  per_sample = np.asarray(y).reshape(512, -1)
  assert set(np.unique(per_sample)) <= {0.0, 2.0}
  assert np.all(per_sample.min(1) == per_sample.max(1))  # One decision per sample.
  assert 0.4 < np.mean(per_sample[:, 0] > 0) < 0.6
  assert not np.array_equal(drop(x), y)  # The stream advances between calls.
  drop.eval()
  np.testing.assert_array_equal(drop(x), x)
  np.testing.assert_array_equal(DropPath(0.0, rngs=nnx.Rngs(0))(x), x)


def test_droppath_at_the_recipe_rate_is_timms_per_sample_rule():
  """The official blocks use timm's DropPath at linspace(0, 0.2, depth): sample i is
  kept when a uniform u_i < keep = 1 - rate (``bernoulli_(keep)``) and then divided
  by keep. At 0.2, unlike 0.5, swapping keep and drop or dividing by the rate shows."""
  rate = 0.2
  keep = np.float32(1) - np.float32(rate)
  x = jax.random.normal(jax.random.key(1), (4096, 3, 2, 5))
  y = np.asarray(DropPath(rate)(x, rngs=nnx.Rngs(dropout=7)))
  # The same key, drawn as DropPath draws it: one uniform per sample of axis 0.
  u = np.asarray(jax.random.uniform(nnx.Rngs(dropout=7)["dropout"](), (4096, 1, 1, 1)))
  kept = (u < keep).reshape(-1)
  np.testing.assert_allclose(y[kept], np.asarray(x)[kept] / keep, rtol=3e-7)
  np.testing.assert_array_equal(y[~kept], 0.0)
  # Statistics: P(keep) = 0.8 and E[y] = x, within 4 standard errors.
  assert abs(kept.mean() - 0.8) < 4 * np.sqrt(0.8 * 0.2 / 4096)
  ones = np.asarray(DropPath(rate)(jnp.ones((4096, 1)), rngs=nnx.Rngs(dropout=3)))
  assert abs(ones.mean() - 1.0) < 4 * np.sqrt(0.2 / 0.8 / 4096)
  # A block's two branches draw separately: P(both kept) = 0.64, not 0.8.
  drop = DropPath(rate, rngs=nnx.Rngs(dropout=5))
  first, second = (np.asarray(drop(jnp.ones((4096, 1))))[:, 0] > 0 for _ in range(2))
  assert abs(np.mean(first & second) - 0.64) < 4 * np.sqrt(0.64 * 0.36 / 4096)


def test_droppath_needs_rngs_in_training_and_checks_rate():
  with pytest.raises(ValueError, match="dropout"):
    DropPath(0.2)(jnp.ones((2, 3)))
  assert DropPath(0.2)(jnp.ones((2, 3)), deterministic=True).shape == (2, 3)
  with pytest.raises(ValueError, match="rate"):
    DropPath(1.0)


def test_mlp_uses_exact_gelu():
  mlp = Mlp(4, 8, rngs=nnx.Rngs(0))
  x = jax.random.normal(jax.random.key(1), (3, 4))
  h = np.asarray(x) @ np.asarray(mlp.fc1.kernel[...]) + np.asarray(mlp.fc1.bias[...])
  gelu = 0.5 * h * (1 + np.vectorize(math.erf)(h / math.sqrt(2)))
  want = gelu @ np.asarray(mlp.fc2.kernel[...]) + np.asarray(mlp.fc2.bias[...])
  np.testing.assert_allclose(mlp(x), want, rtol=1e-5, atol=1e-6)


def test_torch_default_init_bounds():
  lin = torch_init.linear(50, 400, rngs=nnx.Rngs(0))
  bound = 1 / math.sqrt(50)
  for p in (lin.kernel[...], lin.bias[...]):
    assert float(jnp.max(jnp.abs(p))) <= bound
    assert float(jnp.max(jnp.abs(p))) > 0.9 * bound  # Uniform over the whole range.
  conv = torch_init.conv2d(8, 8, 3, groups=8, rngs=nnx.Rngs(0))
  assert conv.kernel.shape == (3, 3, 1, 8)
  assert float(jnp.max(jnp.abs(conv.kernel[...]))) <= 1 / 3
  norm = torch_init.layer_norm(4, epsilon=1e-5, rngs=nnx.Rngs(0))
  x = jnp.asarray([[1e3, 1e3 + 1, 1e3 + 2, 1e3 + 3]])
  xc = np.asarray(x) - np.asarray(x).mean()
  want = xc / np.sqrt((xc ** 2).mean() + 1e-5)
  np.testing.assert_allclose(norm(x), want, rtol=1e-4)  # Exact variance at a large mean.


def test_block_is_pre_norm_residual():
  block = BiSTSSMBlock(8, mlp_ratio=2.0, drop_path=0.0,
                       ssm=SSMConfig(joint_gathers=((0, 0, 1),)), rngs=nnx.Rngs(0))
  x = jax.random.normal(jax.random.key(0), (2, 4, 3, 8))

  @nnx.jit
  def by_hand(block, x):
    h = x + block.op(block.norm(x))
    return h + block.mlp(block.norm2(h))

  np.testing.assert_allclose(nnx.jit(lambda b, x: b(x))(block, x), by_hand(block, x),
                             rtol=1e-5, atol=1e-5)
  assert block.norm.epsilon == 1e-6 and block.op.out_norm.epsilon == 1e-5
  assert block.mlp.fc1.kernel.shape == (8, 16)
