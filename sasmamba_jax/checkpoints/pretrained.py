"""Model directories for downstream JAX projects: ``save_pretrained`` and loading them.

A model directory holds:
- ``config.json``: the registry name and every constructor argument of the model, its
  input and output contracts, the library version, and (when exported from a run)
  the source checkpoint, step and evaluation results;
- ``model.safetensors``: every variable (parameters, BatchNorm statistics) under flat
  ``a/b/c`` keys, float32, readable with numpy and ``safetensors`` alone (no pickle);
  its metadata holds the library version and the SHA-256 of config.json;
- ``forward.jaxexport``: the eval-mode forward serialized with ``jax.export``,
  ``exported.call(weights, x)`` with ``weights = safetensors.numpy.load_file(...)``,
  the batch dimension symbolic, lowered for cpu, cuda and tpu: usable with
  ``jax.export.deserialize`` and nothing of ours. It is tied to JAX's export
  compatibility window and rebuilt on every export; config + weights are the source
  of truth;
- ``README.md``: a model card.

``sasmamba_jax.load`` (``sasmamba_jax/loading.py``) loads these, run directories
of ours and official PyTorch checkpoints with one function.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import pathlib
from typing import Any, Mapping

from flax import nnx
import jax
import jax.numpy as jnp
import numpy as np

from sasmamba_jax import models
from sasmamba_jax.checkpoints import vitpose as vitpose_weights
from sasmamba_jax.nn.paths import path_string
from sasmamba_jax.ops import dispatch
from sasmamba_jax.version import __version__

FORMAT = "sasmamba_jax.pretrained"
FORMAT_VERSION = 1
CONFIG_FILE, WEIGHTS_FILE, FORWARD_FILE, CARD_FILE = (
    "config.json", "model.safetensors", "forward.jaxexport", "README.md")
PLATFORMS = ("cpu", "cuda", "tpu")
_TOP_KEYS = {"format", "format_version", "library_version", "model", "input",
             "output", "source", "metrics"}


class PretrainedError(ValueError):
  """A model directory that cannot be loaded (the message names the file and fix)."""


def _variables(model: nnx.Module) -> nnx.State:
  return nnx.state(model, nnx.Not(nnx.RngState))


def _fill(state: nnx.State, weights: Mapping[str, Any]) -> nnx.State:
  """``state`` with every array replaced by ``weights[its key]``."""
  return jax.tree_util.tree_map_with_path(lambda p, _: weights[path_string(p)], state)


def _weights(model: nnx.Module) -> dict[str, np.ndarray]:
  """Every non-RNG variable of ``model`` as flat ``a/b/c`` -> float32 (or int) arrays."""
  out = {}
  for path, value in jax.tree_util.tree_flatten_with_path(_variables(model))[0]:
    array = np.asarray(value)
    if array.dtype.kind == "f":
      array = array.astype(np.float32)
    out[path_string(path)] = np.ascontiguousarray(array)
  return out


def _is_pose2d(config: Any) -> bool:
  return isinstance(config, models.ViTPoseConfig)


def _pose2d_contracts(config: Any) -> tuple[dict[str, Any], dict[str, Any]]:
  from sasmamba_jax.models import vitpose  # pylint: disable=g-import-not-at-top
  h, w = config.image_size
  hh, hw = config.heatmap_size()
  inputs = {
      "shape": ["batch", h, w, 3],
      "dtype": "float32",
      "normalisation": (f"RGB / 255, minus mean {list(vitpose.IMAGE_MEAN)}, divided "
                        f"by std {list(vitpose.IMAGE_STD)}; a person crop"),
  }
  outputs = {
      "shape": ["batch", hh, hw, config.num_keypoints],
      "dtype": "float32",
      "units": "keypoint heatmaps (COCO order for K = 17); decode with argmax + DARK "
               "(sasmamba_jax.topdown)",
  }
  return inputs, outputs


def _contracts(config: Any) -> tuple[dict[str, Any], dict[str, Any]]:
  if _is_pose2d(config):
    return _pose2d_contracts(config)
  joints = getattr(config, "num_joints", None)
  channels = getattr(config, "in_channels", None)
  frames = getattr(config, "num_frames", None)
  inputs = {
      "shape": ["batch", "T", joints, channels],
      "dtype": "float32",
      "frames": ({"min": 1, "max": frames} if frames else {"min": 1, "max": None}),
      "joint_layout": "h36m" if joints == 17 else f"{joints} joints (see skeletons)",
      "channels": ["x", "y"] + (["confidence"] if channels == 3 else []),
      "normalisation": ("screen coordinates of the MotionBERT lineage: x / w * 2 - 1, "
                        "y / w * 2 - h / w for an image of width w and height h"),
  }
  outputs = {
      "shape": ["batch", "T", joints, 3],
      "dtype": "float32",
      "units": ("normalised like the input (x, y image-aligned, depth z / w * 2); "
                "multiply by w / 2 for pixels and by the camera's mm-per-pixel factor "
                "for millimetres"),
      "root_relative": True,
  }
  return inputs, outputs


def model_config(model: nnx.Module) -> Any:
  """The config dataclass of a registered model (its ``name`` and fields rebuild it)."""
  config = getattr(model, "config", None)
  if config is None or type(config).__name__ not in models.config_types():
    raise PretrainedError(f"{type(model).__name__} is not a registered model (its "
                          f"parts may be: {', '.join(models.MODEL_NAMES)})")
  return config


def _description(m: dict[str, Any]) -> str:
  if m["name"]:
    return models.describe(m["name"])
  arch = m.get("config_type", "model")
  return f"An architecture that no registered model describes ({arch})"


def _config_fields(config: Any) -> dict[str, Any]:
  return json.loads(json.dumps(dataclasses.asdict(config)))


def export_forward(model: nnx.Module, weights: Mapping[str, np.ndarray]
                   ) -> tuple[bytes, str | int | None]:
  """``jax.export`` of ``forward(weights, x)`` (eval mode), batch symbolic.

  Returns:
    (serialized, frames): ``frames`` is "T" when the clip length is symbolic too
    (any T, or T <= num_frames), else the fixed T = num_frames: the Mamba lifters'
    selective scan chooses its chunking from a concrete length, so their export
    takes clips of exactly num_frames frames. Image models (ViTPose) take crops of
    their configured size, any batch; ``frames`` is None.
  """
  if _is_pose2d(model.config):
    return _export(model, weights, symbolic_frames=False), None
  try:
    return _export(model, weights, symbolic_frames=True), "T"
  except Exception as e:  # pylint: disable=broad-except
    # jax.export raises InconclusiveDimensionOperation (not public API) when a
    # computation needs the concrete length.
    if type(e).__name__ != "InconclusiveDimensionOperation" or not getattr(
        model.config, "num_frames", None):
      raise
  return (_export(model, weights, symbolic_frames=False),
          int(model.config.num_frames))


def _export(model: nnx.Module, weights: Mapping[str, np.ndarray], *,
            symbolic_frames: bool) -> bytes:
  graphdef, variables, rng_state = nnx.split(model, nnx.Not(nnx.RngState), ...)
  config = model.config

  def forward(weights, x):
    merged = nnx.merge(graphdef, _fill(variables, weights),
                       jax.tree.map(lambda v: v, rng_state))
    return merged(x, deterministic=True)

  if _is_pose2d(config):  # Images of the configured crop, any batch.
    (batch,) = jax.export.symbolic_shape("batch")
    x = jax.ShapeDtypeStruct((batch, *config.image_size, 3), jnp.float32)
    specs = {k: jax.ShapeDtypeStruct(v.shape, v.dtype) for k, v in weights.items()}
    with dispatch.lowering_for(PLATFORMS, portable=True):
      return jax.export.export(jax.jit(forward), platforms=PLATFORMS)(
          specs, x).serialize()
  max_frames = getattr(config, "num_frames", None)
  if symbolic_frames:
    constraints = (f"T <= {max_frames}",) if max_frames else ()
    batch, frames = jax.export.symbolic_shape("batch, T", constraints=constraints)
  else:
    (batch,) = jax.export.symbolic_shape("batch")
    frames = max_frames
  x = jax.ShapeDtypeStruct((batch, frames, config.num_joints, config.in_channels),
                           jnp.float32)
  specs = {k: jax.ShapeDtypeStruct(v.shape, v.dtype) for k, v in weights.items()}
  # Each platform gets its own scan implementation (ops.dispatch.lowering_for): the
  # artefact runs on all of them, and never holds a kernel tied to one GPU.
  with dispatch.lowering_for(PLATFORMS, portable=True):
    exported = jax.export.export(jax.jit(forward), platforms=PLATFORMS)(specs, x)
  return exported.serialize()


def _contract_lines(meta: dict[str, Any]) -> list[str]:
  i, o = meta["input"], meta["output"]
  if "frames" not in i:  # An image model.
    return [f"- input: {i['shape']} float32 images; {i['normalisation']}",
            f"- output: {o['shape']} float32, {o['units']}"]
  return [
      f"- input: {i['shape']} float32 ({', '.join(i['channels'])}), T from "
      f"{i['frames']['min']} to {i['frames']['max']}; {i['normalisation']}",
      f"- output: {o['shape']} float32, root-relative; {o['units']}"]


def _card(meta: dict[str, Any]) -> str:
  m = meta["model"]
  metrics = meta.get("metrics") or {}
  shown = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
  lines = [
      f"# {m['name'] or m['config_type']} (sasmamba_jax {meta['library_version']})",
      "",
      f"{_description(m)}; {m['parameters']:,} parameters.", "",
      "## Contract", "",
      *_contract_lines(meta), "",
      "## Results", "",
      ("\n".join(f"- {k}: {v:.4g}" for k, v in sorted(shown.items()))
       if shown else "- none recorded"), "",
      "## Load", "",
      "```python", "import sasmamba_jax",
      "model = sasmamba_jax.load_pretrained(\"THIS_DIR\")   # nnx module, eval mode",
      "```", "", "Plain JAX, without this library:", "",
      "```python", "import jax, safetensors.numpy",
      "weights = safetensors.numpy.load_file(\"THIS_DIR/model.safetensors\")",
      "with open(\"THIS_DIR/forward.jaxexport\", \"rb\") as f:",
      "  forward = jax.export.deserialize(f.read())",
      "y = forward.call(weights, x)  # x: the input above, any batch size", "```", "",
      "`forward.jaxexport` is tied to JAX's export compatibility window and is rebuilt "
      "on every export; `config.json` + `model.safetensors` are the source of truth.",
      ""]
  if meta.get("source"):
    lines[4:4] = [f"Exported from {meta['source']}.", ""]
  return "\n".join(lines)


def save_pretrained(model: nnx.Module, directory: str | pathlib.Path, *,
                    metrics: Mapping[str, Any] | None = None,
                    source: Mapping[str, Any] | None = None) -> pathlib.Path:
  """Writes ``model`` as a model directory (see the module docstring).

  Args:
    model: a registered model (``models.create`` or ``load_official``).
    directory: created if needed; files of an earlier export are replaced.
    metrics: evaluation results to record (numbers; nested dicts are kept).
    source: where the weights come from (checkpoint path, step), recorded.

  Returns:
    The directory.
  """
  from safetensors.numpy import save_file  # pylint: disable=g-import-not-at-top
  directory = pathlib.Path(directory)
  if directory.exists() and not directory.is_dir():
    raise PretrainedError(f"{directory} is a file; give a directory to export into")
  directory.mkdir(parents=True, exist_ok=True)
  config = model_config(model)
  weights = _weights(model)
  inputs, outputs = _contracts(config)
  meta = {
      "format": FORMAT, "format_version": FORMAT_VERSION,
      "library_version": __version__,
      "model": {"name": config.name, "config_type": type(config).__name__,
                "config": _config_fields(config),
                "parameters": models.count_parameters(model)},
      "input": inputs, "output": outputs,
      "source": dict(source) if source else None,
      "metrics": json.loads(json.dumps(dict(metrics), default=float))
                 if metrics else None,
  }
  forward, frames = export_forward(model, weights)
  if frames is not None:
    meta["input"]["exported_forward_frames"] = frames
  text = json.dumps(meta, indent=2, sort_keys=True) + "\n"
  digest = hashlib.sha256(text.encode()).hexdigest()
  # Everything is written to temporary names first, then moved in place.
  files = {CONFIG_FILE: text.encode(), FORWARD_FILE: forward,
           CARD_FILE: _card(meta).encode()}
  tmp_weights = directory / (WEIGHTS_FILE + ".tmp")
  save_file(weights, str(tmp_weights), metadata={
      "format": FORMAT, "library_version": __version__,
      "config_sha256": digest})
  for filename, data in files.items():
    (directory / (filename + ".tmp")).write_bytes(data)
  for filename in (WEIGHTS_FILE, *files):
    (directory / (filename + ".tmp")).replace(directory / filename)
  return directory


def _read_config(directory: pathlib.Path) -> tuple[dict[str, Any], str]:
  path = directory / CONFIG_FILE
  if not path.is_file():
    raise PretrainedError(f"{path} is missing: {directory} is not a model directory "
                          "of save_pretrained (export one with python -m "
                          "experiments.export)")
  text = path.read_text()
  try:
    meta = json.loads(text)
  except ValueError as e:
    raise PretrainedError(f"{path} is not valid JSON ({e}); export the model "
                          "again") from None
  if not isinstance(meta, dict) or meta.get("format") != FORMAT:
    raise PretrainedError(f"{path} is not a {FORMAT} config")
  version = meta.get("format_version")
  unknown = sorted(set(meta) - _TOP_KEYS)
  if not isinstance(version, int) or version > FORMAT_VERSION or unknown:
    raise PretrainedError(
        f"{path} was written by sasmamba_jax {meta.get('library_version', '?')} "
        f"(format {version}"
        + (f", unknown fields {unknown}" if unknown else "")
        + f"), newer than this library ({__version__}, format "
        f"{FORMAT_VERSION}): upgrade sasmamba_jax")
  return meta, text


def is_model_directory(path: str | pathlib.Path) -> bool:
  """Whether ``path`` looks like a ``save_pretrained`` directory."""
  path = pathlib.Path(path)
  if not (path.is_dir() and (path / CONFIG_FILE).is_file()):
    return False
  try:
    return json.loads((path / CONFIG_FILE).read_text()).get("format") == FORMAT
  except (ValueError, AttributeError):
    # An unreadable config.json: a model directory if nothing says it is a run.
    return not ((path / "checkpoints").is_dir() or (path / "best").is_dir())


def _model_config(meta: dict[str, Any], path: pathlib.Path,
                  overrides: Mapping[str, Any]) -> Any:
  """The config a directory's config.json describes (``overrides``: run options)."""
  m = meta["model"]
  fields = {**m["config"], **overrides}
  name = m["name"]
  fields.pop("name", None)
  try:
    if name:
      if name not in models.MODEL_NAMES:
        raise PretrainedError(f"{path}: model {name!r} is not registered in this "
                              f"version ({', '.join(models.MODEL_NAMES)}); upgrade "
                              "sasmamba_jax")
      return models.get_config(name, **fields)
    kind = models.config_types().get(m.get("config_type"))
    if kind is None:
      raise PretrainedError(f"{path}: unknown config type {m.get('config_type')!r}; "
                            "upgrade sasmamba_jax")
    return kind(name="", **fields)
  except (TypeError, ValueError) as e:
    if isinstance(e, PretrainedError):
      raise
    raise PretrainedError(f"{path}: cannot build {name or m.get('config_type')} from "
                          f"its config ({e})") from None


