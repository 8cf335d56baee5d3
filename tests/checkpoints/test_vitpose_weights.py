"""ViTPose weights: official / mmpose 1.x / Hugging Face layouts, files, errors.

Random tiny state dicts (numpy) stand for the released files; every layout must load
into the same model and ``to_official`` must give the official state dict back.
"""

import collections
import json
import pickle
import sys
import types
import zipfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from sasmamba_jax import checkpoints
from sasmamba_jax import models
from sasmamba_jax.checkpoints import CheckpointError
from sasmamba_jax.checkpoints import vitpose as vitpose_weights
from tests.helpers import vitpose_state_dict as random_state_dict

TINY = models.get_config("vitpose_tiny")
HEADS = dict(num_heads=TINY.num_heads)


@pytest.fixture(scope="module")
def official():
  return random_state_dict(TINY, seed=5)


def _assert_same(ours, ref):
  assert sorted(ours) == sorted(ref)
  for key in ref:
    assert ours[key].dtype == (np.int64 if key.endswith("num_batches_tracked")
                               else np.float32), key
    np.testing.assert_array_equal(ours[key], ref[key], err_msg=key)


def _mmpose1(state):
  out = {}
  for key, value in state.items():
    new = (key.replace("backbone.patch_embed.proj.", "backbone.patch_embed.projection.")
           .replace("backbone.blocks.", "backbone.layers.")
           .replace(".norm1.", ".ln1.").replace(".norm2.", ".ln2.")
           .replace(".mlp.fc1.", ".ffn.layers.0.0.").replace(".mlp.fc2.", ".ffn.layers.1.")
           .replace("backbone.last_norm.", "backbone.ln1.")
           .replace("keypoint_head.", "head."))
    out[new] = value
  out["backbone.pos_embed"] = state["backbone.pos_embed"][:, 1:]  # No class slot.
  return out


def _huggingface(state, width):
  out = {}
  for key, value in state.items():
    if ".attn.qkv." in key:
      i, kind = key.split(".")[2], key.split(".")[-1]
      for j, name in enumerate(("query", "key", "value")):
        out[f"backbone.encoder.layer.{i}.attention.attention.{name}.{kind}"] = (
            value[j * width:(j + 1) * width])
      continue
    new = (key.replace("backbone.patch_embed.proj.",
                       "backbone.embeddings.patch_embeddings.projection.")
           .replace("backbone.pos_embed", "backbone.embeddings.position_embeddings")
           .replace("backbone.blocks.", "backbone.encoder.layer.")
           .replace(".attn.proj.", ".attention.output.dense.")
           .replace(".norm1.", ".layernorm_before.").replace(".norm2.", ".layernorm_after.")
           .replace("backbone.last_norm.", "backbone.layernorm.")
           .replace("keypoint_head.deconv_layers.0.", "head.deconv1.")
           .replace("keypoint_head.deconv_layers.1.", "head.batchnorm1.")
           .replace("keypoint_head.deconv_layers.3.", "head.deconv2.")
           .replace("keypoint_head.deconv_layers.4.", "head.batchnorm2.")
           .replace("keypoint_head.final_layer.", "head.conv."))
    out[new] = value
  return out


