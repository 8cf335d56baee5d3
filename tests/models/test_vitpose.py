"""ViTPose against the official PyTorch code (../shared/fixtures/vitpose) and on its own.

Every model file of the fixture folder is checked (the architecture is read off the
file and manifest.json, nothing is hard-coded): heatmaps and backbone output within
1e-4 of scale, d loss / d x and every parameter gradient (or its stored subset)
within 1e-3; cases with every gradient stored in full also the flip-test heatmaps
(1e-4) and BatchNorm in train mode (batch statistics; running statistics with the
unbiased variance, 1e-5). One jitted computation per file.
"""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from sasmamba_jax import checkpoints
from sasmamba_jax import models
from sasmamba_jax import skeletons
from sasmamba_jax.checkpoints import vitpose as vitpose_weights
from tests.helpers import vitpose_state_dict as random_state_dict

FIXTURE_DIR = "vitpose"


def _model_files(root):
  folder = root / FIXTURE_DIR
  if not folder.is_dir():
    pytest.skip(f"no {folder}")
  files = []
  for path in sorted(folder.glob("*.npz")):
    with np.load(path) as f:
      if "heatmaps" in f.files and "backbone_out" in f.files:
        files.append(path)
  return files


def _case_config(path) -> dict:
  """num_heads / image_size of a fixture case from manifest.json (not in the weights)."""
  manifest = json.loads((path.parent / "manifest.json").read_text())
  config = manifest["cases"][path.stem]["config"]
  out = dict(num_heads=int(config["heads"]))
  if "img" in config:  # Else load_official reads a 4 : 3 crop off the position table.
    out["image_size"] = tuple(int(s) for s in config["img"])
  return out


def _rel(ours, ref) -> float:
  ref = np.asarray(ref, np.float64)
  return float(np.max(np.abs(np.asarray(ours, np.float64) - ref)) / np.max(np.abs(ref)))


def _nchw(a):
  return np.asarray(a).transpose(0, 3, 1, 2)


def _run_case(path):
  f = dict(np.load(path))
  state = {k: v for k, v in f.items() if k.startswith(("backbone.", "keypoint_head."))}
  model = checkpoints.load_official(state, **_case_config(path))
  x = jnp.asarray(f["x"].transpose(0, 2, 3, 1))
  w = jnp.asarray(f["w"].transpose(0, 2, 3, 1))
  graphdef, params, rest = nnx.split(model, nnx.Param, ...)
  flip = skeletons.COCO.flip_permutation

  b = x.shape[0]
  # Big cases (those whose largest gradients are stored subsampled, e.g.
  # vitpose_b_depth1) check forward and gradients only, in one smaller program; the
  # flip test and train-mode BatchNorm are the same code at any size. The flip
  # pairs are COCO's (the fixtures' heads have 17 outputs).
  full = not any(k.startswith("grad_sub/") for k in f)
  full = full and model.config.num_keypoints == skeletons.COCO.num_joints

  @jax.jit
  def compute(params, rest, x):
    def loss(params, x):
      m = nnx.merge(graphdef, params, rest)
      # With the mirror image in the same batch (eval mode: samples independent).
      both = jnp.concatenate([x, x[:, :, ::-1]]) if full else x
      tokens = m.tokens(both)
      heatmaps = m.keypoint_head(tokens)
      return jnp.sum(heatmaps[:b] * w), (heatmaps, tokens[:b])
    (_, (heatmaps, tokens)), grads = jax.value_and_grad(
        loss, argnums=(0, 1), has_aux=True)(params, x)
    if not full:
      return heatmaps, tokens, None, grads, None, None
    flipped = heatmaps[b:, ..., flip][:, :, ::-1]  # flip_back: swap pairs, mirror
    m = nnx.merge(graphdef, params, rest)
    m.train()
    train_heatmaps = m(x)
    return (heatmaps[:b], tokens, flipped, grads, train_heatmaps,
            nnx.state(m, nnx.BatchStat))

  heatmaps, tokens, flipped, (g_params, g_x), train_heatmaps, stats = compute(
      params, rest, x)
  grads = checkpoints.to_official(nnx.merge(graphdef, g_params, rest))
  train_state = None
  if stats is not None:
    trained = nnx.merge(graphdef, params, rest)
    nnx.update(trained, stats)
    train_state = checkpoints.to_official(trained)
  return f, dict(heatmaps=heatmaps, tokens=tokens, flipped=flipped, grad_x=g_x,
                 grads=grads, train_heatmaps=train_heatmaps, train_state=train_state)


@pytest.fixture(scope="module")
def cases(shared_fixtures):
  return {path.stem: _run_case(path) for path in _model_files(shared_fixtures)}


