"""The model registry and the per-frame MLP baseline."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from sasmamba_jax import models


def test_registered_names():
  for name in ("sasmamba", "posemamba_s", "posemamba_b", "posemamba_l", "posemamba_x",
               "mlp_baseline"):
    assert name in models.MODEL_NAMES
    assert models.describe(name)
  with pytest.raises(ValueError, match="registered"):
    models.create("posemamba_xl")
  with pytest.raises(ValueError, match="options:"):
    models.create("sasmamba", width=3)


def test_overrides_reach_the_config():
  cfg = models.get_config("posemamba_l", num_frames=81, impl="sequential",
                          official_gradients=False)
  assert (cfg.dim, cfg.depth, cfg.num_frames, cfg.impl) == (128, 20, 81, "sequential")
  assert not cfg.official_gradients
  assert models.get_config("sasmamba").num_frames == 243


def test_mlp_baseline_is_per_frame():
  model = models.create("mlp_baseline", width=32, num_stages=1)
  assert models.count_parameters(models.create_abstract("mlp_baseline")) == (
      (34 * 1024 + 1024) + 2 * 2 * (1024 * 1024 + 1024) + (1024 * 51 + 51)
      + 5 * 2 * 1024)  # Linears + BatchNorm scale/bias of 5 hidden layers.
  x = jax.random.normal(jax.random.key(0), (2, 7, 17, 2))
  y = nnx.jit(lambda m, x: m(x))(model, x)  # Training mode: batch statistics.
  assert y.shape == (2, 7, 17, 3) and y.dtype == jnp.float32
  model.eval()
  apply = nnx.jit(lambda m, x: m(x))
  full = apply(model, x)
  one = apply(model, x[:, 3:4])
  np.testing.assert_allclose(one[:, 0], full[:, 3], rtol=1e-5, atol=1e-6)
  np.testing.assert_array_equal(apply(model, x), full)  # Dropout off in eval.
  with pytest.raises(ValueError, match="takes 2 input channels"):
    model(jnp.zeros((1, 2, 17, 3)))
  with pytest.raises(ValueError, match="built for 17 joints"):
    model(jnp.zeros((1, 2, 16, 2)))


def test_bad_options_fail_at_construction_and_non_finite_input_is_refused():
  with pytest.raises(ValueError, match="impl must be one of"):
    models.create("sasmamba", impl="fastest")
  with pytest.raises(ValueError, match=r"dtype must be one of \('float32', 'bfloat16'\)"):
    models.create("posemamba_s", dtype="float16")
  with pytest.raises(ValueError, match=r"dtype must be one of"):
    models.create("mlp_baseline", dtype="float16")
  model = models.create("mlp_baseline", width=8, num_stages=0)
  x = np.zeros((1, 2, 17, 2), np.float32)
  x[0, 1, 5, 0] = np.nan
  with pytest.raises(ValueError, match="NaN or infinite"):
    model(x)
