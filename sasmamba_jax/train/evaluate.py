"""Evaluates a checkpoint, ours or an official PyTorch one, on a config's test split."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import ml_collections

from sasmamba_jax.checkpoints import load_official
from sasmamba_jax.train import checkpointing
from sasmamba_jax.train import trainer as trainer_lib


def is_run_dir(path: pathlib.Path) -> bool:
  """A workdir of ``experiments.train`` (holds checkpoints/ or best/)."""
  return path.is_dir() and ((path / "checkpoints").is_dir() or (path / "best").is_dir())


def evaluate_checkpoint(config: ml_collections.ConfigDict, checkpoint: str | pathlib.Path,
                        output: str | pathlib.Path | None = None, *,
                        latest: bool = False) -> dict[str, Any]:
  """Evaluates ``checkpoint`` with ``config``'s data, task and protocol.

  Args:
    config: the experiment config (its model settings must match a run of ours; an
      official checkpoint brings its own architecture, inferred from its tensors).
    checkpoint: a workdir of ``experiments.train`` (its best checkpoint, or the
      latest with ``latest=True``), or an official PoseMamba / SasMamba checkpoint
      (torch file, its unpacked folder, or an .npz state dict).
    output: JSON file for the results; default ``WORKDIR/eval/final.json`` for our
      runs and ``<checkpoint>.eval.json`` beside an official one.
    latest: evaluate the latest checkpoint of a run instead of its best.

  Returns:
    The protocol's results (``p1_mm``, ``p2_mm``, ``per_action``, ... for H36M).
  """
  checkpoint = pathlib.Path(checkpoint)
  if not checkpoint.exists():
    raise FileNotFoundError(f"checkpoint {checkpoint} does not exist")
  ours = is_run_dir(checkpoint)
  if output is None:
    output = (checkpoint / "eval" / "final.json" if ours
              else checkpoint.with_name(checkpoint.name + ".eval.json"))
  output = pathlib.Path(output)
  trainer = trainer_lib.Trainer(config, output.parent)
  if ours:
    ckpt = checkpointing.Checkpointer(checkpoint, keep=config.keep_checkpoints)
    try:
      state, meta = ckpt.restore_state(checkpointing.abstract_like(trainer.state),
                                       best=not latest)
    finally:
      ckpt.close()
    trainer.state, step = state, int(meta["step"])
  else:
    model = load_official(checkpoint)
    model_cfg = model.config
    expected = (trainer.task.in_channels, trainer.task.skeleton.num_joints)
    if (model_cfg.in_channels, model_cfg.num_joints) != expected:
      raise ValueError(
          f"{checkpoint} takes {model_cfg.in_channels} input channels and "
          f"{model_cfg.num_joints} joints, but the config's dataset feeds "
          f"{expected[0]} channels and {expected[1]} joints; use the config the "
          "checkpoint was trained with")
    trainer.set_model(model)
    step = 0
  results = trainer.evaluate(step)
  results["checkpoint"] = str(checkpoint)
  if trainer.is_main:
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2) + "\n")
    print(trainer.task.format_results(results))
    print(f"results written to {output}")
  return results
