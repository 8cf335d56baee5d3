"""Model registry: ``create(name, **overrides)`` builds any registered model.

  model = create("sasmamba")                              # official SasMamba, T <= 243
  model = create("posemamba_s", num_frames=729, dtype="bfloat16")
  model = create("sasmamba", num_joints=17, in_channels=3, num_frames=27)  # 3DHP
  model = create("mlp_baseline")
  model = create("vitpose_b", dtype="bfloat16", frozen=True)   # 2D pose, images
  model = create("glsmamba_b")                            # video 2D pose estimation
  model = create("glsmamba_b", num_frames=1, num_lrm=0)   # an ablation

A model's config carries its registered ``name`` (``model.config.name``): the
name and the config's fields rebuild it (``build(config)``); ``name_for`` finds the
registered architecture of a config read off a checkpoint's tensors.

Each ``ModelSpec`` has a ``kind`` (``names(kind)`` lists them): the lifters ("lifter")
map (batch, T, J, in_channels) -> (batch, T, J, 3); ViTPose ("pose2d") maps images
(batch, H, W, 3) -> heatmaps (batch, H/4, W/4, K); GLSMamba ("video_pose2d") maps
backbone features of a clip (batch, T, h, w, C) -> heatmaps (batch, h, w, K) of its
centre frame. Every model is a float32-output
``nnx.Module`` in training mode (``model.eval()`` for inference).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

import jax
import numpy as np
from flax import nnx

from sasmamba_jax.models.glsmamba import GLSMamba
from sasmamba_jax.models.glsmamba import RETIRED_OPTIONS as _GLSMAMBA_RETIRED
from sasmamba_jax.models.glsmamba import GLSMambaConfig
from sasmamba_jax.models.glsmamba import glsmamba_config
from sasmamba_jax.models.mamba_lifter import LifterConfig
from sasmamba_jax.models.mamba_lifter import MambaLifter
from sasmamba_jax.models.mamba_lifter import posemamba_config
from sasmamba_jax.models.mamba_lifter import sasmamba_config
from sasmamba_jax.models.mlp_baseline import MlpBaseline
from sasmamba_jax.models.mlp_baseline import MlpBaselineConfig
from sasmamba_jax.models.vitpose import ViTPose
from sasmamba_jax.models.vitpose import ViTPoseConfig
from sasmamba_jax.models.vitpose import vitpose_config


@dataclasses.dataclass(frozen=True)
class ModelSpec:
  """A registered model: how to build its config and module, and where it comes from."""

  name: str
  make_config: Callable[..., Any]
  make_model: Callable[..., nnx.Module]
  description: str
  #: config overrides that build the same model without while loops (XLA's cost
  #: analysis counts a loop body once), given the config and the clip length
  loop_free: Callable[[Any, int], dict[str, Any]] | None = None
  #: what the model does: "lifter" (2D pose clip -> 3D), "pose2d" (images ->
  #: heatmaps) or "video_pose2d" (backbone features of a clip -> heatmaps of its
  #: centre frame); benchmarks and tools written for one kind list ``names(kind)``
  kind: str = "lifter"
  #: options of earlier versions with the one value the model now always uses
  #: (``make_config`` accepts them at that value)
  retired: Mapping[str, Any] = dataclasses.field(default_factory=dict)


def _lifter(make: Callable[..., Any], **defaults: Any):
  return lambda **overrides: make(**{**defaults, **overrides})


def _lifter_loop_free(config: LifterConfig, frames: int) -> dict[str, Any]:
  # Block pairs unrolled and the selective scan as one chunk over all T * J tokens.
  return dict(scan_layers=False, impl="chunked", chunk_size=frames * config.num_joints)


def _glsmamba_loop_free(config: GLSMambaConfig, frames: int) -> dict[str, Any]:
  # Every scan as one chunk (an associative scan over the whole route), no remat.
  del config, frames
  return dict(impl="chunked", chunk_size=2**30, remat=False)


_GLSMAMBA_TINY = dict(backbone="tiny", num_frames=3, in_channels=32, num_keypoints=5,
                      dim=16, d_state=4, num_gsm=1, num_lrm=1, window=(2, 3))

_SPECS = [
    # Official SasMamba H36M configuration (docs/reference.md).
    ModelSpec("sasmamba", _lifter(sasmamba_config, dim=64, depth=5), MambaLifter,
              "SasMamba, official H36M configuration (dim 64, 5 pairs, T 243)",
              loop_free=_lifter_loop_free),
    # Larger SasMamba variants: ours, not from the paper. They follow PoseMamba's
    # B and L widths/depths so that the two families can be compared at equal size.
    ModelSpec("sasmamba_b", _lifter(sasmamba_config, dim=128, depth=10), MambaLifter,
              "SasMamba-B (ours): dim 128, 10 pairs",
              loop_free=_lifter_loop_free),
    ModelSpec("sasmamba_l", _lifter(sasmamba_config, dim=128, depth=20), MambaLifter,
              "SasMamba-L (ours): dim 128, 20 pairs",
              loop_free=_lifter_loop_free),
    # PoseMamba official configs (S, B, L) and the paper's X (docs/reference.md).
    ModelSpec("posemamba_s", _lifter(posemamba_config, dim=64, depth=10), MambaLifter,
              "PoseMamba-S (dim 64, 10 pairs)",
              loop_free=_lifter_loop_free),
    ModelSpec("posemamba_b", _lifter(posemamba_config, dim=128, depth=10), MambaLifter,
              "PoseMamba-B (dim 128, 10 pairs)",
              loop_free=_lifter_loop_free),
    ModelSpec("posemamba_l", _lifter(posemamba_config, dim=128, depth=20), MambaLifter,
              "PoseMamba-L (dim 128, 20 pairs)",
              loop_free=_lifter_loop_free),
    ModelSpec("posemamba_x", _lifter(posemamba_config, dim=256, depth=20), MambaLifter,
              "PoseMamba-X (paper only: dim 256, 20 pairs)",
              loop_free=_lifter_loop_free),
    ModelSpec("mlp_baseline", MlpBaselineConfig, MlpBaseline,
              "Martinez et al. 2017 per-frame residual MLP (width 1024, 2 stages)"),
    # ViTPose (docs/reference.md): official COCO 256 x 192 configs with the classic
    # head; drop-path rates of the official training configs.
    ModelSpec("vitpose_s", _lifter(vitpose_config, embed_dim=384, depth=12,
                                   num_heads=12, drop_path_rate=0.1), ViTPose,
              "ViTPose-S, classic head (width 384, 12 blocks, 12 heads), 256 x 192",
              kind="pose2d"),
    ModelSpec("vitpose_b", _lifter(vitpose_config, embed_dim=768, depth=12,
                                   num_heads=12, drop_path_rate=0.3), ViTPose,
              "ViTPose-B, classic head (width 768, 12 blocks, 12 heads), 256 x 192",
              kind="pose2d"),
    ModelSpec("vitpose_l", _lifter(vitpose_config, embed_dim=1024, depth=24,
                                   num_heads=16, drop_path_rate=0.5), ViTPose,
              "ViTPose-L, classic head (width 1024, 24 blocks, 16 heads), 256 x 192",
              kind="pose2d"),
    ModelSpec("vitpose_h", _lifter(vitpose_config, embed_dim=1280, depth=32,
                                   num_heads=16, drop_path_rate=0.55), ViTPose,
              "ViTPose-H, classic head (width 1280, 32 blocks, 16 heads), 256 x 192",
              kind="pose2d"),
    # A test size (the tiny reference fixture's architecture).
    ModelSpec("vitpose_tiny", _lifter(vitpose_config, image_size=(64, 48),
                                      embed_dim=32, depth=2, num_heads=2,
                                      deconv_filters=(32, 32), drop_path_rate=0.1),
              ViTPose, "ViTPose test size (width 32, 2 blocks, 2 heads), 64 x 48",
              kind="pose2d"),
    # GLSMamba (the paper; no official code): the head on frozen
    # ViTPose features. B and H share the head's sizes (ours, models/README.md);
    # they differ in the backbone whose 256-channel features they take.
    ModelSpec("glsmamba_b", _lifter(glsmamba_config, backbone="vitpose_b"), GLSMamba,
              "GLSMamba on ViTPose-B features (ours: D 128, 4 GSM + 2 LRM, T 5)",
              loop_free=_glsmamba_loop_free, kind="video_pose2d",
              retired=_GLSMAMBA_RETIRED),
    ModelSpec("glsmamba_h", _lifter(glsmamba_config, backbone="vitpose_h"), GLSMamba,
              "GLSMamba on ViTPose-H features (ours: D 128, 4 GSM + 2 LRM, T 5)",
              loop_free=_glsmamba_loop_free, kind="video_pose2d",
              retired=_GLSMAMBA_RETIRED),
    # A 30k-parameter GLSMamba for tests (every part present, tiny widths).
    ModelSpec("glsmamba_tiny", _lifter(glsmamba_config, **_GLSMAMBA_TINY), GLSMamba,
              "GLSMamba for tests: D 16, 1 GSM + 1 LRM, T 3, 32 feature channels, "
              "window 2x3", loop_free=_glsmamba_loop_free, kind="video_pose2d",
              retired=_GLSMAMBA_RETIRED),
]
_REGISTRY = {spec.name: spec for spec in _SPECS}
MODEL_NAMES: tuple[str, ...] = tuple(_REGISTRY)


def names(kind: str | None = None) -> tuple[str, ...]:
  """Registered names, all or those of one ``kind`` ("lifter", "pose2d",
  "video_pose2d")."""
  return tuple(s.name for s in _SPECS if kind is None or s.kind == kind)


def kind(name: str) -> str:
  """The ``kind`` of model ``name`` ("lifter", "pose2d" or "video_pose2d")."""
  return _spec(name).kind


def _spec(name: str) -> ModelSpec:
  try:
    return _REGISTRY[name]
  except KeyError:
    raise ValueError(f"unknown model {name!r}; registered: {', '.join(MODEL_NAMES)}"
                     ) from None


def get_config(name: str, /, **overrides: Any
               ) -> LifterConfig | MlpBaselineConfig | ViTPoseConfig | GLSMambaConfig:
  """The config of model ``name`` with ``overrides`` (config fields) applied."""
  spec = _spec(name)
  if overrides.pop("name", name) != name:
    raise ValueError(f"{name}: the options name another model; drop 'name'")
  try:
    config = spec.make_config(**overrides)
  except TypeError as e:  # An unknown field name.
    fields = [f.name for f in dataclasses.fields(spec.make_config())
              if f.name != "name"]
    raise ValueError(f"{name}: bad option ({e}); options: {', '.join(fields)}") from None
  return dataclasses.replace(config, name=name)


def name_for(config: Any) -> str:
  """The registered name of ``config``'s architecture (its ``ARCHITECTURE`` fields
  equal that model's defaults), or "" when no registered model has it."""
  for spec in _SPECS:
    default = spec.make_config()
    if type(default) is type(config) and all(
        getattr(default, f) == getattr(config, f) for f in type(config).ARCHITECTURE):
      return spec.name
  return ""


