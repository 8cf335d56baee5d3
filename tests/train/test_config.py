"""Configs: every shipped config resolves and validates; bad keys and values are named."""

import importlib.util
import json
import pathlib

import pytest

from sasmamba_jax.train import config as config_lib
from tests.helpers import load_config

CONFIGS = pathlib.Path(__file__).resolve().parents[2] / "configs"

SHIPPED = [("h36m_sasmamba.py", None), ("h36m_sasmamba.py", "gt"),
           ("h36m_posemamba.py", "s"), ("h36m_posemamba.py", "b"),
           ("h36m_posemamba.py", "l"), ("h36m_posemamba.py", "x"),
           ("h36m_posemamba.py", "l,gt"), ("mpi_inf_3dhp_sasmamba.py", None),
           ("mpi_inf_3dhp_sasmamba.py", "81"), ("synthetic_sasmamba.py", None),
           ("synthetic_sasmamba.py", "smoke"),
           ("synthetic_mlp_baseline.py", None),
           ("posetrack17_glsmamba.py", "b"), ("posetrack17_glsmamba.py", "h"),
           ("posetrack18_glsmamba.py", "b"), ("posetrack18_glsmamba.py", "h"),
           ("posetrack21_glsmamba.py", "b"), ("posetrack21_glsmamba.py", "h"),
           ("sub_jhmdb_glsmamba.py", "1"), ("sub_jhmdb_glsmamba.py", "2"),
           ("sub_jhmdb_glsmamba.py", "3"), ("synthetic_glsmamba.py", None),
           ("synthetic_glsmamba.py", "smoke"), ("synthetic_glsmamba.py", "1frame"),
           ("synthetic_glsmamba.py", "1frame_smoke"), ("synthetic_vitpose_baseline.py", None),
           ("synthetic_vitpose_baseline.py", "backbone"),
           ("synthetic_vitpose_baseline.py", "smoke"),
           ("synthetic_vitpose_baseline.py", "backbone_smoke"),
           ("coco_vitpose.py", "s"), ("coco_vitpose.py", "b"), ("coco_vitpose.py", "l"),
           ("coco_vitpose.py", "h")]




@pytest.mark.parametrize("name,arg", SHIPPED)
def test_shipped_configs_validate(name, arg):
  cfg = config_lib.validate(load_config(name, arg))
  assert cfg.model.name
  doc = (CONFIGS / name).read_text().split('"""')[1]
  assert "python -m experiments.train" in doc and "xpected" in doc


def test_recipes_match_the_reference():
  sas = load_config("h36m_sasmamba.py")
  assert (sas.optimizer.learning_rate, sas.batch_size, sas.num_epochs) == (5e-4, 16, 300)
  loss = sas.task.loss
  assert (loss.mpjpe, loss.n_mpjpe, loss.velocity) == (1.0, 0.5, 20.0)
  # The official loop stops once 40 evaluations without improvement are exceeded.
  assert loss.temporal_consistency == 0 and sas.early_stop_patience == 41
  assert (sas.optimizer.weight_decay, sas.optimizer.no_weight_decay,
          sas.optimizer.amsgrad, sas.optimizer.grad_clip_norm) == (0.01, (), False, 0)
  pm = load_config("h36m_posemamba.py", "l")
  assert pm.model.name == "posemamba_l" and pm.optimizer.learning_rate == 2e-4
  assert pm.task.loss.temporal_consistency == 0.5 and pm.num_epochs == 120
  assert pm.early_stop_patience == 0 and pm.batch_size == 4
  mpi = load_config("mpi_inf_3dhp_sasmamba.py")
  assert mpi.task.constant_confidence and mpi.model.num_frames == 27
  # Its loop uses torch.optim.Adam(amsgrad=True) without weight decay.
  assert (mpi.optimizer.amsgrad, mpi.optimizer.weight_decay,
          mpi.early_stop_patience) == (True, 0.0, 41)
  assert load_config("synthetic_mlp_baseline.py").num_epochs == load_config(
      "synthetic_sasmamba.py").num_epochs
  # GLSMamba (the paper): AdamW 1e-4, x0.1 at epochs 6 and 12, 20 epochs,
  # T = 5, the ViTPose backbone frozen and loaded from an official file.
  for name, arg in (("posetrack18_glsmamba.py", "b"), ("posetrack17_glsmamba.py", "h"),
                    ("posetrack21_glsmamba.py", "b"), ("sub_jhmdb_glsmamba.py", "2")):
    g = load_config(name, arg)
    o = g.optimizer
    assert (o.learning_rate, o.schedule, tuple(o.step_epochs), o.step_factor,
            g.num_epochs) == (1e-4, "step", (6, 12), 0.1, 20)
    assert o.freeze == ("^backbone/",) and g.task.backbone.checkpoint.endswith(".pth")
    assert g.task.input_size == (192, 256) and g.task.flip_test
  assert load_config("posetrack17_glsmamba.py", "h").task.backbone.name == "vitpose_h"
  assert load_config("sub_jhmdb_glsmamba.py", "3").dataset.name == "sub_jhmdb/split3"
  # The video quickstart: the baseline's head and GLSMamba get the same steps.
  base, video = load_config("synthetic_vitpose_baseline.py"), load_config(
      "synthetic_glsmamba.py")
  one = load_config("synthetic_glsmamba.py", "1frame")
  for key in ("max_steps", "batch_size"):
    assert base[key] == video[key] == one[key]
  assert base.optimizer.freeze == video.optimizer.freeze == ("^backbone/",)
  # The T = 1 ablation differs from GLSMamba in the frames alone.
  assert (video.model.num_frames, one.model.num_frames) == (5, 1)
  one.model.num_frames = 5
  assert one.to_dict() == video.to_dict()


