"""The flip test (mirror the input, average the mirrored-back prediction)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sasmamba_jax import skeletons
from sasmamba_jax.evaluation import flip_average
from sasmamba_jax.evaluation import flip_test


def inputs_2d(seed=0, shape=(2, 5, 17, 3)):
  x = np.random.default_rng(seed).normal(size=shape).astype(np.float32)
  x[..., 2] = np.abs(x[..., 2])  # confidence
  return x




def equivariant_model(x):
  """Mirror-equivariant lifting: x and y pass through, depth depends on y, the
  confidence and the mean over joints (permutation invariant), never on x's sign."""
  depth = x[..., 1] * x[..., 2] + jnp.mean(x[..., 1:2] ** 2, axis=-2)
  return jnp.stack([x[..., 0], x[..., 1], depth], axis=-1)


@pytest.mark.parametrize("name", ["h36m", "mpi_inf_3dhp"])
def test_flip_test_leaves_an_equivariant_model_unchanged(name):
  x = jnp.asarray(inputs_2d(1))
  layout = skeletons.get(name)
  # Equivariance itself: f(flip(x)) == flip(f(x)).
  np.testing.assert_allclose(equivariant_model(skeletons.flip_poses(x, layout)),
                             skeletons.flip_poses(equivariant_model(x), layout),
                             atol=1e-6)
  wrapped = flip_test(equivariant_model, name)
  np.testing.assert_allclose(wrapped(x), equivariant_model(x), atol=1e-6)
  np.testing.assert_allclose(jax.jit(wrapped)(x), equivariant_model(x), atol=1e-6)


def test_flip_test_hand_case_cancels_a_mirror_asymmetric_bias():
  # f(x) = x + b on channel 0: f(flip x) flipped back is x - b, the average is x.
  bias = np.array([0.7, -0.2, 0.3], np.float32)
  x = inputs_2d(2)
  out = flip_average(lambda v: v + bias, x, skeletons.H36M)
  np.testing.assert_allclose(out, x + bias * np.array([0, 1, 1], np.float32), atol=1e-6)
  # A joint-dependent model: the flipped pass sees joints swapped.
  weights = np.arange(17, dtype=np.float32)[:, None]
  out = flip_average(lambda v: v * weights, x, "h36m")
  perm = skeletons.H36M.flip_permutation
  np.testing.assert_allclose(out, x * (weights + weights[perm]) / 2, atol=1e-6)


@pytest.mark.parametrize("layout", [skeletons.H36M, skeletons.MPI_INF_3DHP])
def test_twice_flip_is_identity(layout):
  x = inputs_2d(3)
  np.testing.assert_array_equal(skeletons.flip_poses(skeletons.flip_poses(x, layout),
                                                     layout), x)
  xj = jnp.asarray(x)
  np.testing.assert_array_equal(
      skeletons.flip_poses(skeletons.flip_poses(xj, layout), layout), x)
  # Hence flip-averaging a flip-averaged model changes nothing.
  once = flip_test(lambda v: v * np.arange(1, 4, dtype=np.float32), layout)
  twice = flip_test(once, layout)
  np.testing.assert_allclose(twice(x), once(x), atol=1e-6)


def test_flip_test_bad_model_or_layout():
  x = inputs_2d(4)
  with pytest.raises(ValueError, match="17"):
    flip_average(lambda v: v, x[..., :16, :], "h36m")
  calls = []

  def shape_changing(v):
    calls.append(1)
    return v if len(calls) == 1 else v[:, :4]

  with pytest.raises(ValueError, match="flipped input"):
    flip_average(shape_changing, x, "h36m")
  with pytest.raises(KeyError, match="unknown skeleton"):
    flip_test(lambda v: v, "smpl")