def _write_torch_zip(path, obj, monkeypatch):
  """``torch.save(obj, path)`` for a dict of numpy arrays, without torch.

  The pickle names torch's rebuild function and storage classes; stand-ins are put
  in ``sys.modules`` only while pickling, so that pickle can name them.
  """
  torch = types.ModuleType("torch")
  utils = types.ModuleType("torch._utils")

  def _rebuild_tensor_v2(*args):
    raise AssertionError("never called")

  _rebuild_tensor_v2.__module__ = "torch._utils"
  _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
  utils._rebuild_tensor_v2 = _rebuild_tensor_v2
  storage_types = {}
  for dtype, name in ((np.float32, "FloatStorage"), (np.int64, "LongStorage")):
    cls = type(name, (), {"__module__": "torch"})
    setattr(torch, name, cls)
    storage_types[np.dtype(dtype)] = cls
  torch._utils = utils
  monkeypatch.setitem(sys.modules, "torch", torch)
  monkeypatch.setitem(sys.modules, "torch._utils", utils)
  buffers = []

  class Storage:
    def __init__(self, array):
      self.array, self.key = array, str(len(buffers))
      buffers.append(self)

  class Tensor:
    def __init__(self, array):
      self.array = np.array(array, order="C")  # (ascontiguousarray makes 0-d 1-d)

    def __reduce__(self):
      a = self.array
      stride = tuple(s // a.itemsize for s in a.strides)
      return (_rebuild_tensor_v2, (Storage(a), 0, a.shape, stride, False,
                                   collections.OrderedDict()))

  class Pickler(pickle.Pickler):
    def persistent_id(self, o):
      if isinstance(o, Storage):
        return ("storage", storage_types[o.array.dtype], o.key, "cpu", o.array.size)
      return None

  def wrap(o):
    if isinstance(o, dict):
      return collections.OrderedDict((k, wrap(v)) for k, v in o.items())
    return Tensor(np.asarray(o)) if isinstance(o, np.ndarray) else o

  data = __import__("io").BytesIO()
  Pickler(data, protocol=2).dump(wrap(obj))
  monkeypatch.delitem(sys.modules, "torch")
  monkeypatch.delitem(sys.modules, "torch._utils")
  with zipfile.ZipFile(path, "w") as zf:
    zf.writestr("archive/data.pkl", data.getvalue())
    zf.writestr("archive/byteorder", "little")
    zf.writestr("archive/version", "3\n")
    for s in buffers:
      zf.writestr(f"archive/data/{s.key}", s.array.tobytes())


def test_official_layout_round_trips_through_files(official, tmp_path, monkeypatch):
  model = checkpoints.load_official(official, **HEADS)
  assert model.config.image_size == (64, 48)  # 4 x 3 tokens: a 4 : 3 crop of 16 px.
  assert model.config.embed_dim == 32 and model.config.depth == 2
  _assert_same(checkpoints.to_official(model), official)
  # As released: a torch zip with a "state_dict" and "meta", multi-dataset extras.
  extra = {"backbone.cls_token": np.zeros((1, 1, 32), np.float32),
           "associate_heads.0.final_layer.weight": np.zeros((16, 32, 1, 1), np.float32)}
  path = tmp_path / "vitpose_tiny.pth"
  _write_torch_zip(path, {"meta": {"epoch": 210}, "state_dict": {**official, **extra}},
                   monkeypatch)
  _assert_same(checkpoints.to_official(checkpoints.load_official(path, **HEADS)), official)
  np.savez(tmp_path / "sd.npz", **official)
  _assert_same(checkpoints.to_official(
      checkpoints.load_official(tmp_path / "sd.npz", **HEADS)), official)
  _, ignored = vitpose_weights.to_official_names({**official, **extra})
  assert ignored == sorted(extra)


def test_mmpose1_layout_loads_with_a_zero_class_slot(official):
  model = checkpoints.load_official(_mmpose1(official), **HEADS)
  back = checkpoints.to_official(model)
  np.testing.assert_array_equal(back["backbone.pos_embed"][:, 0], 0.0)
  np.testing.assert_array_equal(back["backbone.pos_embed"][:, 1:],
                                official["backbone.pos_embed"][:, 1:])
  rest = {k: v for k, v in official.items() if k != "backbone.pos_embed"}
  _assert_same({k: back[k] for k in rest}, rest)


def test_huggingface_layout_from_safetensors_with_its_config(official, tmp_path):
  from safetensors.numpy import save_file  # pylint: disable=g-import-not-at-top
  hf = _huggingface(official, TINY.embed_dim)
  save_file(hf, str(tmp_path / "model.safetensors"))
  # Without config.json the heads of a non-released width must be given.
  with pytest.raises(CheckpointError, match=r"num_heads=N"):
    checkpoints.load_official(tmp_path / "model.safetensors")
  (tmp_path / "config.json").write_text(json.dumps(
      {"model_type": "vitpose", "backbone_config": {
          "num_attention_heads": TINY.num_heads, "image_size": [64, 48]}}))
  _assert_same(checkpoints.to_official(checkpoints.load_official(tmp_path)), official)


def test_released_widths_give_their_heads_and_crop():
  def shapes(name, **overrides):
    config = models.get_config(name, **overrides)
    return {k: jax.ShapeDtypeStruct(s, jnp.float32)
            for k, s in vitpose_weights.official_shapes(config).items()}
  b = checkpoints.infer_config(shapes("vitpose_b", depth=1))
  assert (b.embed_dim, b.num_heads, b.image_size, b.depth) == (768, 12, (256, 192), 1)
  h = checkpoints.infer_config(shapes("vitpose_h", depth=2, image_size=(384, 288)))
  assert (h.embed_dim, h.num_heads, h.image_size) == (1280, 16, (384, 288))


def test_bad_state_dicts_are_named(official):
  def load(state, **kw):
    return checkpoints.load_official(state, **{**HEADS, **kw})

  with pytest.raises(CheckpointError, match="num_heads=N"):
    checkpoints.load_official(official)
  with pytest.raises(CheckpointError, match=r"unexpected keys.*blocks\.0\.attn\.q_norm"):
    load({**official, "backbone.blocks.0.attn.q_norm.weight": np.zeros(16, np.float32)})
  with pytest.raises(CheckpointError, match=r"unexpected keys.*backbone\.layers\.0\.gamma"):
    load({**_mmpose1(official), "backbone.layers.0.gamma_1": np.zeros(32, np.float32)})
  state = dict(official)
  del state["backbone.blocks.1.mlp.fc2.bias"]
  with pytest.raises(CheckpointError, match=r"missing keys.*blocks\.1\.mlp\.fc2\.bias"):
    load(state)
  state = {**official, "keypoint_head.final_layer.bias": np.zeros(5, np.float32)}
  with pytest.raises(CheckpointError, match=r"wrong shapes.*final_layer\.bias"):
    load(state)
  state = {**official, "backbone.pos_embed": np.zeros((1, 11, 32), np.float32)}
  with pytest.raises(CheckpointError, match=r"image_size=\(H, W\)"):
    load(state)
  with pytest.raises(CheckpointError, match=r"image_size \(32, 48\) gives 2 x 3"):
    load(official, image_size=(32, 48))
  simple = {k: v for k, v in official.items() if "deconv_layers" not in k}
  with pytest.raises(CheckpointError, match="simple decoder"):
    load(simple)


def test_save_and_load_pretrained_model_directory(official, tmp_path):
  from safetensors.numpy import load_file  # pylint: disable=g-import-not-at-top
  from sasmamba_jax import loading  # pylint: disable=g-import-not-at-top
  model = checkpoints.load_official(official, **HEADS)
  directory = loading.save_pretrained(model, tmp_path / "vitpose_tiny")
  meta = json.loads((directory / "config.json").read_text())
  assert meta["input"]["shape"] == ["batch", 64, 48, 3]
  assert meta["output"]["shape"] == ["batch", 16, 12, 17]
  assert "images" in (directory / "README.md").read_text()
  loaded = loading.load(directory)
  _assert_same(checkpoints.to_official(loaded), official)
  # The exported forward runs without this library's model code.
  weights = load_file(str(directory / "model.safetensors"))
  forward = jax.export.deserialize((directory / "forward.jaxexport").read_bytes())
  x = jax.random.normal(jax.random.key(0), (3, 64, 48, 3))
  np.testing.assert_allclose(forward.call(weights, x), nnx.jit(lambda m, x: m(x))(
      loaded, x), rtol=1e-4, atol=1e-5)
  # An official file through the same front door.
  np.savez(tmp_path / "sd.npz", **official)
  with pytest.raises(CheckpointError, match="num_heads=N"):
    loading.load(tmp_path / "sd.npz")
