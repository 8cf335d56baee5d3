"""PoseMamba / SasMamba lifters: official sizes, layout, input contract, run modes."""


import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from sasmamba_jax import models
from sasmamba_jax import skeletons

TINY = dict(dim=8, depth=1, num_frames=12)


@nnx.jit
def _apply(model, x):
  return model(x)


def _x(t=12, j=17, c=2, b=2, seed=0):
  return jax.random.normal(jax.random.key(seed), (b, t, j, c))


# Official counts (docs/reference.md; sum of numel of every parameter).
@pytest.mark.parametrize("name,count", [
    ("posemamba_s", 1_470_211), ("posemamba_b", 4_742_659),
    ("posemamba_l", 9_450_499), ("sasmamba", 951_351)])
def test_parameter_counts_equal_the_official_ones(name, count):
  # Eager construction: nnx.eval_shape is slower here (its cost grows with the
  # square of the layer count in flax 0.12), and these still take only seconds.
  assert models.count_parameters(models.create(name)) == count


def _thop_count(model) -> int:
  """The papers' counting (thop): it skips the SSM's own parameters (x_proj, dt_projs,
  A_logs, Ds), the position embeddings and torchvision's DeformConv2d."""
  skipped = ("x_proj_weight", "dt_projs_weight", "dt_projs_bias", "A_logs", "Ds",
             "spatial_pos_embed", "temporal_pos_embed")
  deform = model.config.conv_type == "deform"
  return int(sum(np.prod(v.shape) for path, v in
                 nnx.to_flat_state(nnx.state(model, nnx.Param))
                 if path[-1] not in skipped and not (deform and path[-2] == "conv2d")))


def test_paper_counts_of_posemamba_x_and_the_official_configs():
  # thop counts recorded with the official fixtures, and the papers' B, L, X figures.
  assert _thop_count(models.create_abstract("sasmamba")) == 624_951
  assert _thop_count(models.create("posemamba_s")) == 859_651
  for name, millions in (("posemamba_b", 3.358), ("posemamba_l", 6.714),
                         ("posemamba_x", 26.535)):
    assert round(_thop_count(models.create(name)) / 1e6, 3) == millions


def test_architecture_follows_the_official_layout():
  pose = models.create("posemamba_s", **TINY)
  sas = models.create("sasmamba", **{**TINY, "depth": 3})
  assert pose.config.joint_gathers == (skeletons.POSEMAMBA_LIMB_GATHER_H36M,)
  assert sas.config.joint_gathers == (
      (0, 0, 2, 2, 4, 4, 6, 6, 8, 8, 10, 10, 12, 12, 14, 14, 16),
      (0, 0, 0, 3, 3, 3, 6, 6, 6, 9, 9, 9, 12, 12, 12, 15, 15))
  assert isinstance(pose.spatial_blocks[0].op.conv2d, nnx.Conv)
  assert hasattr(sas.spatial_blocks[0].op.conv2d, "offset_conv")
  assert pose.spatial_norm.epsilon == 1e-6 and pose.head_norm.epsilon == 1e-5
  np.testing.assert_array_equal(pose.temporal_pos_embed[...], 0)  # Zero init.
  rates = [float(b.drop_path.rate[...]) for b in sas.spatial_blocks]
  np.testing.assert_allclose(rates, np.linspace(0, 0.2, 3))
  np.testing.assert_allclose([float(b.drop_path.rate[...]) for b in sas.temporal_blocks],
                             rates)


def test_any_number_of_frames():
  model = models.create("sasmamba", dim=4, depth=1, num_frames=729)
  model.eval()
  for t in (1, 729):
    y = _apply(model, _x(t=t, b=1))
    assert y.shape == (1, t, 17, 3) and y.dtype == jnp.float32
    assert bool(jnp.all(jnp.isfinite(y)))


def test_short_clips_use_the_first_rows_of_the_temporal_embedding():
  model = models.create("posemamba_s", **TINY)
  model.eval()
  x = _x(t=5)
  before = _apply(model, x)
  table = model.temporal_pos_embed[...]
  model.temporal_pos_embed[...] = table.at[:, 5:].set(100.0)
  np.testing.assert_array_equal(_apply(model, x), before)
  # (A constant row would vanish in the LayerNorms: use a random one.)
  model.temporal_pos_embed[...] = table.at[:, 4].set(jax.random.normal(
      jax.random.key(5), (1, 8)))
  assert not np.allclose(_apply(model, x), before)


