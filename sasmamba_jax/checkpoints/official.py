"""Official PoseMamba / SasMamba PyTorch weights <-> ``MambaLifter``; ViTPose too.

ViTPose state dicts (official, mmpose 1.x, Hugging Face) are recognised by their keys
and handled by ``checkpoints/vitpose.py``; ``load_official`` and ``to_official``
dispatch to it.

``load_official(source)`` reads a state dict (torch zip file, its unpacked folder,
``.npz`` or an in-memory mapping), infers the architecture from the tensors, checks
every key and shape, and returns a ready model in eval mode. ``to_official(model)``
gives the state dict back in official names and layouts (float32 NumPy arrays), e.g.
for ``torch.save({k: torch.from_numpy(v) for k, v in sd.items()}, path)``.

Layouts: PyTorch ``nn.Linear`` weights are (out, in), Flax kernels (in, out); PyTorch
convolution weights are OIHW, Flax kernels HWIO (transpose (2, 3, 1, 0)); LayerNorm
``weight`` is Flax's ``scale``; the SSM's own parameters keep the official layout.
"""

from __future__ import annotations

import dataclasses
import math
import pathlib
import re
import zipfile
import zlib
from typing import Any, Iterable, Mapping

import jax.numpy as jnp
import numpy as np
from flax import nnx

from sasmamba_jax import models
from sasmamba_jax import skeletons
from sasmamba_jax.checkpoints import vitpose as vitpose_weights
from sasmamba_jax.checkpoints.torch_pickle import CheckpointError
from sasmamba_jax.checkpoints.torch_pickle import read_torch_file
from sasmamba_jax.models.mamba_lifter import LifterConfig
from sasmamba_jax.models.mamba_lifter import MambaLifter
from sasmamba_jax.models.vitpose import ViTPose
from sasmamba_jax.models.vitpose import ViTPoseConfig

PathLike = str | pathlib.Path

# Top-level keys under which the official training scripts store the weights.
STATE_DICT_KEYS = ("model_pos", "model", "state_dict")
_BLOCK_LISTS = (("STEblocks", "spatial_blocks"), ("TTEblocks", "temporal_blocks"))

# Axis permutations taking an official tensor to the model's layout
# (``model = np.transpose(official, perm)``); None keeps the layout.
_IDENTITY = None
_LINEAR = (1, 0)  # (out, in) -> (in, out)
_CONV = (2, 3, 1, 0)  # OIHW -> HWIO
Layout = tuple[int, ...] | None


def _to_model(a: np.ndarray, perm: Layout) -> np.ndarray:
  return a if perm is None else np.transpose(a, perm)


def _to_official(a: np.ndarray, perm: Layout) -> np.ndarray:
  return a if perm is None else np.transpose(a, np.argsort(perm))


def _official_shape(model_shape: tuple[int, ...], perm: Layout) -> tuple[int, ...]:
  if perm is None:
    return tuple(model_shape)
  return tuple(model_shape[i] for i in np.argsort(perm))


def _layout_table(config: LifterConfig) -> list[tuple[str, tuple[Any, ...], Layout]]:
  """(official key, model parameter path, layout permutation) for every tensor."""
  table = [
      ("Spatial_pos_embed", ("spatial_pos_embed",), _IDENTITY),
      ("Temporal_pos_embed", ("temporal_pos_embed",), _IDENTITY),
      ("Spatial_patch_to_embedding.weight", ("joint_embed", "kernel"), _LINEAR),
      ("Spatial_patch_to_embedding.bias", ("joint_embed", "bias"), _IDENTITY),
  ]
  norm = lambda off, path: [(f"{off}.weight", path + ("scale",), _IDENTITY),
                            (f"{off}.bias", path + ("bias",), _IDENTITY)]
  for official, ours in _BLOCK_LISTS:
    for i in range(config.depth):
      o, p = f"{official}.{i}", (ours, i)
      table += norm(f"{o}.norm", p + ("norm",))
      for name in ("x_proj_weight", "dt_projs_weight", "dt_projs_bias", "A_logs", "Ds"):
        table.append((f"{o}.op.{name}", p + ("op", name), _IDENTITY))
      table += norm(f"{o}.op.out_norm", p + ("op", "out_norm"))
      table.append((f"{o}.op.in_proj.weight", p + ("op", "in_proj", "kernel"), _LINEAR))
      conv = p + ("op", "conv2d")
      if config.conv_type == "conv":
        table += [(f"{o}.op.conv2d.weight", conv + ("kernel",), _CONV),
                  (f"{o}.op.conv2d.bias", conv + ("bias",), _IDENTITY)]
      else:
        offset = conv + ("offset_conv",)
        table += [(f"{o}.op.conv2d.offset_conv.weight", offset + ("kernel",), _CONV),
                  (f"{o}.op.conv2d.offset_conv.bias", offset + ("bias",), _IDENTITY),
                  (f"{o}.op.conv2d.dcn.weight", conv + ("kernel",), _CONV),
                  (f"{o}.op.conv2d.dcn.bias", conv + ("bias",), _IDENTITY)]
      table.append((f"{o}.op.out_proj.weight", p + ("op", "out_proj", "kernel"), _LINEAR))
      table += norm(f"{o}.norm2", p + ("norm2",))
      for fc in ("fc1", "fc2"):
        table += [(f"{o}.mlp.{fc}.weight", p + ("mlp", fc, "kernel"), _LINEAR),
                  (f"{o}.mlp.{fc}.bias", p + ("mlp", fc, "bias"), _IDENTITY)]
  table += norm("Spatial_norm", ("spatial_norm",))
  table += norm("Temporal_norm", ("temporal_norm",))
  table += norm("head.0", ("head_norm",))
  table += [("head.1.weight", ("head", "kernel"), _LINEAR),
            ("head.1.bias", ("head", "bias"), _IDENTITY)]
  return table


