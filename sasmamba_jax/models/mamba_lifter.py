"""PoseMamba and SasMamba: one spatio-temporal Mamba lifter, two official variants.

Both official models share this layout, key names and forward (their official
``PoseMamba.py`` / ``SasMamba.py``; docs/reference.md); they differ only inside the SSM mixer (``conv_type`` and ``joint_gathers``):

  PoseMamba: plain depthwise 3x3 conv, the local-limb gather on direction 0;
  SasMamba:  depthwise deformable conv, the stride-2 and stride-3 gathers.

Forward, for input (B, T, J, in_channels):
  1. joint embedding Linear(in_channels -> dim) + spatial position embedding (1, J, dim)
  2. spatial_blocks[0], spatial_norm
  3. + temporal position embedding[:, :T] (broadcast over joints), temporal_blocks[0],
     temporal_norm
  4. for i >= 1: spatial_blocks[i], spatial_norm, temporal_blocks[i], temporal_norm
     (the SAME two LayerNorms, eps 1e-6, after every block)
  5. head: LayerNorm (eps 1e-5) -> Linear(dim -> 3); every frame is predicted.
"Spatial" and "temporal" blocks are identical mixers over the whole (T, J) grid; only
their place differs.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from sasmamba_jax import skeletons
from sasmamba_jax.models._checks import check_pose_clip
from sasmamba_jax.nn import torch_init
from sasmamba_jax.nn.dtypes import compute_dtype_name
from sasmamba_jax.nn.blocks import BiSTSSMBlock
from sasmamba_jax.nn.st_ssm import SSMConfig
from sasmamba_jax.nn.st_ssm import check_gathers

@dataclasses.dataclass(frozen=True)
class LifterConfig:
  """Architecture and run options of a ``MambaLifter``.

  Attributes:
    name: the registered name these options start from (``models.create`` sets
      it; "" for an architecture no registered model describes, e.g. an official
      checkpoint of another size): what rebuilds the model with these fields.
    family: "posemamba", "sasmamba" or any label (informational only).
    num_frames: length of the temporal position embedding: the longest clip the model
      takes (the official tables have 243 rows; shorter clips use the first T rows).
    num_joints: J.
    in_channels: 2 (x, y) or 3 (x, y, confidence).
    dim: embedding width C (official ``embed_dim_ratio`` / ``dim_feat``).
    depth: number of spatial + temporal block pairs.
    mlp_ratio: MLP hidden width = int(dim * mlp_ratio).
    d_state, ssm_ratio, dt_rank, conv_kernel, conv_type, joint_gathers: the mixer's
      options (see ``SSMConfig``).
    drop_rate: dropout after the position embeddings (official 0).
    drop_path_rate: stochastic depth; block pair i uses linspace(0, rate, depth)[i].
    official_gradients: see ``SSMConfig``; True reproduces the official backward.
    dtype: compute dtype, "float32" or "bfloat16" (``nn.dtypes``); parameters are
      float32 and the selective scan runs in float32 whatever this is.
    impl, chunk_size: selective-scan implementation and chunk size.
    scan_layers: run block pairs 1..depth-1 as one ``lax.scan`` over their stacked
      parameters, so compile time does not grow with depth (same numbers as the
      unrolled loop; parameters stay one module per block).
    remat: recompute each block pair in the backward pass instead of storing its
      activations (less memory, about one more forward of compute).
  """

  #: the fields that tell one registered architecture from another
  ARCHITECTURE: ClassVar[tuple[str, ...]] = ("family", "dim", "depth")

  name: str = ""
  family: str = "sasmamba"
  num_frames: int = 243
  num_joints: int = 17
  in_channels: int = 2
  dim: int = 64
  depth: int = 5
  mlp_ratio: float = 2.0
  d_state: int = 16
  ssm_ratio: float = 2.0
  dt_rank: int | None = None
  conv_kernel: int = 3
  conv_type: str = "deform"
  joint_gathers: tuple[tuple[int, ...], ...] = skeletons.sasmamba_gathers(17)
  drop_rate: float = 0.0
  drop_path_rate: float = 0.2
  official_gradients: bool = True
  dtype: str = "float32"
  impl: str = "auto"
  chunk_size: int | None = None
  scan_layers: bool = True
  remat: bool = False

  def __post_init__(self):
    gathers = tuple(tuple(int(i) for i in g) for g in self.joint_gathers)
    object.__setattr__(self, "joint_gathers", gathers)
    object.__setattr__(self, "dtype", compute_dtype_name(self.dtype,
                                                        "LifterConfig: dtype"))
    for name in ("num_frames", "num_joints", "dim", "depth"):
      value = getattr(self, name)
      if not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"LifterConfig: {name} must be a positive int, got "
                         f"{value!r}")
    if self.in_channels not in (2, 3):
      raise ValueError(f"LifterConfig: in_channels must be 2 (x, y) or 3 (x, y, "
                       f"confidence), got {self.in_channels}")
    if not 0.0 <= self.drop_path_rate < 1.0 or not 0.0 <= self.drop_rate < 1.0:
      raise ValueError("LifterConfig: drop_rate and drop_path_rate must be in [0, 1)")
    if self.mlp_ratio <= 0:
      raise ValueError(f"LifterConfig: mlp_ratio must be > 0, got {self.mlp_ratio}")
    check_gathers(self.joint_gathers, self.num_joints)
    self.ssm_config()  # Validates the mixer options.

  def drop_path_rates(self) -> list[float]:
    """Stochastic-depth rate of block pair i (official: linspace(0, rate, depth))."""
    return [float(r) for r in np.linspace(0.0, self.drop_path_rate, self.depth)]

  def ssm_config(self) -> SSMConfig:
    return SSMConfig(d_state=self.d_state, ssm_ratio=self.ssm_ratio,
                     dt_rank=self.dt_rank, conv_kernel=self.conv_kernel,
                     conv_type=self.conv_type, joint_gathers=self.joint_gathers,
                     official_gradients=self.official_gradients, impl=self.impl,
                     chunk_size=self.chunk_size)


class MambaLifter(nnx.Module):
  """2D-to-3D pose lifter: (B, T, J, in_channels) -> (B, T, J, 3) float32.

  Stochastic depth and dropout follow ``model.train()`` / ``model.eval()`` (or the
  ``deterministic`` call argument) and draw from the ``dropout`` stream of the
  ``nnx.Rngs`` given at construction.
  """

  def __init__(self, config: LifterConfig, *, rngs: nnx.Rngs):
    c = config
    self.config = c
    dtype = jnp.dtype(c.dtype)
    self.joint_embed = torch_init.linear(c.in_channels, c.dim, dtype=dtype, rngs=rngs)
    # Zero-initialised, as officially.
    self.spatial_pos_embed = nnx.Param(jnp.zeros((1, c.num_joints, c.dim), jnp.float32))
    self.temporal_pos_embed = nnx.Param(jnp.zeros((1, c.num_frames, c.dim), jnp.float32))
    self.pos_drop = nnx.Dropout(c.drop_rate, rngs=rngs)
    rates = c.drop_path_rates()
    ssm = c.ssm_config()

    def block(rate):
      return BiSTSSMBlock(c.dim, mlp_ratio=c.mlp_ratio, drop_path=rate, ssm=ssm,
                          dtype=dtype, rngs=rngs)

    self.spatial_blocks = nnx.List([block(r) for r in rates])
    self.temporal_blocks = nnx.List([block(r) for r in rates])
    self.spatial_norm = torch_init.layer_norm(c.dim, epsilon=1e-6, dtype=dtype, rngs=rngs)
    self.temporal_norm = torch_init.layer_norm(c.dim, epsilon=1e-6, dtype=dtype,
                                               rngs=rngs)
    self.head_norm = torch_init.layer_norm(c.dim, epsilon=1e-5, dtype=dtype, rngs=rngs)
    self.head = torch_init.linear(c.dim, 3, dtype=dtype, rngs=rngs)

  def check_input(self, x: Any) -> None:
    """Raises a ValueError naming what is wrong with an input's shape."""
    c = self.config
    check_pose_clip(x, name=c.family, num_joints=c.num_joints,
                    in_channels=c.in_channels, max_frames=c.num_frames,
                    joints_hint=" and that layout's joint_gathers")

  def __call__(self, x: jax.Array, *, deterministic: bool | None = None) -> jax.Array:
    """(B, T, J, in_channels) -> (B, T, J, 3) float32."""
    self.check_input(x)
    dtype = jnp.dtype(self.config.dtype)
    t = x.shape[1]
    h = self.joint_embed(x.astype(dtype)) + self.spatial_pos_embed[...].astype(dtype)
    h = self.pos_drop(h, deterministic=deterministic)
    h = self.spatial_norm(self.spatial_blocks[0](h, deterministic=deterministic))
    pos = self.temporal_pos_embed[...][:, :t].astype(dtype)  # (1, T, dim)
    h = self.pos_drop(h + pos[:, :, None, :], deterministic=deterministic)
    h = self.temporal_norm(self.temporal_blocks[0](h, deterministic=deterministic))
    if self.config.depth > 1:
      h = self._later_pairs(h, deterministic)
    return self.head(self.head_norm(h)).astype(jnp.float32)

  def _later_pairs(self, h: jax.Array, deterministic: bool | None) -> jax.Array:
    """Block pairs 1..depth-1: spatial block, spatial_norm, temporal block, temporal_norm.

    Runs functionally on split states, so that a pair can be rematerialised and the
    pairs scanned; the blocks' new states (RNG counters advanced by stochastic
    depth) are written back at the end.
    """
    later = list(zip(list(self.spatial_blocks)[1:], list(self.temporal_blocks)[1:]))
    splits = [(nnx.split(s), nnx.split(t)) for s, t in later]
    norms_graph, norms_state = nnx.split((self.spatial_norm, self.temporal_norm))

    def pair(h, graphs, states):
      spatial = nnx.merge(graphs[0], states[0])
      temporal = nnx.merge(graphs[1], states[1])
      spatial_norm, temporal_norm = nnx.merge(norms_graph, norms_state)
      h = spatial_norm(spatial(h, deterministic=deterministic))
      h = temporal_norm(temporal(h, deterministic=deterministic))
      return h, (nnx.state(spatial), nnx.state(temporal))

    if self.config.remat:
      pair = jax.checkpoint(pair, static_argnums=(1,))
    graphs = [(sg, tg) for (sg, _), (tg, _) in splits]
    states = [(ss, ts) for (_, ss), (_, ts) in splits]
    if self.config.scan_layers and len(later) > 1 and len(set(graphs)) == 1:
      # One lax.scan over the stacked states: XLA compiles a single pair.
      stacked = jax.tree.map(lambda *leaves: jnp.stack(leaves), *states)
      h, stacked = jax.lax.scan(lambda h, st: pair(h, graphs[0], st), h, stacked)
      states = [jax.tree.map(lambda a, i=i: a[i], stacked) for i in range(len(later))]
    else:
      for i in range(len(later)):
        h, states[i] = pair(h, graphs[i], states[i])
    stochastic = any(not (b.drop_path.deterministic if deterministic is None
                          else deterministic) for pair_ in later for b in pair_)
    if stochastic:  # Only the RNG counters can have changed.
      for blocks, pair_states in zip(later, states):
        for block, state in zip(blocks, pair_states):
          nnx.update(block, nnx.filter_state(state, nnx.RngState))
    return h


def posemamba_config(**overrides: Any) -> LifterConfig:
  """PoseMamba defaults (plain conv, H36M limb gather) with ``overrides`` applied.

  The limb gather is defined on the 17 H36M joints: other joint counts need
  ``joint_gathers`` (``skeletons.posemamba_limb_gather`` maps it to MPI-INF-3DHP).
  """
  j = overrides.get("num_joints", LifterConfig.num_joints)
  if j != 17 and "joint_gathers" not in overrides:
    raise ValueError(f"posemamba: its limb gather is defined for 17 H36M joints, not "
                     f"{j}; pass joint_gathers=... for this layout")
  base = dict(family="posemamba", conv_type="conv",
              joint_gathers=(skeletons.POSEMAMBA_LIMB_GATHER_H36M,))
  return LifterConfig(**{**base, **overrides})


def sasmamba_config(**overrides: Any) -> LifterConfig:
  """SasMamba defaults (deformable conv, stride gathers for num_joints joints)."""
  j = overrides.get("num_joints", LifterConfig.num_joints)
  base = dict(family="sasmamba", conv_type="deform",
              joint_gathers=skeletons.sasmamba_gathers(j))
  return LifterConfig(**{**base, **overrides})
