"""Task registry, the Task / BoundTask interface and the lifting task's side of it."""

from __future__ import annotations

import dataclasses
import pathlib

import jax
import numpy as np
import pytest
from flax import nnx

from sasmamba_jax import benchmarking
from sasmamba_jax import evaluation
from sasmamba_jax import tasks
from sasmamba_jax.datasets import Split
from sasmamba_jax.train import config as config_lib


def _task(**changes):
  cfg = tasks.get("lifting_3d").default_config()
  for k, v in changes.items():
    cfg[k] = v
  return tasks.create(cfg)


def test_registry_names_and_errors():
  assert "lifting_3d" in tasks.TASK_NAMES
  with pytest.raises(ValueError, match="unknown task 'heatmaps'; registered"):
    tasks.get("heatmaps")


def _model(**options):
  from sasmamba_jax import models  # pylint: disable=g-import-not-at-top
  return models.create("mlp_baseline", width=8, num_stages=0, **options)


def test_primary_metric_and_direction():
  h36m = _task()
  assert (h36m.primary_metric, h36m.higher_is_better) == ("p1_mm", False)
  bound = h36m.bind(_model())
  assert (bound.name, bound.primary_metric) == ("lifting_3d", "p1_mm")
  assert isinstance(bound.make_evaluator(), evaluation.H36MEvaluator)
  mpi = _task(protocol="mpi_inf_3dhp", skeleton="mpi_inf_3dhp")
  assert mpi.primary_metric == "mpjpe_mm"
  assert isinstance(mpi.bind(_model()).make_evaluator(),
                    evaluation.MPIInf3DHPEvaluator)
  assert tasks.is_better(h36m, 40.0, 41.0) and not tasks.is_better(h36m, 42.0, 41.0)
  assert tasks.is_better(h36m, 42.0, None)

  class HigherIsBetter:
    higher_is_better = True
  assert tasks.is_better(HigherIsBetter(), 80.0, 70.0)


def test_batch_spec_feeds_loss_predict_and_model_inputs():
  task = _task(constant_confidence=True)
  cfg = config_lib.base_config("lifting_3d")
  cfg.model.num_frames = 9
  cfg.model.dim = 8
  cfg.model.depth = 1
  model = task.build_model(cfg.model, rngs=nnx.Rngs(0), dtype="float32")
  bound = task.bind(model)
  spec = bound.batch_spec(2)
  assert {k: v.shape for k, v in spec.items()} == {"input_2d": (2, 9, 17, 3),
                                                    "label_3d": (2, 9, 17, 3)}
  batch = {k: jax.numpy.asarray(v) for k, v in benchmarking.random_batch(spec).items()}
  (x,) = bound.model_inputs(batch)
  assert x.shape == (2, 9, 17, 3) and np.all(np.asarray(x[..., 2]) == 1.0)
  loss, terms = bound.loss(model, batch)
  assert np.isfinite(float(loss)) and set(terms) == {"loss_mpjpe", "loss_n_mpjpe",
                                                     "loss_velocity"}
  assert bound.predict(model, batch).shape == (2, 9, 17, 3)
  split = Split([])
  assert bound.train_transforms(split) and not _task(
      flip_augment=False, constant_confidence=True).bind(model).train_transforms(split)
  # Frozen: a bound task is computed once, from the model, and never changes.
  with pytest.raises(dataclasses.FrozenInstanceError):
    bound.frames = 3


def test_bind_names_the_mismatch():
  task = _task(use_confidence=True)
  with pytest.raises(ValueError, match="takes 2 input channels and 17 joints, but the "
                                       "task feeds 3 channels"):
    task.bind(_model())


def test_the_optional_hook_does_nothing_in_the_base():
  bound = _task().bind(_model())
  splits = {"train": Split([{"x": 1}]), "eval": Split([])}
  same, out = bound.prepare_data(_model(), splits, pathlib.Path("."))
  assert same is bound and out == splits


def test_a_family_that_misses_a_method_fails_when_built():
  """The interface is abstract: a family without ``loss`` is refused at
  construction, naming the method, not at the first training step."""
  from sasmamba_jax.tasks import base  # pylint: disable=g-import-not-at-top
  bound_class = type(_task().bind(_model()))
  partial = type("Partial", (base.BoundTask,), {
      k: v for k, v in vars(bound_class).items() if k != "loss"})
  with pytest.raises(TypeError, match="loss"):
    partial(task=_task())
  with pytest.raises(TypeError, match="bind"):
    type("NoBind", (base.Task,), {"primary_metric": "p1_mm"})(None)