def config_types() -> dict[str, type]:
  """The config dataclasses of the registered models, by class name."""
  return {type(s.make_config()).__name__: type(s.make_config()) for s in _SPECS}


def build(config: Any, *, rngs: nnx.Rngs | None = None, seed: int = 0) -> nnx.Module:
  """The model of a config of any registered type (a registered ``config.name`` or
  "" for another architecture of the family), in training mode."""
  for spec in _SPECS:
    if type(spec.make_config()) is type(config):
      return spec.make_model(config, rngs=rngs if rngs is not None else
                             nnx.Rngs(seed))
  raise ValueError(f"no registered model takes a {type(config).__name__}")


def create(name: str, *, rngs: nnx.Rngs | None = None, seed: int = 0,
           **overrides: Any) -> nnx.Module:
  """Builds model ``name``.

  Args:
    name: one of ``MODEL_NAMES``.
    rngs: the ``nnx.Rngs`` for parameters and dropout / stochastic depth (default
      ``nnx.Rngs(seed)``).
    seed: seed of the default ``rngs``.
    **overrides: config fields, e.g. ``num_frames``, ``num_joints``, ``in_channels``,
      ``joint_gathers``, ``dtype``, ``impl``, ``drop_path_rate``,
      ``official_gradients`` (lifters); ``num_frames``, ``routes``, ``stmm``,
      ``num_lrm``, ``dim`` ... (GLSMamba, see ``GLSMambaConfig``).

  Returns:
    The model, in training mode; ``model.config.name`` is ``name``.
  """
  return build(get_config(name, **overrides), rngs=rngs, seed=seed)


def create_abstract(name: str, **overrides: Any) -> nnx.Module:
  """The model with ``jax.ShapeDtypeStruct`` in place of arrays (no computation)."""
  return nnx.eval_shape(lambda: create(name, **overrides))


def count_parameters(model: nnx.Module) -> int:
  """Number of trainable parameter elements (``nnx.Param``), as PyTorch counts them."""
  return int(sum(np.prod(leaf.shape, dtype=np.int64)
                 for leaf in jax.tree.leaves(nnx.state(model, nnx.Param))))


def retired_options(name: str) -> Mapping[str, Any]:
  """Options model ``name`` no longer has, with the value it always uses now."""
  return _spec(name).retired


def describe(name: str) -> str:
  """One line about model ``name``."""
  return _spec(name).description


def loop_free_overrides(name: str, config: Any, frames: int) -> dict[str, Any]:
  """Overrides building model ``name`` without while loops (see ``ModelSpec``)."""
  make = _spec(name).loop_free
  return make(config, frames) if make else {}
