"""ViTPose weights: the official release, the mmpose 1.x re-release, Hugging Face.

``checkpoints.load_official(source)`` comes here when the state dict is a ViTPose one
(it reads the file; see ``official.read_state_dict``). Three layouts are recognised by
their key names and mapped to the official ones first:

- official (ViTAE-Transformer/ViTPose, mmpose 0.x): ``backbone.patch_embed.proj``,
  ``backbone.pos_embed`` (1, 1 + N, C) with a class slot, ``backbone.blocks.{i}.{norm1,
  attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2}``, ``backbone.last_norm``,
  ``keypoint_head.deconv_layers.{0, 1, 3, 4}``, ``keypoint_head.final_layer``;
  multi-dataset files add ``backbone.cls_token`` and ``associate_heads.*`` (ignored);
- mmpose 1.x (mmpretrain's ViT): ``backbone.patch_embed.projection``,
  ``backbone.layers.{i}.{ln1, attn.qkv, attn.proj, ln2, ffn.layers.0.0, ffn.layers.1}``,
  ``backbone.ln1``, ``head.*``; ``backbone.pos_embed`` is (1, N, C) without the class
  slot (mmpose 1.x adds no class slot either): loaded with a zero class slot, which
  computes exactly what mmpose 1.x computes; the re-released numbers differ slightly
  from the official ones;
- Hugging Face transformers (``usyd-community/vitpose-base``, safetensors):
  ``backbone.embeddings.{patch_embeddings.projection, position_embeddings}``,
  ``backbone.encoder.layer.{i}.{layernorm_before, attention.attention.{query, key,
  value}, attention.output.dense, layernorm_after, mlp.fc1, mlp.fc2}``,
  ``backbone.layernorm``, ``head.{deconv1, batchnorm1, deconv2, batchnorm2, conv}``;
  the official semantics (class slot kept), q / k / v split.

The architecture is read off the tensors, except the number of attention heads,
which no layout stores: the released widths are recognised (S 384 / 12, B 768 / 12,
L 1024 / 16, H 1280 / 16; a Hugging Face ``config.json`` beside the weights is read
too), any other width needs ``load_official(source, num_heads=N)``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import pathlib
import re
from typing import Any, Iterable, Mapping

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from sasmamba_jax import models
from sasmamba_jax.checkpoints.torch_pickle import CheckpointError
from sasmamba_jax.models.vitpose import RELEASED_SIZES
from sasmamba_jax.nn.droppath import DropRate
from sasmamba_jax.models.vitpose import ViTPose
from sasmamba_jax.models.vitpose import ViTPoseConfig

# Keys some official files carry that the pose model does not use.
IGNORED_KEYS = (r"backbone\.cls_token", r"associate_heads\..*")
_IGNORED = re.compile("|".join(f"(?:{p})" for p in IGNORED_KEYS))

_LINEAR = (1, 0)  # (out, in) -> (in, out)
_CONV = (2, 3, 1, 0)  # OIHW -> HWIO
_DECONV = (2, 3, 0, 1)  # PyTorch ConvTranspose (in, out, kh, kw) -> (kh, kw, in, out)
Layout = tuple[int, ...] | None

# (pattern, replacement) renaming a re-release's keys to the official ones.
_MMPOSE1_RULES = [
    (r"^backbone\.patch_embed\.projection\.", "backbone.patch_embed.proj."),
    (r"^backbone\.pos_embed$", "backbone.pos_embed"),
    (r"^backbone\.layers\.(\d+)\.ln1\.", r"backbone.blocks.\1.norm1."),
    (r"^backbone\.layers\.(\d+)\.ln2\.", r"backbone.blocks.\1.norm2."),
    (r"^backbone\.layers\.(\d+)\.attn\.(qkv|proj)\.", r"backbone.blocks.\1.attn.\2."),
    (r"^backbone\.layers\.(\d+)\.ffn\.layers\.0\.0\.", r"backbone.blocks.\1.mlp.fc1."),
    (r"^backbone\.layers\.(\d+)\.ffn\.layers\.1\.", r"backbone.blocks.\1.mlp.fc2."),
    (r"^backbone\.ln1\.", "backbone.last_norm."),
    (r"^head\.(deconv_layers|final_layer)\.", r"keypoint_head.\1."),
]
_HF_RULES = [
    (r"^backbone\.embeddings\.patch_embeddings\.projection\.",
     "backbone.patch_embed.proj."),
    (r"^backbone\.embeddings\.position_embeddings$", "backbone.pos_embed"),
    (r"^backbone\.encoder\.layer\.(\d+)\.layernorm_before\.", r"backbone.blocks.\1.norm1."),
    (r"^backbone\.encoder\.layer\.(\d+)\.layernorm_after\.", r"backbone.blocks.\1.norm2."),
    (r"^backbone\.encoder\.layer\.(\d+)\.attention\.output\.dense\.",
     r"backbone.blocks.\1.attn.proj."),
    # query / key / value are concatenated into qkv afterwards.
    (r"^backbone\.encoder\.layer\.(\d+)\.attention\.attention\.(query|key|value)\.",
     r"backbone.blocks.\1.attn.\2."),
    (r"^backbone\.encoder\.layer\.(\d+)\.mlp\.(fc1|fc2)\.", r"backbone.blocks.\1.mlp.\2."),
    (r"^backbone\.layernorm\.", "backbone.last_norm."),
    (r"^head\.deconv(\d+)\.", lambda m: f"keypoint_head.deconv_layers."
     f"{3 * (int(m.group(1)) - 1)}."),
    (r"^head\.batchnorm(\d+)\.", lambda m: f"keypoint_head.deconv_layers."
     f"{3 * (int(m.group(1)) - 1) + 1}."),
    (r"^head\.conv\.", "keypoint_head.final_layer."),
]
_OFFICIAL_MARK = "backbone.blocks.0.norm1.weight"
_FORMATS = {
    "official": ("backbone.patch_embed.proj.weight", None),
    "mmpose1": ("backbone.patch_embed.projection.weight", _MMPOSE1_RULES),
    "huggingface": ("backbone.embeddings.patch_embeddings.projection.weight", _HF_RULES),
}


def detect_format(state: Mapping[str, Any]) -> str | None:
  """"official", "mmpose1", "huggingface", or None for a state dict that is not ViTPose."""
  for name, (marker, _) in _FORMATS.items():
    if marker in state:
      return name
  return None


def _format_keys(keys: Iterable[str], limit: int = 12) -> str:
  keys = sorted(keys)
  shown = ", ".join(keys[:limit])
  return shown + (f", ... ({len(keys) - limit} more)" if len(keys) > limit else "")


def to_official_names(state: Mapping[str, Any], *, strict: bool = True
                      ) -> tuple[dict[str, Any], list[str]]:
  """A ViTPose state dict of any known layout in official names and layouts.

  Returns:
    ({official key: array}, ignored keys). Keys of ``IGNORED_KEYS`` are dropped;
    with ``strict`` any other key that no rule of the layout knows raises.
  """
  fmt = detect_format(state)
  if fmt is None:
    raise CheckpointError("not a ViTPose state dict: none of "
                          f"{[m for m, _ in _FORMATS.values()]} is present")
  rules = _FORMATS[fmt][1]
  ignored, unknown, out = [], [], {}
  for key, value in state.items():
    if _IGNORED.fullmatch(key):
      ignored.append(key)
      continue
    if rules is None:
      out[key] = value
      continue
    for pattern, replacement in rules:
      new, n = re.subn(pattern, replacement, key)
      if n:
        out[new] = value
        break
    else:
      unknown.append(key)
  if unknown and strict:
    raise CheckpointError(f"state dict ({fmt} ViTPose layout): unexpected keys "
                          f"(strict=False ignores them): {_format_keys(unknown)}")
  if fmt == "mmpose1" and "backbone.pos_embed" in out:
    table = np.asarray(out["backbone.pos_embed"])
    if table.ndim == 3:  # No class slot: a zero one adds nothing, as in mmpose 1.x.
      out["backbone.pos_embed"] = np.concatenate(
          [np.zeros_like(table[:, :1]), table], axis=1)
  if fmt == "huggingface":
    out = _join_qkv(out)
  return out, sorted(ignored)


def _join_qkv(state: dict[str, Any]) -> dict[str, Any]:
  out = {}
  parts: dict[str, dict[str, Any]] = {}
  for key, value in state.items():
    m = re.fullmatch(r"(backbone\.blocks\.\d+\.attn\.)(query|key|value)\.(weight|bias)",
                     key)
    if m:
      parts.setdefault(f"{m.group(1)}qkv.{m.group(3)}", {})[m.group(2)] = value
    else:
      out[key] = value
  for key, qkv in parts.items():
    missing = [n for n in ("query", "key", "value") if n not in qkv]
    if missing:
      raise CheckpointError(f"state dict (huggingface ViTPose layout): {key} lacks "
                            f"{missing}")
    out[key] = np.concatenate([np.asarray(qkv[n]) for n in ("query", "key", "value")])
  return out


def _layout_table(config: ViTPoseConfig) -> list[tuple[str, tuple[Any, ...], Layout]]:
  """(official key, model variable path, layout permutation) of every tensor."""
  def norm(off, path):
    return [(f"{off}.weight", path + ("scale",), None),
            (f"{off}.bias", path + ("bias",), None)]

  def linear(off, path, bias=True):
    return [(f"{off}.weight", path + ("kernel",), _LINEAR)] + (
        [(f"{off}.bias", path + ("bias",), None)] if bias else [])

  b, h = ("backbone",), ("keypoint_head",)
  table = [("backbone.pos_embed", b + ("pos_embed",), None),
           ("backbone.patch_embed.proj.weight", b + ("patch_embed", "kernel"), _CONV),
           ("backbone.patch_embed.proj.bias", b + ("patch_embed", "bias"), None)]
  for i in range(config.depth):
    o, p = f"backbone.blocks.{i}", b + ("blocks", i)
    table += norm(f"{o}.norm1", p + ("norm1",))
    table += linear(f"{o}.attn.qkv", p + ("attn", "qkv"), config.qkv_bias)
    table += linear(f"{o}.attn.proj", p + ("attn", "proj"))
    table += norm(f"{o}.norm2", p + ("norm2",))
    table += linear(f"{o}.mlp.fc1", p + ("mlp", "fc1"))
    table += linear(f"{o}.mlp.fc2", p + ("mlp", "fc2"))
  table += norm("backbone.last_norm", b + ("last_norm",))
  for i in range(len(config.deconv_filters)):
    o = f"keypoint_head.deconv_layers"
    table.append((f"{o}.{3 * i}.weight", h + ("deconvs", i, "kernel"), _DECONV))
    n = h + ("norms", i)
    table += norm(f"{o}.{3 * i + 1}", n)
    table += [(f"{o}.{3 * i + 1}.running_mean", n + ("mean",), None),
              (f"{o}.{3 * i + 1}.running_var", n + ("var",), None),
              (f"{o}.{3 * i + 1}.num_batches_tracked", n + ("num_batches_tracked",),
               None)]
  table += [("keypoint_head.final_layer.weight", h + ("final_layer", "kernel"), _CONV),
            ("keypoint_head.final_layer.bias", h + ("final_layer", "bias"), None)]
  return table


def official_shapes(config: ViTPoseConfig) -> dict[str, tuple[int, ...]]:
  """{official key: PyTorch shape} of every tensor of a model with ``config``."""
  model = nnx.eval_shape(lambda: ViTPose(config, rngs=nnx.Rngs(0)))
  variables = _variables_by_path(model)
  out = {}
  for key, path, perm in _layout_table(config):
    shape = variables[path].shape
    out[key] = tuple(shape[i] for i in np.argsort(perm)) if perm else tuple(shape)
  return out


def _variables_by_path(model: ViTPose) -> dict[tuple[Any, ...], Any]:
  return {tuple(path): var for path, var in
          nnx.to_flat_state(nnx.state(model, (nnx.Param, nnx.BatchStat)))}


def to_official(model: ViTPose) -> dict[str, np.ndarray]:
  """The model's variables as an official ViTPose state dict (mmpose 0.x names).

  float32 arrays in PyTorch layouts, ``num_batches_tracked`` int64. Also maps
  anything stored in the parameters' place (e.g. gradients merged into a copy).
  """
  if not isinstance(model, ViTPose):
    raise TypeError(f"to_official: expected a ViTPose, got {type(model).__name__}")
  variables = _variables_by_path(model)
  table = _layout_table(model.config)
  unmapped = set(variables) - {path for _, path, _ in table}
  if unmapped:
    raise AssertionError(f"to_official: variables without an official name: "
                         f"{sorted(unmapped)[:5]}")
  out = {}
  for key, path, perm in table:
    a = np.asarray(variables[path][...])
    if perm is not None:
      a = np.transpose(a, np.argsort(perm))
    out[key] = a.astype(np.int64 if key.endswith("num_batches_tracked") else np.float32)
  return out


def _shape(state: Mapping[str, Any], key: str) -> tuple[int, ...]:
  if key not in state:
    raise CheckpointError(f"ViTPose state dict: missing key {key!r}")
  return tuple(np.shape(state[key]))


def _indices(state: Mapping[str, Any], pattern: str) -> list[int]:
  return sorted({int(m.group(1)) for k in state if (m := re.match(pattern, k))})


def hf_config_hints(source: Any) -> dict[str, Any]:
  """num_heads / image_size from a Hugging Face ``config.json`` beside the weights."""
  if not isinstance(source, (str, pathlib.Path)):
    return {}
  path = pathlib.Path(source)
  config = (path if path.is_dir() else path.parent) / "config.json"
  try:
    meta = json.loads(config.read_text())
    backbone = meta.get("backbone_config") or {}
  except (OSError, ValueError, AttributeError, RecursionError):
    return {}
  hints = {}
  heads = backbone.get("num_attention_heads")
  if isinstance(heads, int):
    hints["num_heads"] = heads
  size = backbone.get("image_size")
  if isinstance(size, (list, tuple)) and len(size) == 2:
    hints["image_size"] = tuple(int(s) for s in size)
  return hints


def infer_config(state: Mapping[str, Any], **overrides: Any) -> ViTPoseConfig:
  """The architecture of an official-named ViTPose state dict.

  Args:
    state: {official key: array} (``to_official_names`` of any layout).
    **overrides: ``ViTPoseConfig`` fields: ``num_heads`` (needed for widths other
      than the released 384 / 768 / 1024 / 1280), ``image_size`` (else read off the
      position table assuming the 4 : 3 crops of every ViTPose config), run options
      (``dtype``, ``frozen``, ``drop_path_rate``).
  """
  width, channels, patch, patch_w = _shape(state, "backbone.patch_embed.proj.weight")
  if channels != 3 or patch != patch_w:
    raise CheckpointError(f"ViTPose state dict: patch_embed.proj.weight has shape "
                          f"{(width, channels, patch, patch_w)}; expected (C, 3, p, p)")
  blocks = _indices(state, r"backbone\.blocks\.(\d+)\.")
  if not blocks or blocks != list(range(len(blocks))):
    raise CheckpointError(f"ViTPose state dict: blocks must be numbered 0..n-1, found "
                          f"{blocks}")
  hidden, _ = _shape(state, "backbone.blocks.0.mlp.fc1.weight")
  _, slots, _ = _shape(state, "backbone.pos_embed")
  deconvs = [i for i in _indices(state, r"keypoint_head\.deconv_layers\.(\d+)\.weight")
             if len(_shape(state, f"keypoint_head.deconv_layers.{i}.weight")) == 4]
  if not deconvs:
    raise CheckpointError("ViTPose state dict: no keypoint_head.deconv_layers: only "
                          "the classic head (deconvolutions + 1 x 1 conv) is "
                          "supported, not the simple decoder")
  if deconvs != [3 * i for i in range(len(deconvs))]:
    raise CheckpointError(f"ViTPose state dict: deconv layers at {deconvs}, expected "
                          "0, 3, 6, ...")
  shapes = [_shape(state, f"keypoint_head.deconv_layers.{i}.weight") for i in deconvs]
  keypoints, _, final_k, _ = _shape(state, "keypoint_head.final_layer.weight")
  fields: dict[str, Any] = dict(
      embed_dim=width, depth=len(blocks), patch_size=patch, mlp_ratio=hidden / width,
      qkv_bias="backbone.blocks.0.attn.qkv.bias" in state,
      deconv_filters=tuple(s[1] for s in shapes), deconv_kernel=shapes[0][2],
      final_conv_kernel=final_k, num_keypoints=keypoints,
      drop_path_rate=RELEASED_SIZES.get(width, (0, 0, 0.0))[2])
  if int(width * fields["mlp_ratio"]) != hidden:
    raise CheckpointError(f"ViTPose state dict: MLP width {hidden} is not a ratio of "
                          f"the width {width}")
  fields.update(overrides)
  if "num_heads" not in overrides:
    if width not in RELEASED_SIZES:
      raise CheckpointError(
          f"ViTPose state dict of width {width}: the number of attention heads is not "
          f"stored in the weights and {width} is no released size (S 384, B 768, "
          "L 1024, H 1280); pass it: load_official(source, num_heads=N)")
    fields["num_heads"] = RELEASED_SIZES[width][1]
  tokens = slots - 1
  if "image_size" not in overrides:
    # Every ViTPose config crops 4 : 3 (256 x 192, 384 x 288, ...): Hp = 4 k, Wp = 3 k.
    k = math.isqrt(tokens // 12) if tokens % 12 == 0 else 0
    if k < 1 or 12 * k * k != tokens:
      raise CheckpointError(
          f"ViTPose state dict: the position table has {tokens} patch rows, not a "
          "4 : 3 grid; pass the training crop: load_official(source, "
          "image_size=(H, W))")
    fields["image_size"] = (4 * k * patch, 3 * k * patch)
  try:
    config = ViTPoseConfig(**fields)
  except (TypeError, ValueError) as e:
    raise CheckpointError(f"ViTPose state dict: cannot build a model from it: {e}"
                          ) from e
  # The released size it is (width, depth and heads), or "": no registered ViTPose.
  config = dataclasses.replace(config, name=models.name_for(config))
  hp, wp = config.token_grid(config.image_size)
  if hp * wp != tokens:
    raise CheckpointError(f"ViTPose state dict: image_size {config.image_size} gives "
                          f"{hp} x {wp} tokens, the position table has {tokens}")
  return config


def placeholder_model(config: ViTPoseConfig, seed: int = 0) -> ViTPose:
  """A ``ViTPose`` with zero weights, fast to build, for weights loaded afterwards.

  Built with ``nnx.eval_shape`` (eager construction draws every initial weight,
  ~20 s for ViTPose-B on 2 CPU cores, only to throw them away). Parameters and
  BatchNorm statistics are zeros; stochastic-depth rates come from the config; each
  RNG stream gets its own key folded from ``seed`` (other streams than an eagerly
  built model's, which only matters for the draws of fine-tuning).
  """
  model = nnx.eval_shape(lambda: ViTPose(config, rngs=nnx.Rngs(seed)))
  rates = config.drop_path_rates()
  base = jax.random.key(seed)
  for i, (path, var) in enumerate(nnx.to_flat_state(nnx.state(model))):
    if isinstance(var, (nnx.Param, nnx.BatchStat)):
      var.set_value(jnp.asarray(np.zeros(var.shape, var.dtype)))
    elif isinstance(var, nnx.RngKey):
      var.set_value(jax.random.fold_in(base, i))
    elif isinstance(var, nnx.RngCount):
      var.set_value(jnp.zeros(var.shape, var.dtype))
    elif isinstance(var, DropRate):
      var.set_value(jnp.asarray(rates[path[path.index("blocks") + 1]], jnp.float32))
    else:
      raise AssertionError(f"placeholder_model: no value for {type(var).__name__} at "
                           f"{path}")
  return model


def load(state: Mapping[str, Any], *, strict: bool = True, seed: int = 0,
         source: Any = None, **overrides: Any) -> ViTPose:
  """A ``ViTPose`` holding the weights of a ViTPose state dict of any known layout.

  Args:
    state: {key: array} as read from the file (``official.read_state_dict``).
    strict: raise on keys no layout rule knows (missing keys always raise;
      ``IGNORED_KEYS`` never do).
    seed: seeds the RNG streams (stochastic depth) for fine-tuning.
    source: the file or folder read, for a Hugging Face ``config.json`` beside it.
    **overrides: ``ViTPoseConfig`` fields (see ``infer_config``).

  Returns:
    The model in eval mode, float32 parameters.
  """
  official, _ = to_official_names(state, strict=strict)
  hints = {k: v for k, v in hf_config_hints(source).items() if k not in overrides}
  config = infer_config(official, **hints, **overrides)
  model = placeholder_model(config, seed)
  width = config.embed_dim
  variables = _variables_by_path(model)
  table = _layout_table(config)
  expected = {}
  for key, path, perm in table:
    shape = variables[path].shape
    expected[key] = tuple(shape[i] for i in np.argsort(perm)) if perm else tuple(shape)
  missing = set(expected) - set(official)
  unexpected = set(official) - set(expected)
  if missing:
    raise CheckpointError(f"ViTPose state dict: missing keys (width {width}, depth "
                          f"{config.depth}): {_format_keys(missing)}")
  if unexpected and strict:
    raise CheckpointError(f"ViTPose state dict: unexpected keys (strict=False ignores "
                          f"them): {_format_keys(unexpected)}")
  wrong = [f"{k} {tuple(np.shape(official[k]))} (expected {expected[k]})"
           for k in sorted(expected) if tuple(np.shape(official[k])) != expected[k]]
  if wrong:
    raise CheckpointError(f"ViTPose state dict: wrong shapes: {'; '.join(wrong[:12])}")
  for key, path, perm in table:
    a = np.asarray(official[key])
    if key.endswith("num_batches_tracked"):
      variables[path].set_value(jnp.asarray(a, jnp.int32))
      continue
    if not (np.issubdtype(a.dtype, np.floating) or a.dtype.name == "bfloat16"):
      raise CheckpointError(f"ViTPose state dict: {key} has dtype {a.dtype}, expected "
                            "floats")
    a = a.astype(np.float32)
    variables[path].set_value(jnp.asarray(a if perm is None else np.transpose(a, perm)))
  model.eval()
  return model