def _params_by_path(model: MambaLifter) -> dict[tuple[Any, ...], Any]:
  return {tuple(path): var for path, var in
          nnx.to_flat_state(nnx.state(model, nnx.Param))}


def to_official(model: MambaLifter | ViTPose) -> dict[str, np.ndarray]:
  """The model's parameters as an official state dict (names, layouts; float32).

  Also maps anything stored in the parameters' place, e.g. gradients merged into a
  copy of the model, to the official layout. A ViTPose gives the official (mmpose
  0.x) names, BatchNorm statistics included (``checkpoints.vitpose.to_official``).
  """
  if isinstance(model, ViTPose):
    return vitpose_weights.to_official(model)
  if not isinstance(model, MambaLifter):
    raise TypeError(f"to_official: expected a PoseMamba / SasMamba MambaLifter, got "
                    f"{type(model).__name__}")
  params = _params_by_path(model)
  table = _layout_table(model.config)
  unmapped = set(params) - {path for _, path, _ in table}
  if unmapped:  # The table and the model must cover each other exactly.
    raise AssertionError(f"to_official: parameters without an official name: "
                         f"{sorted(unmapped)[:5]}")
  return {key: np.asarray(_to_official(np.asarray(params[path][...]), perm), np.float32)
          for key, path, perm in table}


def _format_keys(keys: Iterable[str], limit: int = 12) -> str:
  keys = sorted(keys)
  shown = ", ".join(keys[:limit])
  return shown + (f", ... ({len(keys) - limit} more)" if len(keys) > limit else "")


def read_state_dict(source: PathLike | Mapping[str, Any]) -> dict[str, np.ndarray]:
  """Official state dict from a file, folder or mapping, without the DataParallel prefix.

  Args:
    source: a torch zip checkpoint (``.pth`` etc.) or its unpacked folder, a ``.npz``
      keyed by official names, a ``.safetensors`` file or a folder holding
      ``model.safetensors`` (Hugging Face), or a mapping. A mapping or file whose top
      level holds ``model_pos`` (PoseMamba), ``model`` (SasMamba) or ``state_dict``
      is unwrapped.

  Returns:
    {official name: array}; a ``module.`` prefix on every key is removed.
  """
  what = "state dict"
  if isinstance(source, (str, pathlib.Path)):
    path = pathlib.Path(source)
    what = str(path)
    if path.is_dir() and (path / "model.safetensors").is_file():
      path = path / "model.safetensors"
    if path.suffix == ".safetensors" and path.is_file():
      obj = _read_safetensors(path)
    elif path.suffix == ".npz" and path.is_file():
      try:
        with np.load(path, allow_pickle=False) as f:
          obj = {k: f[k] for k in f.files}
      except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        # Pickled, truncated or corrupt members.
        raise CheckpointError(f"{path}: unreadable .npz ({e}); download or convert "
                              "it again") from None
    else:
      obj = read_torch_file(path)
  elif isinstance(source, Mapping):
    obj = source
  else:
    raise TypeError(f"load_official: source must be a path or a mapping of official "
                    f"names to arrays, got {type(source).__name__}")
  if not isinstance(obj, Mapping):
    raise CheckpointError(f"{what}: expected a dict of tensors, found "
                          f"{type(obj).__name__}")
  for key in STATE_DICT_KEYS:
    if key in obj and isinstance(obj[key], Mapping):
      obj = obj[key]
      break
  state = {}
  for k, v in obj.items():
    if not isinstance(k, str):
      raise CheckpointError(f"{what}: state dict keys must be strings, got {k!r:.40}")
    state[k] = v
  if state and all(k.startswith("module.") for k in state):
    state = {k[len("module."):]: v for k, v in state.items()}
  return state


