"""``load_pretrained``: one function for every model source; ``save_pretrained``.

``save_pretrained`` writes a model directory (``checkpoints/pretrained.py`` documents
the format); ``load_pretrained`` reads one, a run directory of ours (its best or
latest checkpoint) or an official PyTorch checkpoint. This module sits above the
trainer because reading a run needs the run's config and checkpoints.
"""

from __future__ import annotations

import pathlib

from flax import nnx
import jax
import numpy as np

from sasmamba_jax.checkpoints import load_official
from sasmamba_jax.checkpoints.pretrained import PretrainedError
from sasmamba_jax.checkpoints.pretrained import is_model_directory
from sasmamba_jax.checkpoints.pretrained import load_model_directory
from sasmamba_jax.checkpoints.pretrained import registry_name
from sasmamba_jax.checkpoints.pretrained import save_pretrained

__all__ = ["PretrainedError", "load_pretrained", "registry_name", "save_pretrained"]


def load_pretrained(path: str | pathlib.Path, *, latest: bool = False,
                    seed: int = 0) -> nnx.Module:
  """Loads a model: a model directory, a run directory of ours, or an official file.

  Args:
    path: a ``save_pretrained`` directory; a workdir of ``experiments.train`` (its
      best checkpoint, or the latest with ``latest=True``); or an official PoseMamba
      / SasMamba checkpoint (torch file, unpacked folder, .npz).
    latest: for a run directory, its latest checkpoint instead of its best.
    seed: seeds the model's RNG streams (dropout, stochastic depth) for fine-tuning.

  Returns:
    The NNX model in eval mode (``model.train()`` to fine-tune).
  """
  path = pathlib.Path(path)
  if not path.exists():
    raise FileNotFoundError(f"{path} does not exist")
  if path.is_dir() and ((path / "checkpoints").is_dir() or (path / "best").is_dir()):
    return _load_run(path, latest)
  if is_model_directory(path):
    return load_model_directory(path, seed)
  return load_official(path, seed=seed)


def _load_run(workdir: pathlib.Path, latest: bool) -> nnx.Module:
  from sasmamba_jax.train import config as config_lib  # pylint: disable=g-import-not-at-top
  from sasmamba_jax.train import evaluator  # pylint: disable=g-import-not-at-top
  saved = workdir / "config.json"
  if not saved.is_file():
    raise PretrainedError(f"{saved} is missing: cannot tell which model {workdir} "
                          "trained")
  config = config_lib.load_saved(saved)
  predictor, _ = evaluator.load_predictor(config, workdir, latest=latest)
  model = evaluator.merge_model(predictor.graphdef, predictor.rest,
                                jax.tree.map(np.asarray, predictor.variables))
  model.registry_name = config.model.name
  model.eval()
  return model