@pytest.mark.parametrize("name,arg", [("h36m_posemamba.py", "m"),
                                      ("h36m_sasmamba.py", "cpn,x"),
                                      ("mpi_inf_3dhp_sasmamba.py", "30"),
                                      ("posetrack18_glsmamba.py", "l"),
                                      ("sub_jhmdb_glsmamba.py", "4"),
                                      ("synthetic_glsmamba.py", "big"),
                                      ("coco_vitpose.py", "g")])
def test_bad_config_arguments(name, arg):
  with pytest.raises(ValueError, match="takes"):
    load_config(name, arg)


def test_unknown_key_is_named():
  cfg = config_lib.base_config("lifting_3d")
  cfg.optimizer.lerning_rate = 1e-3
  with pytest.raises(ValueError, match=r"unknown config key\(s\): optimizer.lerning_rate"):
    config_lib.validate(cfg)


@pytest.mark.parametrize("path,value,message", [
    ("batch_size", 0, "batch_size = 0: must be >= 1"),
    ("optimizer.learning_rate", -1.0, "optimizer.learning_rate = -1.0: must be > 0"),
    ("mesh.param_sharding", "zero3", "mesh.param_sharding = 'zero3': must be one of"),
    ("task.protocol", "coco", "task.protocol = 'coco'"),
    ("task.skeleton", "smpl", "task.skeleton = 'smpl'"),
    ("optimizer.schedule", "linear", "optimizer.schedule = 'linear'"),
    ("optimizer.layer_decay", 0.0, "optimizer.layer_decay = 0.0"),
    ("optimizer.freeze", ("(",), "not a regular expression"),
    ("dataset.num_workers", -1, "dataset.num_workers = -1"),
    ("model.name", "resnet", "model.name = 'resnet': must be a registered model"),
    ("compute_dtype", "float8", "compute_dtype = 'float8'"),
    ("optimizer.lr_decay_per_epoch", 1.5, "must be in \\(0, 1\\]"),
    ("num_epochs", "ten", "num_epochs = 'ten': expected int"),
    ("mesh.data", 0, "mesh.data = 0"),
])
def test_invalid_values_are_named(path, value, message):
  cfg = config_lib.base_config("lifting_3d")
  *parents, leaf = path.split(".")
  node = cfg
  for p in parents:
    node = node[p]
  with node.ignore_type():
    node[leaf] = value
  with pytest.raises(ValueError, match=message):
    config_lib.validate(cfg)


def test_all_losses_zero_is_rejected():
  cfg = config_lib.base_config("lifting_3d")
  for k in cfg.task.loss:
    cfg.task.loss[k] = 0.0
  with pytest.raises(ValueError, match="at least one loss weight must be positive"):
    config_lib.validate(cfg)


def test_validated_config_is_locked():
  cfg = config_lib.validate(config_lib.base_config("lifting_3d"))
  with pytest.raises(AttributeError):
    cfg.not_a_key = 1


def test_unknown_task_is_named():
  with pytest.raises(ValueError, match="unknown task 'pose_3d'; registered: lifting_3d"):
    config_lib.base_config("pose_3d")
  cfg = config_lib.base_config("lifting_3d")
  with cfg.ignore_type():
    cfg.task = "lifting_3d"  # The old flat form of the key.
  with pytest.raises(ValueError, match="config.task must be a section"):
    config_lib.validate(cfg)