def _read_safetensors(path: pathlib.Path) -> dict[str, np.ndarray]:
  from safetensors import SafetensorError  # pylint: disable=g-import-not-at-top
  from safetensors.numpy import load_file  # pylint: disable=g-import-not-at-top
  try:
    return load_file(str(path))
  except (SafetensorError, OSError, ValueError) as e:
    raise CheckpointError(f"{path}: unreadable safetensors file ({e})") from e


def _shape(state: Mapping[str, Any], key: str) -> tuple[int, ...]:
  if key not in state:
    raise CheckpointError(f"not a PoseMamba, SasMamba or ViTPose state dict: missing "
                          f"key {key!r}")
  return tuple(np.shape(state[key]))


def infer_config(state: Mapping[str, Any], **overrides: Any
                 ) -> LifterConfig | ViTPoseConfig:
  """Reads the architecture off an official state dict's tensor shapes.

  A ViTPose state dict (any layout) gives a ``ViTPoseConfig``
  (``checkpoints.vitpose.infer_config``); the rest of this docstring is the lifters'.

  Args:
    state: {official name: array}.
    **overrides: ``LifterConfig`` fields to set (run options such as dtype, impl,
      official_gradients, drop_path_rate; ``joint_gathers`` for layouts other than
      17 joints with PoseMamba's plain convolution).

  Returns:
    The config: PoseMamba (plain conv, limb gather) or SasMamba (deformable conv,
    stride gathers), with dim, depth, frames, joints, input channels, MLP ratio,
    state size, dt rank, expansion and conv kernel taken from the tensors; its
    ``name`` is the registered model of that family, width and depth ("" if none).
  """
  if vitpose_weights.detect_format(state):
    official, _ = vitpose_weights.to_official_names(state, strict=False)
    return vitpose_weights.infer_config(official, **overrides)
  dim, in_channels = _shape(state, "Spatial_patch_to_embedding.weight")
  _, num_joints, _ = _shape(state, "Spatial_pos_embed")
  _, num_frames, _ = _shape(state, "Temporal_pos_embed")
  depths = []
  for official, _ in _BLOCK_LISTS:
    idx = {int(m.group(1)) for k in state
           if (m := re.match(rf"{official}\.(\d+)\.", k))}
    if not idx or idx != set(range(len(idx))):
      raise CheckpointError(f"state dict: {official} blocks must be numbered 0..n-1, "
                            f"found {sorted(idx)}")
    depths.append(len(idx))
  if depths[0] != depths[1]:
    raise CheckpointError(f"state dict: {depths[0]} STEblocks but {depths[1]} TTEblocks")
  blk = "STEblocks.0"
  two_inner, _ = _shape(state, f"{blk}.op.in_proj.weight")
  d_inner = two_inner // 2
  hidden, _ = _shape(state, f"{blk}.mlp.fc1.weight")
  rows, d_state = _shape(state, f"{blk}.op.A_logs")
  _, _, dt_rank = _shape(state, f"{blk}.op.dt_projs_weight")
  if rows != 4 * d_inner:
    raise CheckpointError(f"state dict: {blk}.op.A_logs has {rows} rows, expected "
                          f"4 directions x d_inner {d_inner}")
  if f"{blk}.op.conv2d.offset_conv.weight" in state:
    conv_type, family = "deform", "sasmamba"
    conv_kernel = _shape(state, f"{blk}.op.conv2d.dcn.weight")[-1]
    gathers = skeletons.sasmamba_gathers(num_joints)
  else:
    conv_type, family = "conv", "posemamba"
    conv_kernel = _shape(state, f"{blk}.op.conv2d.weight")[-1]
    gathers = (skeletons.POSEMAMBA_LIMB_GATHER_H36M,) if num_joints == 17 else None
  mlp_ratio, ssm_ratio = hidden / dim, d_inner / dim
  if int(dim * mlp_ratio) != hidden or int(dim * ssm_ratio) != d_inner:
    raise CheckpointError(f"state dict: hidden widths {hidden} / {d_inner} are not "
                          f"expressible as ratios of dim {dim}")
  fields = dict(family=family, num_frames=num_frames, num_joints=num_joints,
                in_channels=in_channels, dim=dim, depth=depths[0], mlp_ratio=mlp_ratio,
                d_state=d_state, ssm_ratio=ssm_ratio,
                dt_rank=None if dt_rank == math.ceil(dim / 16) else dt_rank,
                conv_kernel=conv_kernel, conv_type=conv_type, joint_gathers=gathers)
  fields.update(overrides)
  if fields["joint_gathers"] is None:
    raise CheckpointError(
        f"state dict: a PoseMamba model with {num_joints} joints; its limb gather is "
        "defined for 17 joints only: pass joint_gathers=... for this layout")
  try:
    config = LifterConfig(**fields)
  except (TypeError, ValueError) as e:
    raise CheckpointError(f"state dict: cannot build a model from it: {e}") from e
  # Its registered architecture ("" for another size): what a model card calls it.
  return dataclasses.replace(config, name=models.name_for(config))


