"""``load(path)``: a model from any source; ``save_pretrained`` writes model directories.

``load`` takes whatever ``checkpoints.sources.resolve`` recognises: a model
directory (``save_pretrained``, format in ``checkpoints/pretrained.py``), a run
directory of ours (its best or latest checkpoint) or an official PyTorch checkpoint.
A run is read into an eagerly built model on the default device (no mesh): the
run's saved config names the task and the model, the task builds it, and the
checkpoint's variables replace the initial ones. This module sits above the trainer
because reading a run needs its config and checkpoints.

  model = sasmamba_jax.load("runs/quickstart")          # nnx module, eval mode
  sasmamba_jax.save_pretrained(model, "exports/quickstart")
"""

from __future__ import annotations

import pathlib

from flax import nnx

from sasmamba_jax import tasks
from sasmamba_jax.checkpoints import sources
from sasmamba_jax.checkpoints.pretrained import PretrainedError
from sasmamba_jax.checkpoints.pretrained import save_pretrained
from sasmamba_jax.train import checkpointing
from sasmamba_jax.train import config as config_lib
from sasmamba_jax.train import evaluator

__all__ = ["PretrainedError", "load", "load_pretrained", "load_run", "save_pretrained"]


def load(path: str | pathlib.Path, *, latest: bool = False,
         seed: int = 0) -> nnx.Module:
  """Loads a model: a model directory, a run directory of ours, or an official file.

  Args:
    path: a ``save_pretrained`` directory; a workdir of ``experiments.train`` (its
      best checkpoint, or the latest with ``latest=True``); or an official PoseMamba
      / SasMamba / ViTPose checkpoint (torch file, unpacked folder, .npz,
      safetensors).
    latest: for a run directory, its latest checkpoint instead of its best.
    seed: seeds the model's RNG streams (dropout, stochastic depth) for fine-tuning
      (a run's model keeps the streams of its config's seed).

  Returns:
    The NNX model in eval mode (``model.train()`` to fine-tune).
  """
  source = sources.resolve(path)
  if isinstance(source, sources.RunDirectory):
    return load_run(source, latest=latest)
  return sources.load_model(source, seed=seed)


#: The name the library has always exported (``sasmamba_jax.load_pretrained``).
load_pretrained = load


def load_run(run: sources.RunDirectory, *, latest: bool = False) -> nnx.Module:
  """A run's model with the variables of its best (or ``latest``) checkpoint."""
  if not run.config_file.is_file():
    raise PretrainedError(f"{run.config_file} is missing: cannot tell which model "
                          f"{run.path} trained")
  # The run's own config (validated when it trained), upgraded to today's keys.
  config = config_lib.load_saved(run.config_file)
  task = tasks.create(config.task)
  model = task.build_model(config.model, rngs=nnx.Rngs(params=config.seed,
                                                       dropout=config.seed + 1),
                           dtype=config.compute_dtype)
  graphdef, rest, variables = evaluator.split_model(model, config.optimizer.freeze)
  variables, _ = checkpointing.restore_variables(
      run.path, checkpointing.abstract_like(variables), best=not latest)
  model = evaluator.merge_model(graphdef, rest, variables)
  model.eval()
  return model