def test_trainer_config_holds_no_task_names():
  # The trainer's own module names no task family, protocol or loss.
  text = (pathlib.Path(config_lib.__file__)).read_text()
  for word in ("lifting", "h36m", "protocol", "mpjpe", "PROTOCOLS", "skeleton"):
    assert word not in text, word


def test_a_run_saved_before_a_key_existed_still_loads_and_resumes(tmp_path):
  """Keys added to the library later take their defaults in an older run's config."""
  cfg = config_lib.base_config("pose_2d_video")
  saved = json.loads(cfg.to_json_best_effort())
  del saved["task"]["model_keypoints"]          # a run saved before the key existed
  (tmp_path / "config.json").write_text(json.dumps(saved))
  loaded = config_lib.load_saved(tmp_path / "config.json")
  assert loaded.task.model_keypoints == "dataset"
  config_lib.validate(loaded)
  assert config_lib.resume_changes(saved, cfg) == ([], [])
  saved["task"]["codec"]["sigma"] = 3.0         # a real change is still reported
  assert config_lib.resume_changes(saved, cfg)[1] == ["task.codec.sigma: 3.0 -> 2.0"]
  # Keys that moved since keep their values: task.sigma / dark_kernel -> task.codec.
  old = json.loads(cfg.to_json_best_effort())
  del old["task"]["codec"]
  old["task"].update(sigma=1.0, dark_kernel=3)
  (tmp_path / "config.json").write_text(json.dumps(old))
  loaded = config_lib.validate(config_lib.load_saved(tmp_path / "config.json"))
  assert (loaded.task.codec.sigma, loaded.task.codec.dark_kernel,
          loaded.task.codec.udp) == (1.0, 3, True)
  assert "sigma" not in loaded.task


def test_model_options_are_typed_and_checked_before_anything_is_built():
  cfg = config_lib.base_config("lifting_3d")
  assert cfg.model.name == "sasmamba" and cfg.model.dim is None   # the default
  assert cfg.model.get_type("dim") is int and cfg.model.get_type("joint_gathers") is tuple
  cfg.model.dim = 0
  with pytest.raises(ValueError, match=r"model.name = 'sasmamba' with options "
                                       r"\(dim=0\): LifterConfig: dim must be"):
    config_lib.validate(cfg)
  cfg = config_lib.base_config("lifting_3d")
  cfg.model.dimm = 16
  with pytest.raises(ValueError, match=r"model.dimm \(did you mean model.dim\?\)"):
    config_lib.validate(cfg)
  # Another family's model: the section takes its keys, the options set are kept.
  cfg = config_lib.base_config("pose_2d_video")
  cfg.model.name, cfg.optimizer.freeze = "vitpose_tiny", ()
  cfg.task.backbone.name = "vitpose_tiny"
  cfg.model.embed_dim = 64
  cfg = config_lib.validate(cfg)
  assert cfg.model.embed_dim == 64 and "routes" not in cfg.model
  assert config_lib.base_config("lifting_3d", model="mlp_baseline").model.width is None


def test_a_run_saved_with_model_kwargs_loads_validates_and_resumes(tmp_path):
  """The free-form ``model.kwargs`` of earlier versions become typed options."""
  cfg = config_lib.base_config("pose_2d_video", model="glsmamba_tiny")
  cfg.model.num_frames, cfg.model.routes = 1, ("time",)
  old = json.loads(cfg.to_json_best_effort())
  old["model"] = {"name": "glsmamba_tiny",
                  "kwargs": {"num_frames": 1, "routes": ["time"], "stmm_groups": 1}}
  (tmp_path / "config.json").write_text(json.dumps(old))
  loaded = config_lib.validate(config_lib.load_saved(tmp_path / "config.json"))
  assert loaded.model.num_frames == 1 and loaded.model.routes == ("time",)
  assert "kwargs" not in loaded.model and "stmm_groups" not in loaded.model
  assert config_lib.resume_changes(old, cfg)[1] == ["model.stmm_groups: 1 -> '<absent>'"]
  del old["model"]["kwargs"]["stmm_groups"]
  assert config_lib.resume_changes(old, cfg) == ([], [])
  # A retired option at another value than the model's: said, not silently dropped.
  old["model"]["kwargs"]["stmm_groups"] = 4
  (tmp_path / "config.json").write_text(json.dumps(old))
  with pytest.raises(ValueError, match="stmm_groups = 4 is no longer supported"):
    config_lib.validate(config_lib.load_saved(tmp_path / "config.json"))
