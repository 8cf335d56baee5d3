"""Model directories for downstream JAX projects: ``save_pretrained`` and loading them.

A model directory holds:
- ``config.json``: the registry name and every constructor argument of the model, its
  input and output contracts, the library version, the digest of the weights
  (``model.weights_sha256``, below) and (when exported from a run) the source
  checkpoint, step and evaluation results;
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

Integrity. ``weights_sha256`` is the SHA-256 of every tensor in key order (its key,
dtype and shape, then its little-endian C-order bytes): loading recomputes it, and
the config's SHA-256 in the weights' metadata ties the two files together, so a
changed or damaged byte in either file is refused with the file named. Exports
written before the digest existed load without this check (silently: nothing
about them changed).

Writing. ``save_pretrained`` builds the directory in a temporary sibling and renames
it into place, so an interrupted export leaves the earlier one whole; it refuses a
directory that holds anything but an earlier export (a run, other files), and
replaces an earlier export only with ``overwrite=True``. Files get the modes of
ordinary files (0666 and 0777 less the umask).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pathlib
import shutil
import tempfile
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


def _value(v: Any) -> str:
  if isinstance(v, (list, tuple)):
    return "(" + ", ".join(_value(x) for x in v) + ")" if v else "()"
  if isinstance(v, dict):
    return ", ".join(f"{k} {_value(x)}" for k, x in v.items()) if v else "{}"
  return "none" if v is None else str(v)


def _summary(m: dict[str, Any]) -> str:
  """What the model is, from its own config (and how it differs from the registered
  options it was built from)."""
  name, fields = m["name"], m["config"]
  if not name:
    return (f"An architecture that no registered model describes "
            f"({m['config_type']})")
  registered = _config_fields(models.get_config(name))
  changed = [f"{k} {_value(v)} (registered: {_value(registered[k])})"
             for k, v in fields.items()
             if k != "name" and k in registered and registered[k] != v]
  if not changed:
    return models.describe(name)
  return (f"Built from the registered `{name}` options with " + ", ".join(changed))


def _source_line(source: Mapping[str, Any]) -> str:
  where = source.get("checkpoint", "?")
  kind, step = source.get("kind"), source.get("step")
  if kind and step is not None:
    which = "best" if kind == "best" else "latest"
    return f"Exported from the {which} checkpoint (step {step}) of `{where}`."
  return f"Exported from `{where}`" + (f" (step {step})." if step is not None
                                       else ".")


def _card(meta: dict[str, Any]) -> str:
  m = meta["model"]
  metrics = meta.get("metrics") or {}
  shown = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
  rows = [f"| {k} | {_value(v)} |" for k, v in m["config"].items() if k != "name"]
  lines = [
      f"# {m['name'] or m['config_type']} (sasmamba_jax {meta['library_version']})",
      "",
      f"{_summary(m)}; {m['parameters']:,} parameters.", "",
      "## Contract", "",
      *_contract_lines(meta), "",
      "## Configuration", "",
      f"`{m['config_type']}` fields (`config.json`, `model.config`):", "",
      "| field | value |", "|---|---|", *rows, "",
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
    lines[4:4] = [_source_line(meta["source"]), ""]
  return "\n".join(lines)


def weights_digest(weights: Mapping[str, np.ndarray]) -> str:
  """SHA-256 of ``weights`` in key order: each key, dtype, shape, then its bytes."""
  h = hashlib.sha256()
  for key in sorted(weights):
    array = np.ascontiguousarray(weights[key])
    array = array.astype(array.dtype.newbyteorder("<"), copy=False)
    h.update(f"{key}\0{array.dtype.str}\0{list(array.shape)}\0".encode())
    h.update(array.tobytes())
  return h.hexdigest()


#: The files of a model directory; ``*.tmp`` of them are left by an interrupted
#: export of versions that wrote in place.
EXPORT_FILES = (CONFIG_FILE, WEIGHTS_FILE, FORWARD_FILE, CARD_FILE)


def check_target(directory: str | pathlib.Path, *, overwrite: bool) -> bool:
  """Whether ``directory`` may receive an export; True when it holds an earlier one.

  Raises:
    PretrainedError: it is a file, holds a training run or files of anything but
      an earlier export, or holds an earlier export and ``overwrite`` is False.
  """
  directory = pathlib.Path(directory)
  if not directory.exists():
    return False
  if not directory.is_dir():
    raise PretrainedError(f"{directory} is a file; give a directory to export into")
  names = sorted(p.name for p in directory.iterdir())
  if not names:
    return False
  run = [n for n in ("checkpoints", "best", "config.json") if n in names]
  if "checkpoints" in run or "best" in run:
    raise PretrainedError(
        f"{directory} holds a training run ({', '.join(run)}): exporting there would "
        "replace its files; export into another folder, e.g. --output=exports/"
        + (directory.name or "model"))
  known = set(EXPORT_FILES) | {f + ".tmp" for f in EXPORT_FILES}
  others = [n for n in names if n not in known]
  if others or not is_model_directory(directory):
    shown = others or names
    raise PretrainedError(
        f"{directory} holds files that are not an export of this library ("
        + ", ".join(shown[:5]) + (f" and {len(shown) - 5} more" if len(shown) > 5
                                  else "")
        + "): nothing is written there; export into an empty or new folder")
  if not overwrite:
    raise PretrainedError(f"{directory} already holds an exported model; pass "
                          "--overwrite (overwrite=True) to replace it, or choose "
                          "another folder")
  return True


def _ordinary_modes(directory: pathlib.Path) -> None:
  """0777 / 0666 less the umask (mkdtemp and safetensors create 0700 / 0600)."""
  umask = os.umask(0)
  os.umask(umask)
  os.chmod(directory, 0o777 & ~umask)
  for path in directory.iterdir():
    os.chmod(path, 0o666 & ~umask)


def _move_into_place(built: pathlib.Path, directory: pathlib.Path,
                     replace: bool) -> None:
  """Renames ``built`` to ``directory``; an earlier export there is swapped out
  first and removed only once the new one is in place."""
  if not replace:
    if directory.is_dir():
      directory.rmdir()  # Empty (checked); fails, keeping everything, if not.
    built.rename(directory)
    return
  old = pathlib.Path(tempfile.mkdtemp(dir=directory.parent,
                                      prefix=f".{directory.name}.old-"))
  old.rmdir()
  directory.rename(old)
  try:
    built.rename(directory)
  except BaseException:
    old.rename(directory)
    raise
  shutil.rmtree(old, ignore_errors=True)


def save_pretrained(model: nnx.Module, directory: str | pathlib.Path, *,
                    metrics: Mapping[str, Any] | None = None,
                    source: Mapping[str, Any] | None = None,
                    overwrite: bool = True) -> pathlib.Path:
  """Writes ``model`` as a model directory (see the module docstring).

  Args:
    model: a registered model (``models.create`` or ``load_official``).
    directory: a new or empty folder, or one holding an earlier export; built in
      a temporary sibling and renamed into place.
    metrics: evaluation results to record (numbers; nested dicts are kept).
    source: where the weights come from (checkpoint path, step), recorded.
    overwrite: replace an earlier export in ``directory`` (else it is refused).

  Returns:
    The directory.

  Raises:
    PretrainedError: ``directory`` holds a run or other files (never written to),
      or an earlier export and ``overwrite`` is False.
  """
  from safetensors.numpy import save_file  # pylint: disable=g-import-not-at-top
  given = pathlib.Path(directory)
  directory = pathlib.Path(os.path.realpath(given))  # Links: the folder they name.
  replace = check_target(directory, overwrite=overwrite)
  config = model_config(model)
  weights = _weights(model)
  inputs, outputs = _contracts(config)
  meta = {
      "format": FORMAT, "format_version": FORMAT_VERSION,
      "library_version": __version__,
      "model": {"name": config.name, "config_type": type(config).__name__,
                "config": _config_fields(config),
                "parameters": models.count_parameters(model),
                "weights_sha256": weights_digest(weights)},
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
  directory.parent.mkdir(parents=True, exist_ok=True)
  built = pathlib.Path(tempfile.mkdtemp(dir=directory.parent,
                                        prefix=f".{directory.name}.tmp-"))
  try:
    save_file(weights, str(built / WEIGHTS_FILE), metadata={
        "format": FORMAT, "library_version": __version__, "config_sha256": digest})
    (built / CONFIG_FILE).write_bytes(text.encode())
    (built / FORWARD_FILE).write_bytes(forward)
    (built / CARD_FILE).write_bytes(_card(meta).encode())
    _ordinary_modes(built)
    _move_into_place(built, directory, replace)
  except BaseException:
    shutil.rmtree(built, ignore_errors=True)
    raise
  return given


def _read_config(directory: pathlib.Path) -> tuple[dict[str, Any], str]:
  path = directory / CONFIG_FILE
  if not path.is_file():
    raise PretrainedError(f"{path} is missing: {directory} is not a model directory "
                          "of save_pretrained (export one with python -m "
                          "experiments.export)")
  try:
    text = path.read_text()
    meta = json.loads(text)
  except (ValueError, RecursionError) as e:
    problem = ("nested too deeply to read" if isinstance(e, RecursionError) else e)
    raise PretrainedError(f"{path} is not valid JSON ({problem}); export the model "
                          "again") from None
  if not isinstance(meta, dict) or meta.get("format") != FORMAT:
    raise PretrainedError(f"{path} is not a {FORMAT} config")
  model = meta.get("model")
  if not (isinstance(model, dict) and isinstance(model.get("config"), dict)
          and isinstance(model.get("name"), str)):
    raise PretrainedError(f"{path}: its \"model\" entry (name, config_type, config) "
                          "is missing or damaged; export the model again")
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


def missing_config(path: str | pathlib.Path) -> bool:
  """Whether ``path`` holds an export's files (its weights or its forward) but no
  config.json, the file that says how to build the model."""
  path = pathlib.Path(path)
  if not path.is_dir() or (path / CONFIG_FILE).exists():
    return False
  if (path / FORWARD_FILE).is_file():
    return True
  if not (path / WEIGHTS_FILE).is_file():
    return False
  try:
    from safetensors import safe_open  # pylint: disable=g-import-not-at-top
    with safe_open(str(path / WEIGHTS_FILE), framework="numpy") as f:
      return (f.metadata() or {}).get("format") == FORMAT
  except Exception:  # pylint: disable=broad-except  # Unreadable: not ours to say.
    return False


def is_model_directory(path: str | pathlib.Path) -> bool:
  """Whether ``path`` looks like a ``save_pretrained`` directory."""
  path = pathlib.Path(path)
  if not (path.is_dir() and (path / CONFIG_FILE).is_file()):
    return False
  try:
    return json.loads((path / CONFIG_FILE).read_text()).get("format") == FORMAT
  except (ValueError, AttributeError, RecursionError):
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
  weights_path = directory / WEIGHTS_FILE
  if not weights_path.is_file():
    raise PretrainedError(f"{weights_path} is missing; export the model again")
  from safetensors import SafetensorError  # pylint: disable=g-import-not-at-top
  from safetensors import safe_open  # pylint: disable=g-import-not-at-top
  from safetensors.numpy import load_file  # pylint: disable=g-import-not-at-top
  meta, text = _read_config(directory)
  # The weights' header first (no tensor read): a config.json that is not the one
  # saved with them never gets to build a model (it could describe any size).
  try:
    with safe_open(str(weights_path), framework="numpy") as f:
      file_meta = f.metadata() or {}
      values = sum(int(np.prod(f.get_slice(k).get_shape(), dtype=np.int64))
                   for k in f.keys())
  except (SafetensorError, OSError, ValueError) as e:
    raise PretrainedError(f"{weights_path} is damaged or not a safetensors file "
                          f"({e}); export the model again") from None
  if file_meta.get("config_sha256") not in (None,
                                            hashlib.sha256(text.encode()).hexdigest()):
    raise PretrainedError(f"{weights_path} was saved with another config.json than "
                          f"the one beside it; export the model again")
  # Weights not tied to their config.json (written by other tools): at least the
  # model it describes must fit in them.
  parameters = meta["model"].get("parameters")
  if ("config_sha256" not in file_meta and isinstance(parameters, int)
      and parameters > values):
    raise PretrainedError(f"{directory / CONFIG_FILE} describes a model of "
                          f"{parameters:,} parameters but {weights_path} holds "
                          f"{values:,} values; export the model again")
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
  try:
    weights = load_file(str(weights_path))
  except (SafetensorError, OSError, ValueError) as e:
    raise PretrainedError(f"{weights_path} is damaged or not a safetensors file "
                          f"({e}); export the model again") from None
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
  recorded = meta["model"].get("weights_sha256")  # None: exported before digests.
  if recorded is not None and recorded != weights_digest(weights):
    raise PretrainedError(
        f"{weights_path} is damaged or was changed after export: its tensors do "
        f"not match the digest in {directory / CONFIG_FILE}; export the model "
        "again (or copy or download the directory again)")
  current = _variables(model)
  typed = {k: jnp.asarray(v, dtype=expected[k].dtype) for k, v in weights.items()}
  nnx.update(model, _fill(current, typed))
  model.eval()
  return model
