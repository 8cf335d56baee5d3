"""The lifting task's flip augmentation and flip test against the official formulas.

The official ``flip_data`` (PoseMamba ``lib/utils/utils_data.py`` lines 54-66,
SasMamba ``utils/data.py`` lines 139-146) negates x and swaps the left/right joint
lists; training flips the 2D input and the 3D label of a clip together with
``random.random() > 0.5`` (PoseMamba ``lib/data/dataset_motion_3d.py`` lines 56-58,
SasMamba ``data/reader/motion_dataset.py`` lines 418-421 and 269-271); evaluation
averages the prediction with the flipped-back prediction of the flipped input
(PoseMamba ``train.py`` lines 70-75, SasMamba ``train.py`` lines 114-119 and
``train_3dhp.py`` lines 86-100).
"""

from __future__ import annotations

import itertools

import jax.numpy as jnp
import numpy as np
import pytest

from sasmamba_jax import datasets
from sasmamba_jax import models
from sasmamba_jax import skeletons
from sasmamba_jax import tasks

# The official joint lists, written out rather than taken from sasmamba_jax.skeletons.
OFFICIAL_LISTS = {
    "h36m": ([4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]),
    "mpi_inf_3dhp": ([8, 9, 10, 2, 3, 4], [11, 12, 13, 5, 6, 7]),
}


def official_flip(data, layout="h36m"):
  left, right = OFFICIAL_LISTS[layout]
  out = np.array(data, copy=True)
  out[..., 0] *= -1
  out[..., left + right, :] = out[..., right + left, :]
  return out


def _task(**changes):
  cfg = tasks.get("lifting_3d").default_config()
  for k, v in changes.items():
    cfg[k] = v
  return tasks.create(cfg)


def _bound(**changes):
  """The task bound to a small per-frame model (not mirror-equivariant)."""
  task = _task(**changes)
  model = models.create("mlp_baseline", in_channels=task.in_channels, width=16,
                        num_stages=1, dropout=0.0)
  model.eval()
  return task.bind(model), model


MPI = dict(skeleton="mpi_inf_3dhp", protocol="mpi_inf_3dhp", constant_confidence=True)


@pytest.fixture(scope="module")
def train(synthetic_tiny):
  return datasets.load(synthetic_tiny, "train")


def test_flip_augmentation_mirrors_2d_and_3d_together_half_the_time(train):
  bound, _ = _bound()  # The recipe: task.flip_augment = True.
  kwargs = dict(batch_size=8, seed=11)
  plain = list(itertools.islice(datasets.make_train_iterator(train, **kwargs), 50))
  augmented = list(itertools.islice(datasets.make_train_iterator(
      train, transforms=bound.train_transforms(train), **kwargs), 50))
  flipped = []
  for p, a in zip(plain, augmented):
    np.testing.assert_array_equal(a["frame_index"], p["frame_index"])
    for i in range(len(p["input_2d"])):
      same = [np.array_equal(a[k][i], p[k][i]) for k in ("input_2d", "label_3d")]
      mirrored = [np.array_equal(a[k][i], official_flip(p[k][i]))
                  for k in ("input_2d", "label_3d")]
      # Either both are left as they are or both are mirrored: never one alone.
      assert same == [True, True] or mirrored == [True, True], (same, mirrored)
      flipped.append(mirrored[0])
  n = len(flipped)
  assert n == 400 and abs(np.mean(flipped) - 0.5) < 4 * np.sqrt(0.25 / n)
  assert not _bound(flip_augment=False)[0].train_transforms(train)


@pytest.mark.parametrize("layout", ["h36m", "mpi_inf_3dhp"])
def test_flip_of_an_example_is_the_official_flip_data(layout):
  rng = np.random.default_rng(0)
  example = {"input_2d": rng.normal(size=(5, 17, 3)).astype(np.float32),
             "label_3d": rng.normal(size=(5, 17, 3)).astype(np.float32)}
  flipped = datasets.flip_example(example, skeletons.get(layout))
  for key in example:
    np.testing.assert_array_equal(flipped[key], official_flip(example[key], layout))


@pytest.mark.parametrize("changes", [{}, MPI], ids=["h36m", "mpi_inf_3dhp"])
def test_flip_test_is_the_official_average(changes):
  bound, model = _bound(**changes)
  layout = bound.task.skeleton.name
  rng = np.random.default_rng(1)
  batch = {"input_2d": jnp.asarray(rng.normal(size=(2, 4, 17, 3)), jnp.float32)}
  (x,) = bound.model_inputs(batch)
  x = np.asarray(x)
  f = lambda v: np.asarray(model(jnp.asarray(v), deterministic=True))
  expected = (f(x) + official_flip(f(official_flip(x, layout)), layout)) / 2
  np.testing.assert_allclose(bound.predict(model, batch), expected, rtol=1e-5,
                             atol=1e-6)
  # The model is not mirror-equivariant, so the flip test changes its output ...
  assert not np.allclose(expected, f(x), atol=1e-3)
  # ... and task.flip_test = False returns the plain prediction.
  plain = _task(flip_test=False, **changes).bind(model)
  np.testing.assert_allclose(plain.predict(model, batch), f(x), rtol=1e-6)
