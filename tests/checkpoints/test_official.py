"""load_official / to_official and the torch-free checkpoint reader."""

import os
import pathlib
import pickle
import shutil
import zipfile

import numpy as np
import pytest

from sasmamba_jax import models
from sasmamba_jax.checkpoints import CheckpointError
from sasmamba_jax.checkpoints import UnsafeCheckpointError
from sasmamba_jax.checkpoints import infer_config
from sasmamba_jax.checkpoints import load_official
from sasmamba_jax.checkpoints import read_state_dict
from sasmamba_jax.checkpoints import read_torch_file
from sasmamba_jax.checkpoints import to_official

DATA = pathlib.Path(__file__).resolve().parent / "data"


def _official(name):
  with np.load(DATA / f"{name}_official.npz") as f:
    return {k: f[k] for k in f.files}


def _assert_same_state(a, b):
  assert set(a) == set(b)
  for k in a:
    np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_reads_a_real_torch_checkpoint_with_module_prefix():
  """posemamba_tiny.pth was written by torch.save (make_test_files.py): the dict the
  official trainer saves, with optimizer state and DataParallel 'module.' keys."""
  raw = read_torch_file(DATA / "posemamba_tiny.pth")
  assert raw["epoch"] == 7 and raw["min_loss"] == 43.25
  assert all(k.startswith("module.") for k in raw["model_pos"])
  assert set(raw["optimizer"]["state"][0]) == {"step", "exp_avg", "exp_avg_sq"}
  model = load_official(DATA / "posemamba_tiny.pth")
  assert model.config.family == "posemamba" and model.config.conv_type == "conv"
  assert (model.config.dim, model.config.depth, model.config.num_frames) == (4, 2, 5)
  _assert_same_state(to_official(model), _official("posemamba_tiny"))


def test_reads_the_unpacked_archive_folder():
  folder = DATA / "sasmamba_tiny_unpacked"
  for path in (folder / "best_epoch", folder):  # The folder or its parent.
    model = load_official(path)
    assert model.config.family == "sasmamba" and model.config.conv_type == "deform"
    _assert_same_state(to_official(model), _official("sasmamba_tiny"))
  assert isinstance(read_torch_file(folder)["min_mpjpe"], np.float64)


def test_tensor_dtypes_views_and_shared_storages_match_torch_load():
  """tensors_expected.npz holds what torch.load(weights_only=True) returned."""
  got = read_torch_file(DATA / "tensors.pth")
  with np.load(DATA / "tensors_expected.npz") as f:
    expected = {k: f[k] for k in f.files}
  assert set(got["tensors"]) == set(expected)
  for k, want in expected.items():
    have = got["tensors"][k]
    assert have.shape == want.shape, k
    if k != "bf16":
      assert have.dtype == want.dtype, k
    np.testing.assert_array_equal(np.asarray(have, want.dtype), want, err_msg=k)
  assert str(got["tensors"]["bf16"].dtype) == "bfloat16"
  assert got["meta"] == {"step": 3, "name": "x", "flags": (1, 2.0)}


def test_matches_torch_load_when_torch_is_installed(tmp_path):
  torch = pytest.importorskip("torch", reason="optional: torch is not a dependency")
  state = {"a": torch.randn(3, 4).t(), "b": torch.arange(5).half(), "c": torch.ones(2)}
  torch.save({"model": state}, tmp_path / "x.pth")
  ours = read_torch_file(tmp_path / "x.pth")["model"]
  theirs = torch.load(tmp_path / "x.pth", weights_only=True)["model"]
  for k in state:
    np.testing.assert_array_equal(ours[k], theirs[k].numpy())


def test_round_trip_and_npz_and_mapping_sources(tmp_path):
  model = models.create("sasmamba", dim=4, depth=2, num_frames=5, seed=4)
  state = to_official(model)
  again = load_official(state)
  _assert_same_state(to_official(again), state)
  np.savez(tmp_path / "sd.npz", **state)
  _assert_same_state(to_official(load_official(tmp_path / "sd.npz")), state)
  wrapped = {"model": {f"module.{k}": v for k, v in state.items()}, "epoch": 1}
  _assert_same_state(to_official(load_official(wrapped)), state)
  # Layouts: PyTorch Linear (out, in) and Conv2d OIHW.
  assert state["head.1.weight"].shape == (3, 4)
  assert state["STEblocks.0.op.conv2d.dcn.weight"].shape == (8, 1, 3, 3)
  assert state["STEblocks.0.op.conv2d.offset_conv.weight"].shape == (18, 8, 3, 3)
  np.testing.assert_array_equal(state["head.1.weight"],
                                np.asarray(model.head.kernel[...]).T)


def test_infers_the_architecture_and_applies_overrides():
  state = _official("posemamba_tiny")
  cfg = infer_config(state, dtype="bfloat16", official_gradients=False)
  assert (cfg.dim, cfg.depth, cfg.mlp_ratio, cfg.d_state, cfg.conv_kernel) == (
      4, 2, 2.0, 16, 3)
  assert cfg.dtype == "bfloat16" and not cfg.official_gradients
  model = load_official(state, drop_path_rate=0.1, impl="sequential")
  assert model.config.impl == "sequential"
  assert model.spatial_blocks[0].drop_path.deterministic  # Returned in eval mode.


