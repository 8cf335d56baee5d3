"""Single-frame 2D pose on COCO: targets to AP, training ViTPose, experiments.evaluate."""

from __future__ import annotations

import json

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import sasmamba_jax
from sasmamba_jax import datasets
from sasmamba_jax import models
from sasmamba_jax import tasks
from sasmamba_jax.checkpoints import to_official
from sasmamba_jax.datasets import pipeline
from sasmamba_jax.train import config as config_lib
from sasmamba_jax.train import evaluator as evaluator_lib
from sasmamba_jax.train import trainer
from tests.datasets.fakes import write_fake_coco
from tests.tasks.oracle import HeatmapOracle


@pytest.fixture(scope="module")
def coco(tmp_path_factory):
  root = tmp_path_factory.mktemp("coco")
  write_fake_coco(root)
  data_dir = tmp_path_factory.mktemp("tfds")
  datasets.prepare("coco/gt", data_dir=data_dir, manual_dir=root)
  return data_dir


def _config(data_dir, **task):
  c = config_lib.base_config("pose_2d", model="vitpose_tiny")
  c.dataset.name = "coco/gt"
  c.dataset.data_dir = str(data_dir)
  c.task.input_size = (48, 64)
  c.task.codec.dark_kernel = 3
  for k, v in task.items():
    c.task[k] = v
  c.batch_size = c.eval_batch_size = 2
  c.max_steps = c.eval_every_steps = 2
  c.num_epochs = 2
  c.progress_bar = False
  return c


@pytest.mark.parametrize("flip_test", [False, True])
def test_target_heatmaps_score_the_full_coco_ap(coco, flip_test):
  c = config_lib.validate(_config(coco, flip_test=flip_test))
  task = tasks.create(c.task)
  bound = task.bind(models.create_abstract("vitpose_tiny"))
  (split,) = datasets.config.load_splits(c.dataset, ["val"])
  evaluator = bound.make_evaluator(split)
  oracle = HeatmapOracle(task.skeleton.flip_permutation)
  keys = tuple(bound.batch_spec(1)) + ("image_id", "box_score")
  for batch in pipeline.make_eval_iterator(
      split.examples, batch_size=2, transforms=bound.eval_transforms(split), keys=keys):
    oracle.batch = batch
    pred = np.asarray(bound.predict(oracle, {k: jnp.asarray(batch[k])
                                             for k in bound.batch_spec(1)}))
    mask = batch["mask"]
    evaluator.update(pred[mask], {k: batch[k][mask]
                                  for k in ("image_id", "box_score", "scale")})
  result = evaluator.result()
  assert result["AP"] == pytest.approx(100.0) and result["num_people"] == 3, result
  assert "AP50" in task.format_results(result)


def test_vitpose_trains_on_coco_and_evaluates_through_the_common_path(coco, tmp_path):
  """Two steps from an official-format checkpoint; experiments.evaluate's path."""
  official = tmp_path / "vitpose_tiny.npz"
  start = models.create("vitpose_tiny", image_size=(64, 48), rngs=nnx.Rngs(7))
  np.savez(official, **to_official(start))
  c = _config(coco, init_checkpoint=str(official))
  c.model.num_heads = 2   # what the tensors of an unreleased width do not say
  run = tmp_path / "run"
  first = trainer.Trainer(c, run)
  np.testing.assert_array_equal(   # training starts from the checkpoint's weights
      np.asarray(first.state["params"]["backbone"]["patch_embed"]["kernel"][...]),
      np.asarray(nnx.state(start, nnx.Param)["backbone"]["patch_embed"]["kernel"][...]))
  result = first.run()
  assert np.isfinite(result["AP"]) and result["step"] == 2
  assert json.loads((run / "eval" / "step_2.json").read_text())["AP"] == result["AP"]
  final = evaluator_lib.evaluate_checkpoint(_config(coco), run, progress=False)
  assert final["AP"] == pytest.approx(result["AP"])
  # A model directory evaluates as is; one of another size is named.
  exported = sasmamba_jax.save_pretrained(start, tmp_path / "export")
  evaluated = evaluator_lib.evaluate_checkpoint(_config(coco), exported,
                                                progress=False)
  assert 0.0 <= evaluated["AP"] <= 100.0
  other = _config(coco)
  other.model = config_lib.base_config("pose_2d").model   # vitpose_b
  with pytest.raises(ValueError, match="holds a vitpose_tiny but the config names "
                                       "model.name = 'vitpose_b'"):
    evaluator_lib.evaluate_checkpoint(other, exported, progress=False)


def test_config_errors_name_the_key():
  c = config_lib.base_config("pose_2d", model="glsmamba_tiny")
  c.task.protocol = "posetrack"
  with pytest.raises(ValueError) as e:
    config_lib.validate(c)
  assert "task.protocol = 'posetrack': must be one of ('coco',)" in str(e.value)
  c = config_lib.base_config("pose_2d")
  assert (c.optimizer.layer_decay, c.num_epochs, tuple(c.optimizer.step_epochs)) == (
      0.75, 210, (170, 200))
  c.model.name = "glsmamba_tiny"
  with pytest.raises(ValueError, match="task pose_2d trains an image model"):
    config_lib.validate(c)
