"""Where a model comes from: one resolver for every path a user can hand us.

``resolve(path)`` sorts a path into a typed source:

* ``ModelDirectory``: a ``save_pretrained`` folder (config.json + safetensors);
* ``RunDirectory``: a workdir of ``experiments.train`` (``checkpoints/`` or ``best/``
  beside its ``config.json``);
* ``OfficialCheckpoint``: an official PyTorch file (PoseMamba, SasMamba, ViTPose;
  torch zip, unpacked folder, ``.npz``, Hugging Face safetensors).

``load_model(source)`` reads a model directory or an official file. Reading a run
needs the run's config, task and checkpoints: ``sasmamba_jax.load`` (above the
trainer) does that, and the prediction loop restores a run onto its device mesh.
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Any

from flax import nnx

from sasmamba_jax.checkpoints import official
from sasmamba_jax.checkpoints import pretrained


@dataclasses.dataclass(frozen=True)
class ModelDirectory:
  """A ``save_pretrained`` folder."""
  path: pathlib.Path


@dataclasses.dataclass(frozen=True)
class RunDirectory:
  """A workdir of ``experiments.train``: its config.json and checkpoints."""
  path: pathlib.Path

  @property
  def config_file(self) -> pathlib.Path:
    return self.path / "config.json"


@dataclasses.dataclass(frozen=True)
class OfficialCheckpoint:
  """An official PyTorch checkpoint (a file or an unpacked folder)."""
  path: pathlib.Path


ModelSource = ModelDirectory | RunDirectory | OfficialCheckpoint


def is_run_dir(path: str | pathlib.Path) -> bool:
  """A workdir of ``experiments.train`` (holds checkpoints/ or best/)."""
  path = pathlib.Path(path)
  return path.is_dir() and ((path / "checkpoints").is_dir() or (path / "best").is_dir())


def resolve(path: str | pathlib.Path) -> ModelSource:
  """The source a path holds.

  Raises:
    FileNotFoundError: nothing is at ``path``.
    PretrainedError: ``path`` holds an export's files without its config.json.
  """
  path = pathlib.Path(path)
  if not path.exists():
    raise FileNotFoundError(f"{path} does not exist")
  if is_run_dir(path):
    return RunDirectory(path)
  if pretrained.is_model_directory(path):
    return ModelDirectory(path)
  if pretrained.missing_config(path):
    raise pretrained.PretrainedError(
        f"{path / pretrained.CONFIG_FILE} is missing: {path} holds an exported "
        "model's files but not the config.json that says how to build it; put it "
        "back (copy the whole directory) or export the model again (python -m "
        "experiments.export)")
  return OfficialCheckpoint(path)


def load_model(source: ModelDirectory | OfficialCheckpoint, *, seed: int = 0,
               **overrides: Any) -> nnx.Module:
  """The model of a model directory or an official file, in eval mode.

  Args:
    source: from ``resolve``.
    seed: seeds the model's RNG streams (dropout, stochastic depth) for fine-tuning.
    **overrides: config fields: for a model directory those that change how it runs
      (``dtype``, ``frozen``, ``impl``); for an official file also what its tensors
      do not tell (``num_heads``, ``image_size`` of a ViTPose).

  Raises:
    ValueError: ``source`` is a run directory (``sasmamba_jax.load`` reads runs).
  """
  if isinstance(source, ModelDirectory):
    return pretrained.load_model_directory(source.path, seed, **overrides)
  if isinstance(source, OfficialCheckpoint):
    return official.load_official(source.path, seed=seed, **overrides)
  raise ValueError(f"{source.path} is a training run: read it with sasmamba_jax.load, "
                   "or export its model first (python -m experiments.export "
                   f"--checkpoint={source.path} --output=DIR)")