def test_input_errors_are_clear():
  model = models.create("sasmamba", **TINY)
  with pytest.raises(ValueError, match=r"\(batch, T, J, C\)"):
    model(jnp.zeros((12, 17, 2)))
  with pytest.raises(ValueError, match="built for 17 joints, got 16"):
    model(jnp.zeros((1, 12, 16, 2)))
  with pytest.raises(ValueError, match="takes 2 input channels, got 3"):
    model(jnp.zeros((1, 12, 17, 3)))
  with pytest.raises(ValueError, match="num_frames >= 13"):
    model(jnp.zeros((1, 13, 17, 2)))
  with pytest.raises(ValueError, match="in_channels"):
    models.create("sasmamba", in_channels=4)
  with pytest.raises(ValueError, match="joint_gathers"):
    models.create("posemamba_s", num_joints=15)  # The limb gather is for 17 joints.
  with pytest.raises(ValueError, match="joint indices"):
    models.create("sasmamba", joint_gathers=((0, 1),))


def test_other_layouts_and_confidence_channel():
  small = dict(dim=8, depth=1, num_frames=6)
  mpi = models.create("posemamba_s", in_channels=3, joint_gathers=(
      skeletons.posemamba_limb_gather(skeletons.MPI_INF_3DHP),), **small)
  assert _apply(mpi, _x(t=6, c=3)).shape == (2, 6, 17, 3)
  # SasMamba's stride gathers are defined for any joint count.
  j15 = models.create("sasmamba", num_joints=15, **small)
  assert j15.config.joint_gathers == skeletons.sasmamba_gathers(15)
  assert _apply(j15, _x(t=6, j=15)).shape == (2, 6, 15, 3)


def test_bfloat16_compute_keeps_float32_parameters():
  fp32 = models.create("posemamba_s", **TINY)
  bf16 = models.create("posemamba_s", dtype="bfloat16", **TINY)
  assert all(v.dtype == jnp.float32 for v in jax.tree.leaves(nnx.state(bf16, nnx.Param)))
  fp32.eval()
  bf16.eval()
  x = _x()
  y32, y16 = _apply(fp32, x), _apply(bf16, x)
  assert y16.dtype == jnp.float32  # Outputs are float32 whatever the compute dtype.
  assert float(jnp.abs(y16 - y32).max()) < 0.1 * float(jnp.abs(y32).max())
  with pytest.raises(ValueError, match="dtype"):
    models.create("sasmamba", dtype="int8")


def test_stochastic_depth_follows_train_and_eval():
  two = {**TINY, "depth": 2}  # Pair 0 has rate 0 (linspace from 0); pair 1 has 0.5.
  model = models.create("posemamba_s", drop_path_rate=0.5, seed=3, **two)
  x = _x()
  train_a, train_b = _apply(model, x), _apply(model, x)
  assert not np.allclose(train_a, train_b)  # Fresh masks per call.
  again = models.create("posemamba_s", drop_path_rate=0.5, seed=3, **two)
  np.testing.assert_array_equal(_apply(again, x), train_a)  # Seeded.
  model.eval()
  np.testing.assert_array_equal(_apply(model, x), _apply(model, x))


@pytest.mark.slow
def test_layer_scan_and_remat_give_the_same_numbers():
  x = _x()
  w = _x(c=3, seed=1)
  deep = {**TINY, "depth": 3}  # Pairs 1 and 2 go through the scan.

  @nnx.jit
  def value_and_grad(model):
    return nnx.value_and_grad(lambda m: jnp.sum(m(x) * w))(model)

  results = []
  for scan_layers, remat in ((False, False), (True, True)):
    model = models.create("posemamba_s", scan_layers=scan_layers, remat=remat,
                          drop_path_rate=0.3, **deep)
    results.append(value_and_grad(model))
    counts = [int(v[...]) for _, v in nnx.to_flat_state(nnx.state(model, nnx.RngCount))]
    assert counts.count(2) == 2 * deep["depth"]  # Each block drew its two masks.
  (loss_a, grads_a), (loss_b, grads_b) = results
  np.testing.assert_allclose(loss_b, loss_a, rtol=1e-5)  # Same masks, same numbers.
  for a, b in zip(jax.tree.leaves(grads_b), jax.tree.leaves(grads_a)):
    np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4 * float(jnp.abs(b).max()))


def test_limb_gather_is_re_indexed_by_joint_for_mpi_inf_3dhp():
  # mpi_of_h36m[h] = MPI-INF-3DHP index of the H36M joint h.
  mpi_of_h36m = skeletons.mpi_inf_3dhp_to_h36m(np.arange(17)[:, None])[:, 0]
  gather = skeletons.posemamba_limb_gather(skeletons.MPI_INF_3DHP)
  for h, source in enumerate(skeletons.POSEMAMBA_LIMB_GATHER_H36M):
    assert gather[mpi_of_h36m[h]] == mpi_of_h36m[source]
  with pytest.raises(ValueError, match="coco"):
    skeletons.posemamba_limb_gather(skeletons.COCO)
  assert skeletons.stride_gather(7, 3) == (0, 0, 0, 3, 3, 3, 6)