def test_missing_unexpected_and_wrong_shape_are_named():
  state = _official("sasmamba_tiny")
  missing = dict(state)
  del missing["TTEblocks.1.mlp.fc2.bias"]
  with pytest.raises(CheckpointError,
                     match=r"missing keys.*TTEblocks\.1\.mlp\.fc2\.bias"):
    load_official(missing)
  extra = {**state, "STEblocks.0.op.extra": np.zeros(3, np.float32)}
  with pytest.raises(CheckpointError, match=r"unexpected keys.*STEblocks\.0\.op\.extra"):
    load_official(extra)
  load_official(extra, strict=False)
  wrong = {**state, "head.1.weight": np.zeros((3, 5), np.float32)}
  with pytest.raises(CheckpointError,
                     match=r"head\.1\.weight \(3, 5\) \(expected \(3, 4\)\)"):
    load_official(wrong)
  with pytest.raises(CheckpointError,
                     match="missing key 'Spatial_patch_to_embedding.weight'"):
    load_official({"foo": np.zeros(3)})
  ints = {**state, "head.1.bias": np.zeros(3, np.int64)}
  with pytest.raises(CheckpointError, match="dtype int64"):
    load_official(ints)
  gap = {k: v for k, v in state.items() if not k.startswith("STEblocks.0.")}
  with pytest.raises(CheckpointError, match="numbered"):
    load_official(gap)
  pose = _official("posemamba_tiny")
  j15 = {**pose, "Spatial_pos_embed": np.zeros((1, 15, 4), np.float32)}
  with pytest.raises(CheckpointError, match="joint_gathers"):
    load_official(j15)


class _RunsCode:
  def __init__(self, marker):
    self.marker = marker

  def __reduce__(self):
    return (os.system, (f"touch {self.marker}",))


def _torch_like_zip(path, payload: bytes):
  with zipfile.ZipFile(path, "w") as zf:
    zf.writestr("archive/data.pkl", payload)
    zf.writestr("archive/byteorder", "little")
    zf.writestr("archive/version", "3\n")


def test_refuses_pickles_that_run_code(tmp_path):
  marker = tmp_path / "pwned"
  payload = pickle.dumps({"model_pos": {"a": _RunsCode(marker)}}, protocol=2)
  _torch_like_zip(tmp_path / "evil.pth", payload)
  with pytest.raises(UnsafeCheckpointError,
                     match=r"refusing to load the global (posix|os)\.system"):
    load_official(tmp_path / "evil.pth")
  folder = tmp_path / "evil_folder"
  (folder / "data").mkdir(parents=True)
  (folder / "data.pkl").write_bytes(payload)
  with pytest.raises(UnsafeCheckpointError):
    read_torch_file(folder)
  builtin = pickle.dumps(getattr, protocol=4)  # Any global outside the list.
  _torch_like_zip(tmp_path / "getattr.pth", builtin)
  with pytest.raises(UnsafeCheckpointError, match="builtins.getattr"):
    read_torch_file(tmp_path / "getattr.pth")
  assert not marker.exists()


def test_corrupt_and_foreign_files(tmp_path):
  good = (DATA / "posemamba_tiny.pth").read_bytes()
  (tmp_path / "truncated.pth").write_bytes(good[: len(good) // 2])
  with pytest.raises(CheckpointError, match="truncated or corrupt zip"):
    load_official(tmp_path / "truncated.pth")
  (tmp_path / "noise.pth").write_bytes(np.random.RandomState(0).bytes(1000))
  with pytest.raises(CheckpointError, match="not a torch zip"):
    load_official(tmp_path / "noise.pth")
  (tmp_path / "legacy.pt").write_bytes(pickle.dumps({"a": 1}, protocol=2))
  with pytest.raises(CheckpointError, match="legacy"):
    load_official(tmp_path / "legacy.pt")
  _torch_like_zip(tmp_path / "badpickle.pth", b"\x80\x02}q\x00(X")
  with pytest.raises(CheckpointError, match="corrupt pickle"):
    read_torch_file(tmp_path / "badpickle.pth")
  folder = tmp_path / "no_storage"
  shutil.copytree(DATA / "sasmamba_tiny_unpacked" / "best_epoch", folder)
  (folder / "data" / "0").unlink()
  with pytest.raises(CheckpointError, match="storage data/0 is missing"):
    read_torch_file(folder)
  np.savez(tmp_path / "obj.npz", a=np.array([{"a": 1}], dtype=object))
  with pytest.raises(CheckpointError, match="unreadable .npz"):
    load_official(tmp_path / "obj.npz")
  npz = (DATA / "sasmamba_tiny_official.npz").read_bytes()
  (tmp_path / "cut.npz").write_bytes(npz[: len(npz) // 2])
  with pytest.raises(CheckpointError, match=r"cut.npz: unreadable .npz \(File is not "
                                            r"a zip file\); download or convert"):
    load_official(tmp_path / "cut.npz")
  # A folder of tensors that are not an official state dict: the file is named.
  (tmp_path / "hf").mkdir()
  from safetensors.numpy import save_file  # pylint: disable=g-import-not-at-top
  save_file({"a/b": np.zeros(3, np.float32)}, str(tmp_path / "hf" / "model.safetensors"))
  with pytest.raises(CheckpointError, match=r"hf: not a PoseMamba, SasMamba or ViTPose "
                                            r"state dict: missing key"):
    load_official(tmp_path / "hf")
  with pytest.raises(FileNotFoundError):
    load_official(tmp_path / "absent.pth")
  with pytest.raises(TypeError, match="path or a mapping"):
    load_official(3)
  assert read_state_dict({"module.a": 1, "module.b": 2}) == {"a": 1, "b": 2}
  with pytest.raises(TypeError, match="MambaLifter"):
    to_official(models.create("mlp_baseline", width=8))
