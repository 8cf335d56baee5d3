"""The video 2D pose task: config checks, loss, decoding, feature cache, training."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from flax import nnx

from sasmamba_jax import datasets
from sasmamba_jax import evaluation
from sasmamba_jax import models
from sasmamba_jax import skeletons
from sasmamba_jax import tasks
from sasmamba_jax.checkpoints import pretrained
from sasmamba_jax.datasets import pipeline
from sasmamba_jax.models.video_pose import VideoPoseModel
from sasmamba_jax.tasks import topdown_2d
from sasmamba_jax.tasks.pose_2d_video import cache as cache_lib
from sasmamba_jax.train import config as config_lib
from sasmamba_jax.train import evaluator as evaluator_lib
from sasmamba_jax.train import trainer
from tests.tasks.oracle import HeatmapOracle


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
  data_dir = tmp_path_factory.mktemp("tfds")
  datasets.prepare("synthetic_video_pose/tiny", data_dir=data_dir)
  return data_dir


def _config(data_dir, model="glsmamba_tiny", **task):
  c = config_lib.base_config("pose_2d_video")
  c.dataset.name = "synthetic_video_pose/tiny"
  c.dataset.data_dir = str(data_dir)
  c.model.name = model
  c.task.backbone.name = "vitpose_tiny"
  c.task.input_size = (48, 64)
  c.task.codec.dark_kernel = 3
  for k, v in task.items():
    c.task[k] = v
  if model == "vitpose_tiny":
    c.optimizer.freeze = ()
  c.batch_size = c.eval_batch_size = 4
  c.max_steps = 2
  c.num_epochs = 2
  c.eval_every_steps = 2
  c.progress_bar = False
  return c


def test_config_errors_name_the_key_and_the_fix(tiny):
  c = _config(tiny, protocol="coco", input_size=(50, 64))
  with pytest.raises(ValueError) as e:
    config_lib.validate(c)
  assert "task.protocol = 'coco'" in str(e.value)
  assert "task.input_size = (50, 64): must be (width, height), multiples" in str(e.value)
  c = _config(tiny)
  c.optimizer.freeze = ()
  with pytest.raises(ValueError, match=r"video model's ViTPose is frozen; include "
                     r"'\^backbone/'"):
    config_lib.validate(c)
  c = _config(tiny, model="vitpose_tiny", cache_features=True)
  with pytest.raises(ValueError, match="cache_features = True: features can only"):
    config_lib.validate(c)
  c = _config(tiny, cache_features=True)   # flip_test on by default
  with pytest.raises(ValueError, match="flip_test = True: the flip test needs"):
    config_lib.validate(c)
  c = _config(tiny, model="vitpose_s")
  with pytest.raises(ValueError, match="a ViTPose model is its own backbone"):
    config_lib.validate(c)
  c = _config(tiny, model="sasmamba")
  with pytest.raises(ValueError, match="task pose_2d_video trains a ViTPose"):
    config_lib.validate(c)
  # The family's defaults: the paper's recipe with the backbone frozen.
  base = config_lib.base_config("pose_2d_video")
  assert base.optimizer.freeze == ("^backbone/",) and base.num_epochs == 20
  assert tuple(base.optimizer.step_epochs) == (6, 12) and base.model.name == "glsmamba_b"


def test_heatmap_mse_is_the_weighted_mean_square():
  rng = np.random.default_rng(0)
  pred, target = rng.normal(size=(2, 4, 3, 5)), rng.normal(size=(2, 4, 3, 5))
  weight = np.array([[1, 0, 1, 1, 0], [1, 1, 1, 1, 1]], np.float32)
  expected = 0.5 * np.mean(((pred - target) * weight[:, None, None, :]) ** 2)
  np.testing.assert_allclose(float(topdown_2d.heatmap_mse(pred, target, weight)),
                             expected, rtol=1e-6)
  np.testing.assert_allclose(float(topdown_2d.heatmap_mse(pred, target)),
                             0.5 * np.mean((pred - target) ** 2), rtol=1e-6)


@pytest.mark.parametrize("flip_test", [False, True])
def test_target_heatmaps_decode_to_the_ground_truth(tiny, flip_test):
  """Targets -> predict (decoding, crop -> image) -> PoseTrack mAP of 100."""
  c = _config(tiny, model="vitpose_tiny", flip_test=flip_test)
  task = tasks.create(config_lib.validate(c).task)
  bound = task.bind(task.build_model(c.model, rngs=nnx.Rngs(0), dtype="float32"))
  (split,) = datasets.config.load_splits(c.dataset, ["val"])
  evaluator = bound.make_evaluator(split)
  assert isinstance(evaluator, evaluation.PoseTrackEvaluator)
  oracle = HeatmapOracle(task.flip_permutation)
  keys = tuple(bound.batch_spec(1)) + ("image_id",)
  for batch in pipeline.make_eval_iterator(
      split.examples, batch_size=4, transforms=bound.eval_transforms(split), keys=keys):
    oracle.batch = batch
    pred = np.asarray(bound.predict(oracle, {k: jnp.asarray(batch[k]) for k in
                                             bound.batch_spec(1)}))
    mask = batch["mask"]
    evaluator.update(pred[mask], {"image_id": batch["image_id"][mask]})
  result = evaluator.result()
  assert result["Total"] == pytest.approx(100.0), result


def test_a_coco_vitpose_is_scored_in_posetrack_slots(tiny, tmp_path):
  """task.model_keypoints = 'coco': COCO flip pairs, eyes -> head points, eval only."""
  preds, tasks_ = {}, {}
  for layout in ("dataset", "coco"):
    c = _config(tiny, model="vitpose_tiny", flip_test=True, model_keypoints=layout)
    task = tasks_[layout] = tasks.create(config_lib.validate(c).task)
    bound = task.bind(task.build_model(c.model, rngs=nnx.Rngs(0), dtype="float32"))
    (split,) = datasets.config.load_splits(c.dataset, ["val"])
    keys = tuple(bound.batch_spec(1)) + ("image_id",)
    batch = next(iter(pipeline.make_eval_iterator(
        split.examples, batch_size=4, transforms=bound.eval_transforms(split),
        keys=keys)))
    oracle = HeatmapOracle(task.flip_permutation)
    oracle.batch = batch
    preds[layout] = np.asarray(bound.predict(oracle, {
        k: jnp.asarray(batch[k]) for k in bound.batch_spec(1)}))
  coco_task = tasks_["coco"]
  assert tuple(coco_task.flip_permutation[:3]) == (0, 2, 1)   # the eyes swap
  assert tuple(tasks_["dataset"].flip_permutation[:3]) == (0, 1, 2)
  np.testing.assert_allclose(preds["coco"],
                             np.asarray(skeletons.coco_to_posetrack(preds["dataset"])),
                             rtol=1e-5, atol=1e-4)
  with pytest.raises(ValueError, match="training needs the dataset's keypoints"):
    coco_task.bind(models.create("vitpose_tiny")).loss(None, {})
  # experiments.evaluate's path for a ViTPose that is not a run of ours.
  vit = models.create("vitpose_tiny", image_size=(64, 48), rngs=nnx.Rngs(3))
  pretrained.save_pretrained(vit, tmp_path / "coco_vitpose")
  c = _config(tiny, model="vitpose_tiny", flip_test=True, model_keypoints="coco")
  result = evaluator_lib.evaluate_checkpoint(c, tmp_path / "coco_vitpose",
                                             progress=False)
  assert np.isfinite(result["Total"]) and result["predictions"]
  c = _config(tiny, model_keypoints="coco", flip_test=False)
  with pytest.raises(ValueError, match="only a ViTPose .* predicts COCO keypoints"):
    config_lib.validate(c)
  c = _config(tiny, model="vitpose_tiny", model_keypoints="coco", protocol="sub_jhmdb")
  with pytest.raises(ValueError, match="map onto PoseTrack's slots only"):
    config_lib.validate(c)


def test_a_one_frame_video_head_reads_the_centre_frame(tiny):
  """GLSMamba with T = 1 (the paper's per-frame ablation) on clips of T = 3."""
  c = _config(tiny, flip_test=False)
  c.model.num_frames = 1
  task = tasks.create(config_lib.validate(c).task)
  model = task.build_model(c.model, rngs=nnx.Rngs(0), dtype="float32")
  bound = task.bind(model)
  (split,) = datasets.config.load_splits(c.dataset, ["val"])
  (transform,) = bound.eval_transforms(split)
  example = transform.map(dict(split.examples[0]))
  clip = topdown_2d.crop_transform(task.config, bound.codec, task.skeleton, split,
                                   train=False, centre_only=False).map(
                                       dict(split.examples[0]))["images"]
  assert example["images"].shape[0] == 1 and clip.shape[0] == 3
  np.testing.assert_array_equal(example["images"][0], clip[1])
  spec = bound.batch_spec(2)
  assert spec["images"].shape == (2, *example["images"].shape)
  heatmaps = nnx.jit(lambda m, x: m(x))(model, jnp.asarray(example["images"][None]))
  assert heatmaps.shape == (1, *example["heatmaps"].shape)


def test_cache_rebuilds_when_the_backbone_changes(tiny, tmp_path):
  c = _config(tiny, cache_features=True, flip_test=False,
              cache_dir=str(tmp_path / "cache"))
  trainer.Trainer(c, tmp_path / "a")
  before = np.load(tmp_path / "cache" / "train" / "features.npy")
  c = _config(tiny, cache_features=True, flip_test=False,
              cache_dir=str(tmp_path / "cache"))
  c.seed = 1   # another random backbone
  trainer.Trainer(c, tmp_path / "b")
  after = np.load(tmp_path / "cache" / "train" / "features.npy")
  assert before.shape == after.shape and not np.array_equal(before, after)


def test_baseline_on_an_exported_backbone_trains_only_its_head(tiny, tmp_path):
  vit = models.create("vitpose_tiny", image_size=(64, 48), rngs=nnx.Rngs(3))
  pretrained.save_pretrained(vit, tmp_path / "backbone")
  c = _config(tiny, model="vitpose_tiny")
  c.optimizer.freeze = ("^backbone/",)
  c.task.backbone.checkpoint = str(tmp_path / "backbone")
  run = trainer.Trainer(c, tmp_path / "run")
  frozen = run.state["frozen"]
  before = nnx.state(vit.backbone, nnx.Param)
  np.testing.assert_array_equal(
      np.asarray(frozen["backbone"]["patch_embed"]["kernel"][...]),
      np.asarray(before["patch_embed"]["kernel"][...]))
  result = run.run()
  assert np.isfinite(result["Total"])
  c.task.backbone.checkpoint = str(tmp_path / "missing")
  with pytest.raises(FileNotFoundError, match="github.com/ViTAE-Transformer/ViTPose"):
    trainer.Trainer(c, tmp_path / "run2")


def test_video_model_checks_its_parts():
  vit = models.create("vitpose_tiny", rngs=nnx.Rngs(0))
  head = models.create("glsmamba_tiny", in_channels=16, rngs=nnx.Rngs(0))
  with pytest.raises(ValueError, match="in_channels=32"):
    VideoPoseModel(vit, head)
  head = models.create("glsmamba_tiny", rngs=nnx.Rngs(0))
  model = VideoPoseModel(vit, head)
  assert model.backbone.config.frozen
  clips = jnp.zeros((2, 3, 64, 48, 3))
  # One compiled call (eager GLSMamba is slow): the whole forward and its two halves.
  out, split = nnx.jit(lambda m, x: (m(x), m.from_features(m.features(x))))(model,
                                                                           clips)
  assert out.shape == (2, 16, 12, 5)
  np.testing.assert_allclose(np.asarray(split), np.asarray(out), atol=1e-6)
  with pytest.raises(ValueError, match=r"expected clips \(B, T, H, W, 3\)"):
    model(jnp.zeros((2, 64, 48, 3)))


@pytest.mark.slow
def test_cached_training_best_checkpoint_predictions_and_resume(tiny, tmp_path):
  """One run on cached features: eval files, best by mAP, predictions, cache, resume."""
  c = _config(tiny, cache_features=True, flip_test=False)
  c.max_steps, c.eval_every_steps = 4, 2
  c.optimizer.learning_rate = 3e-3
  run = tmp_path / "run"
  first = trainer.Trainer(c, run)
  # The frozen backbone has no optimizer state.
  assert "frozen" in first.state and first.num_frozen > 0
  assert all("backbone" not in str(p) for p in
             jax.tree_util.tree_flatten_with_path(first.state["params"])[0])
  result = first.run()
  assert {"Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle",
          "Total"} <= set(result)
  totals = {int(p.stem.split("_")[1]): json.loads(p.read_text())["Total"]
            for p in (run / "eval").glob("step_*.json")}
  assert sorted(totals) == [2, 4]
  best_step = max(sorted(totals), key=lambda s: (totals[s], -s))  # ties: the first
  assert result["Total"] == totals[best_step]
  (saved,) = [int(p.name) for p in (run / "best").iterdir() if p.name.isdigit()]
  assert saved == best_step
  assert (run / "tensorboard").is_dir()
  # experiments.evaluate's path: the crops (no cache), PoseTrack18 JSON beside.
  final = evaluator_lib.evaluate_checkpoint(c, run, progress=False)
  pred_dir = run / "eval" / "final_predictions"
  assert final["predictions"] == str(pred_dir) and sorted(pred_dir.glob("*.json"))
  (val,) = datasets.config.load_splits(c.dataset, ["val"])
  rescored = evaluation.evaluate_posetrack(val.ground_truth, pred_dir)
  assert rescored["Total"] == pytest.approx(final["Total"])
  assert abs(final["Total"] - result["Total"]) < 5.0   # float16 cache vs crops
  cache_dir = run / "feature_cache"
  example = cache_lib.FeatureCache(cache_dir / "train")[0]
  assert example["features"].shape == (3, 16, 12, 32)
  assert example["heatmaps"].shape == (16, 12, 17)
  stamp = (cache_dir / "train" / "fingerprint").stat().st_mtime_ns
  # Resuming with more steps continues after step 4; the same backbone reuses the
  # cache (no rewrite) and did not move.
  c.max_steps = 6
  resumed = trainer.Trainer(c, run)
  assert (cache_dir / "train" / "fingerprint").stat().st_mtime_ns == stamp
  before = jax.tree.leaves(first.state["frozen"])
  after = jax.tree.leaves(resumed.state["frozen"])
  assert all(np.array_equal(np.asarray(a), np.asarray(b))
             for a, b in zip(before, after))
  resumed.run()
  steps = [json.loads(line)["step"] for line in
           (run / "metrics.jsonl").read_text().splitlines()]
  assert max(steps) == 6 and steps.count(1) <= 1


def test_sub_jhmdb_protocol_scores_pck():
  cfg = tasks.get("pose_2d_video").default_config()
  cfg.protocol = "sub_jhmdb"
  task = tasks.create(cfg)
  assert (task.num_joints, task.primary_metric, task.higher_is_better) == (15, "Mean",
                                                                          True)
  vit = models.create_abstract("vitpose_tiny", num_keypoints=15)
  evaluator = task.bind(vit).make_evaluator(None)
  assert isinstance(evaluator, evaluation.SubJHMDBEvaluator)
  keypoints = np.zeros((1, 15, 3), np.float32)
  keypoints[0, :, :2] = np.arange(30).reshape(15, 2)
  keypoints[0, :, 2] = 1
  evaluator.update(keypoints, {"keypoints": keypoints,
                               "bbox": np.array([[0, 0, 50, 50]], np.float32)})
  result = evaluator.result()
  assert result["Mean"] == 100.0
  table = task.format_results(result)
  assert "Mean" in table and "100.0" in table
  # PoseTrack needs the split's ground truth; a source without it is named.
  with pytest.raises(ValueError, match="ground-truth files"):
    tasks.create(tasks.get("pose_2d_video").default_config()).bind(
        models.create_abstract("vitpose_tiny")).make_evaluator(None)
  with pytest.raises(ValueError, match="predicts 17 heatmaps but the sub_jhmdb data "
                                       "has 15 joints"):
    task.bind(models.create_abstract("vitpose_tiny"))