def load_model_directory(directory: str | pathlib.Path, seed: int = 0,
                         **overrides: Any) -> nnx.Module:
  """The model of a ``save_pretrained`` directory, in eval mode (errors name the file).

  ``overrides``: config fields that change how it runs, not its weights (``dtype``,
  ``impl``, ``frozen``, ...).
  """
  directory = pathlib.Path(directory)
  if not (directory / WEIGHTS_FILE).exists():
    raise PretrainedError(f"{directory / WEIGHTS_FILE} is missing; export the model "
                          "again")
  from safetensors import SafetensorError  # pylint: disable=g-import-not-at-top
  from safetensors.numpy import load_file  # pylint: disable=g-import-not-at-top
  meta, text = _read_config(directory)
  config = _model_config(meta, directory / CONFIG_FILE, overrides)
  try:
    if isinstance(config, models.ViTPoseConfig):  # Fast: no initial weights drawn.
      model = vitpose_weights.placeholder_model(config, seed)
    else:
      model = models.build(config, seed=seed)
  except (TypeError, ValueError) as e:
    raise PretrainedError(f"{directory / CONFIG_FILE}: cannot build "
                          f"{config.name or type(config).__name__} from its config "
                          f"({e})") from None
  weights_path = directory / WEIGHTS_FILE
  try:
    weights = load_file(str(weights_path))
    from safetensors import safe_open  # pylint: disable=g-import-not-at-top
    with safe_open(str(weights_path), framework="numpy") as f:
      file_meta = f.metadata() or {}
  except (SafetensorError, OSError, ValueError) as e:
    raise PretrainedError(f"{weights_path} is damaged or not a safetensors file "
                          f"({e}); export the model again") from None
  if file_meta.get("config_sha256") not in (None,
                                            hashlib.sha256(text.encode()).hexdigest()):
    raise PretrainedError(f"{weights_path} was saved with another config.json than "
                          f"the one beside it; export the model again")
  expected = _weights(model)
  missing = sorted(set(expected) - set(weights))
  extra = sorted(set(weights) - set(expected))
  wrong = [f"{k} {weights[k].shape} (config.json says {expected[k].shape})"
           for k in sorted(set(expected) & set(weights))
           if weights[k].shape != expected[k].shape]
  if missing or extra or wrong:
    parts = ([f"missing {missing[:5]}"] if missing else []) + (
        [f"unexpected {extra[:5]}"] if extra else []) + (
        [f"wrong shapes: {'; '.join(wrong[:5])}"] if wrong else [])
    raise PretrainedError(f"{weights_path} does not match {directory / CONFIG_FILE}: "
                          + "; ".join(parts) + "; export the model again")
  current = _variables(model)
  typed = {k: jnp.asarray(v, dtype=expected[k].dtype) for k, v in weights.items()}
  nnx.update(model, _fill(current, typed))
  model.eval()
  return model