def test_forward_matches_the_official_model(cases):
  assert cases
  assert any(ours["flipped"] is not None for _, ours in cases.values())
  for name, (ref, ours) in cases.items():
    assert _rel(_nchw(ours["heatmaps"]), ref["heatmaps"]) < 1e-4, name
    assert _rel(_nchw(ours["tokens"]), ref["backbone_out"]) < 1e-4, name
    if ours["flipped"] is None:
      continue
    assert _rel(_nchw(ours["flipped"]), ref["heatmaps_flip"]) < 1e-4, name
    fliptest = (ours["heatmaps"] + ours["flipped"]) * 0.5
    assert _rel(_nchw(fliptest), ref["heatmaps_fliptest"]) < 1e-4, name


def test_gradients_match_the_official_model(cases):
  for name, (ref, ours) in cases.items():
    assert _rel(_nchw(ours["grad_x"]), ref["grad_x"]) < 1e-3, name
    grads = ours["grads"]
    full = [k[len("grad/"):] for k in ref if k.startswith("grad/")]
    sub = [k[len("grad_sub/"):] for k in ref if k.startswith("grad_sub/")]
    # Every trainable parameter has a reference gradient, in full or subsampled.
    assert set(full) | set(sub) == {k for k in grads if "running" not in k
                                    and "num_batches" not in k}, name
    for key in full:
      assert _rel(grads[key], ref[f"grad/{key}"]) < 1e-3, (name, key)
    for key in sub:
      picked = grads[key].reshape(-1)[ref[f"grad_sub_idx/{key}"]]
      assert _rel(picked, ref[f"grad_sub/{key}"]) < 1e-3, (name, key)


def test_train_mode_batchnorm_matches_the_official_model(cases):
  for name, (ref, ours) in cases.items():
    if ours["train_state"] is None:
      continue
    assert _rel(_nchw(ours["train_heatmaps"]), ref["train/heatmaps"]) < 1e-4, name
    buffers = [k[len("train/"):] for k in ref if k.startswith("train/")
               and k != "train/heatmaps"]
    assert buffers, name
    for key in buffers:
      if key.endswith("num_batches_tracked"):
        assert ours["train_state"][key] == ref[f"train/{key}"], (name, key)
      else:
        assert _rel(ours["train_state"][key], ref[f"train/{key}"]) < 1e-5, (name, key)


# --- The model on its own (tiny, random weights) ------------------------------------


def tiny_model(**overrides):
  config = models.get_config("vitpose_tiny")
  return checkpoints.load_official(random_state_dict(config), num_heads=config.num_heads,
                                   image_size=config.image_size, **overrides)


@pytest.fixture(scope="module")
def tiny():
  return tiny_model()


@pytest.fixture(scope="module")
def tiny_outputs(tiny):
  @nnx.jit
  def run(model, x, other):
    return model(x), model.features(x), model.tokens(x), model(other)
  x = jax.random.normal(jax.random.key(0), (2, 64, 48, 3))
  other = jax.random.normal(jax.random.key(1), (1, 96, 80, 3))
  return x, run(tiny, x, other)


def test_shapes_and_the_feature_contract(tiny, tiny_outputs):
  _, (heatmaps, features, tokens, other) = tiny_outputs
  assert heatmaps.shape == (2, 16, 12, 17) and heatmaps.dtype == jnp.float32
  assert features.shape == (2, 16, 12, 32) and tokens.shape == (2, 4, 3, 32)
  # features is the input of the final 1 x 1 conv, after the last BN + ReLU.
  assert float(jnp.min(features)) >= 0.0 and float(jnp.max(features)) > 0.0
  kernel = tiny.keypoint_head.final_layer.kernel[...][0, 0]  # (C, K)
  bias = tiny.keypoint_head.final_layer.bias[...]
  np.testing.assert_allclose(features @ kernel + bias, heatmaps, rtol=1e-4, atol=1e-5)
  # Another crop: the position table is interpolated.
  assert other.shape == (1, 24, 20, 17) and np.all(np.isfinite(other))


def test_position_table_interpolation(tiny):
  bb = tiny.backbone
  same, cls = bb.position_table((4, 3))
  np.testing.assert_array_equal(same.reshape(-1), bb.pos_embed[...][0, 1:].reshape(-1))
  np.testing.assert_array_equal(cls.reshape(-1), bb.pos_embed[...][0, 0])
  # A table constant over the grid stays constant (bicubic weights sum to one); a
  # table linear along the rows stays monotonic.
  table = np.full((1, 13, 32), 0.7, np.float32)
  table[0, 1:] += np.repeat(np.arange(4, dtype=np.float32), 3)[:, None] * 0
  bb2 = nnx.clone(bb)
  bb2.pos_embed[...] = jnp.asarray(table)
  grown, _ = bb2.position_table((7, 5))
  assert grown.shape == (1, 7, 5, 32)
  np.testing.assert_allclose(grown, 0.7, rtol=1e-5)
  ramp = np.zeros((1, 13, 32), np.float32)
  ramp[0, 1:] = np.repeat(np.arange(4, dtype=np.float32), 3)[:, None]
  bb2.pos_embed[...] = jnp.asarray(ramp)
  rows = np.asarray(bb2.position_table((8, 3))[0])[0, :, 0, 0]
  assert np.all(np.diff(rows) > 0)