def _to_float32(key: str, value: Any) -> np.ndarray:
  try:
    arr = np.asarray(value)
  except Exception as e:  # pylint: disable=broad-except  # Any non-array value.
    raise CheckpointError(f"state dict: {key} is not an array ({e})") from e
  if not (np.issubdtype(arr.dtype, np.floating) or arr.dtype.name == "bfloat16"):
    raise CheckpointError(f"state dict: {key} has dtype {arr.dtype}, expected floats")
  return arr.astype(np.float32)


def load_official(source: PathLike | Mapping[str, Any], *, strict: bool = True,
                  seed: int = 0, **overrides: Any) -> MambaLifter | ViTPose:
  """Builds a ``MambaLifter`` holding official PoseMamba or SasMamba weights.

  ViTPose weights (official ``.pth``, the mmpose 1.x re-release, Hugging Face
  safetensors) give a ``ViTPose`` instead (``checkpoints.vitpose.load``; overrides
  are ``ViTPoseConfig`` fields, e.g. ``num_heads``, ``image_size``, ``dtype``,
  ``frozen``).

  Args:
    source: see ``read_state_dict``: a torch checkpoint (zip or unpacked folder),
      ``.npz``, or a mapping of official names to arrays.
    strict: raise on keys the model does not use (missing keys always raise).
    seed: seeds the ``nnx.Rngs`` of stochastic depth / dropout for fine-tuning.
    **overrides: ``LifterConfig`` fields, e.g. ``dtype="bfloat16"``, ``impl``,
      ``official_gradients=False``, ``drop_path_rate``.

  Returns:
    The model in eval mode (call ``model.train()`` to fine-tune). Parameters are
    float32 whatever the file's dtype.

  Raises:
    CheckpointError: unreadable or unsafe file, unknown architecture, missing or
      unexpected keys, or a tensor of the wrong shape (each named).
  """
  try:
    return _load_official(source, strict=strict, seed=seed, **overrides)
  except CheckpointError as e:
    # Messages about the tensors name the file they came from.
    if isinstance(source, (str, pathlib.Path)) and str(source) not in str(e):
      raise type(e)(f"{source}: {e}") from None
    raise


def _load_official(source: PathLike | Mapping[str, Any], *, strict: bool, seed: int,
                   **overrides: Any) -> MambaLifter | ViTPose:
  state = read_state_dict(source)
  if vitpose_weights.detect_format(state):
    return vitpose_weights.load(state, strict=strict, seed=seed, source=source,
                                **overrides)
  config = infer_config(state, **overrides)
  # Eager construction: unlike nnx.eval_shape (whose cost grows with the square of
  # the number of layers in flax 0.12) it scales linearly, and it gives real RNG
  # streams for fine-tuning; the initial weights are then overwritten.
  model = MambaLifter(config, rngs=nnx.Rngs(seed))
  params = _params_by_path(model)
  table = _layout_table(config)
  expected = {key: _official_shape(params[path].shape, perm) for key, path, perm in table}
  missing = set(expected) - set(state)
  unexpected = set(state) - set(expected)
  if missing:
    raise CheckpointError(f"state dict: missing keys for a {config.family} model "
                          f"(dim {config.dim}, depth {config.depth}): "
                          f"{_format_keys(missing)}")
  if unexpected and strict:
    raise CheckpointError(f"state dict: unexpected keys (not used by a {config.family} "
                          f"model; strict=False ignores them): "
                          f"{_format_keys(unexpected)}")
  wrong = [f"{key} {tuple(np.shape(state[key]))} (expected {expected[key]})"
           for key in sorted(expected) if tuple(np.shape(state[key])) != expected[key]]
  if wrong:
    more = f"; ... ({len(wrong) - 12} more)" if len(wrong) > 12 else ""
    raise CheckpointError(f"state dict: wrong shapes: {'; '.join(wrong[:12])}{more}")
  for key, path, perm in table:
    params[path][...] = jnp.asarray(_to_model(_to_float32(key, state[key]), perm))
  model.eval()
  return model