@pytest.mark.parametrize("shape, match", [
    ((2, 3, 64, 48), "channels-first"),
    ((64, 48, 3), r"\(B, H, W, 3\)"),
    ((1, 60, 48, 3), "multiple of the patch size 16"),
])
def test_bad_images_are_refused(tiny, shape, match):
  with pytest.raises(ValueError, match=match):
    tiny(jnp.zeros(shape))


def test_bad_dtypes_values_and_configs_are_refused(tiny):
  with pytest.raises(ValueError, match="float images"):
    tiny(jnp.zeros((1, 64, 48, 3), jnp.uint8))
  with pytest.raises(ValueError, match="NaN"):
    tiny(jnp.full((1, 64, 48, 3), jnp.nan))
  with pytest.raises(ValueError, match="multiple of the patch"):
    models.get_config("vitpose_b", image_size=(250, 192))
  with pytest.raises(ValueError, match="divisible"):
    models.get_config("vitpose_b", num_heads=5)
  with pytest.raises(ValueError, match="dtype"):
    models.get_config("vitpose_b", dtype="float16")


def test_frozen_model_gives_no_gradient_and_ignores_train_mode(tiny_outputs):
  x, (_, features, _, _) = tiny_outputs
  frozen = tiny_model(frozen=True, drop_path_rate=0.5)
  frozen.train()
  stats = jax.tree.map(np.asarray, nnx.state(frozen, nnx.BatchStat))

  @nnx.jit
  def run(model, x):
    grads = nnx.grad(lambda m: jnp.sum(m(x) ** 2))(model)
    return model.features(x), grads

  out, grads = run(frozen, x)
  # Inference mode whatever train() says: running statistics, no stochastic depth.
  np.testing.assert_allclose(out, features, rtol=1e-5, atol=1e-6)
  jax.tree.map(np.testing.assert_array_equal, stats,
               jax.tree.map(np.asarray, nnx.state(frozen, nnx.BatchStat)))
  assert all(float(jnp.max(jnp.abs(g))) == 0.0 for g in jax.tree.leaves(grads))


def test_training_mode_uses_stochastic_depth_and_batch_statistics(tiny_outputs):
  x, _ = tiny_outputs
  model = tiny_model(drop_path_rate=0.5)
  model.train()
  before = np.asarray(model.keypoint_head.norms[0].mean[...])

  @nnx.jit
  def run(model, x):
    return model.tokens(x), model.tokens(x), model(x)

  a, b, _ = run(model, x)
  assert not np.allclose(a, b)  # Different branches dropped on each call.
  assert not np.allclose(model.keypoint_head.norms[0].mean[...], before)
  assert int(model.keypoint_head.norms[0].num_batches_tracked[...]) == 8


def test_bfloat16_compute_is_close_to_float32(tiny_outputs):
  x, (heatmaps, _, _, _) = tiny_outputs
  low = tiny_model(dtype="bfloat16")
  assert all(p.dtype == jnp.float32 for p in jax.tree.leaves(nnx.state(low, nnx.Param)))
  y = nnx.jit(lambda m, x: m(x))(low, x)
  assert y.dtype == jnp.float32
  assert _rel(y, heatmaps) < 5e-2


def test_parameter_counts_match_the_official_architecture():
  # ViTPose-B: backbone 85,794,816 (about 85.8 M), classic head 4,199,697 (4.2 M).
  model = models.create_abstract("vitpose_b")
  count = lambda m: int(sum(np.prod(p.shape) for p in
                            jax.tree.leaves(nnx.state(m, nnx.Param))))
  assert count(model.backbone) == 85_794_816
  assert count(model.keypoint_head) == 4_199_697
  assert models.count_parameters(model) == 85_794_816 + 4_199_697
  for name, width, depth, heads in [("vitpose_s", 384, 12, 12),
                                    ("vitpose_l", 1024, 24, 16),
                                    ("vitpose_h", 1280, 32, 16)]:
    c = models.get_config(name)
    assert (c.embed_dim, c.depth, c.num_heads) == (width, depth, heads)
    assert models.kind(name) == "pose2d"
  assert "vitpose_b" not in models.names("lifter")
  assert "sasmamba" in models.names("lifter")
