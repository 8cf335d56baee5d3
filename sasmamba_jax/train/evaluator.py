"""The one prediction and evaluation path: the trainer, experiments.evaluate, inference.

``Predictor`` holds a model split for jitted, sharded prediction (no optimizer, no
train split, no train step); ``evaluate`` streams an eval split through it into the
task's evaluator; ``load_predictor`` builds one from any model source
(``checkpoints.sources``: a run of ours, restored onto the mesh, a model directory
or an official checkpoint); ``evaluate_checkpoint`` is ``experiments.evaluate``.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import sys
from typing import Any, Mapping, Sequence

from flax import nnx
import jax
import ml_collections
import numpy as np

from sasmamba_jax.checkpoints import sources
from sasmamba_jax.datasets import config as dataset_config_lib
from sasmamba_jax.datasets import pipeline
from sasmamba_jax.datasets.split import Split
from sasmamba_jax.datasets.split import as_split
from sasmamba_jax.evaluation import base as evaluation_base
from sasmamba_jax.tasks import BoundTask
from sasmamba_jax.tasks import create as create_task
from sasmamba_jax.train import checkpointing
from sasmamba_jax.train import config as config_lib
from sasmamba_jax.train import optimizers
from sasmamba_jax.train import sharding

# Model variables that are neither parameters nor RNG state (BatchNorm statistics,
# stochastic-depth rates): carried from step to step.
CARRIED = nnx.Not(nnx.Any(nnx.Param, nnx.RngState))
# The part of a train state a prediction needs.
EVAL_KEYS = ("params", "frozen", "model_state")


def split_model(model: nnx.Module, freeze: Sequence[str] = ()
                ) -> tuple[nnx.GraphDef, nnx.State, dict[str, nnx.State]]:
  """(graphdef, RNG state, variables) of ``model``.

  ``variables`` holds ``params`` (trained), ``model_state`` (carried) and, when
  ``freeze`` patterns select parameters, ``frozen`` (used, never updated).
  """
  o = ml_collections.ConfigDict({"freeze": tuple(freeze)})
  graphdef, params, frozen, rest, model_state = nnx.split(
      model, optimizers.trainable_filter(o), optimizers.frozen_filter(o),
      nnx.RngState, CARRIED)
  variables = {"params": params, "model_state": model_state}
  if jax.tree.leaves(frozen):
    variables["frozen"] = frozen
  return graphdef, rest, variables


def merge_model(graphdef: nnx.GraphDef, rest: nnx.State,
                variables: Mapping[str, nnx.State]) -> nnx.Module:
  """Inverse of ``split_model`` (inside a trace: fresh Variables for this trace)."""
  return nnx.merge(graphdef, jax.tree.map(lambda x: x, rest),
                   *(variables[k] for k in EVAL_KEYS if k in variables))


def jit_predict(bound: BoundTask, graphdef: nnx.GraphDef, rest: nnx.State,
                variable_shardings: Any, mesh: jax.sharding.Mesh):
  """``jax.jit`` of ``(variables, batch) -> bound.predict(model, batch)`` with the
  variables on their shardings and the batch split over the data axis."""
  def predict(variables, batch):
    return bound.predict(merge_model(graphdef, rest, variables), batch)

  batch_sharding = sharding.batch_sharding(mesh)
  return jax.jit(predict, in_shardings=(variable_shardings, batch_sharding),
                 out_shardings=batch_sharding)


@dataclasses.dataclass
class Predictor:
  """A bound task's model ready for jitted prediction over a device mesh.

  Attributes:
    bound: the task bound to the model (its ``predict`` and evaluator).
    graphdef, rest: the model's structure and RNG state (``split_model``).
    variables: ``params`` / ``model_state`` (/ ``frozen``), placed on ``mesh``.
    mesh: the device mesh; batches are split over its data axis.
  """

  bound: BoundTask
  graphdef: nnx.GraphDef
  rest: nnx.State
  variables: dict[str, Any]
  mesh: jax.sharding.Mesh

  def __post_init__(self):
    #: the batch features the model reads (the bound task's batch spec)
    self.feature_keys = tuple(self.bound.batch_spec(1))
    self.batch_sharding = sharding.batch_sharding(self.mesh)
    self._predict = jit_predict(self.bound, self.graphdef, self.rest,
                                jax.tree.map(lambda x: x.sharding, self.variables),
                                self.mesh)

  def __call__(self, local_batch: Mapping[str, np.ndarray],
               variables: Mapping[str, Any] | None = None) -> np.ndarray:
    """Predictions of this process's rows of a batch (all processes call together)."""
    batch = sharding.global_batch({k: local_batch[k] for k in self.feature_keys},
                                  self.batch_sharding)
    out = self._predict(self.variables if variables is None else variables, batch)
    return sharding.local_rows(out, self.mesh)


def evaluate(predictor: Predictor, split: Split | Sequence[Mapping[str, Any]], *,
             batch_size: int, num_threads: int = 2, num_workers: int = 0,
             variables: Mapping[str, Any] | None = None,
             progress: bool = False,
             dataset_config: ml_collections.ConfigDict | None = None,
             predictions_dir: str | pathlib.Path | None = None
             ) -> dict[str, Any]:
  """Streams ``split`` (or examples held in memory) through ``predictor`` into the
  task's evaluator.

  Each process predicts its shard (``batch_size`` rows per batch), feeds its own
  rows to its evaluator as they come, and the evaluators are merged across
  processes at the end: no prediction or example is kept, nothing is read twice.

  With ``predictions_dir``, an evaluator that can write its predictions (PoseTrack:
  one PoseTrack18 JSON file per video) writes them there (process 0).

  Returns:
    The evaluator's result.

  Raises:
    ValueError: a batch feature holds NaN or infinite values.
    DataFileError: the data could not be read (with ``dataset_config``: how to
      rebuild it).
  """
  task, split = predictor.bound, as_split(split)
  source = split.examples
  evaluator = task.make_evaluator(split)
  # The evaluator's metadata: the examples' features or the transforms' outputs.
  present = (set(source[0]) if len(source) else set()) | set(predictor.feature_keys)
  metadata = tuple(k for k in evaluator.metadata_keys if k in present)
  keys = tuple(dict.fromkeys(predictor.feature_keys + metadata))
  iterator = pipeline.make_eval_iterator(
      source, batch_size=batch_size, transforms=task.eval_transforms(split),
      keys=keys, num_threads=num_threads, num_workers=num_workers)
  bar = None
  if progress and jax.process_index() == 0:
    from tqdm import tqdm  # pylint: disable=g-import-not-at-top
    # disable=None: no bar without a terminal (it would fill a log file).
    bar = tqdm(total=pipeline.num_eval_batches(len(source), batch_size,
                                               jax.process_count()),
               unit="batch", desc="evaluating", file=sys.stderr, leave=False,
               disable=None)
  seen = 0
  while True:
    try:
      batch = next(iterator)
    except StopIteration:
      break
    except Exception as e:  # pylint: disable=broad-except  # Reading or decoding.
      if dataset_config is None:
        raise
      raise dataset_config_lib.read_error(dataset_config, e) from e
    _check_finite_inputs(batch, predictor.feature_keys, seen)
    preds = predictor(batch, variables)
    mask = np.asarray(batch["mask"], bool)
    if mask.any():
      evaluator.update(preds[mask], {k: batch[k][mask] for k in metadata})
    seen += int(mask.sum())
    if bar is not None:
      bar.update(1)
  if bar is not None:
    bar.close()
  total = sharding.all_sum(seen)
  if total != len(source):
    raise RuntimeError(f"evaluation covered {total} of {len(source)} examples: the "
                       "eval iterator lost or repeated examples")
  if jax.process_count() > 1:
    merged = task.make_evaluator(split)
    evaluation_base.merge_states(merged, sharding.all_gather_bytes(
        evaluation_base.state_to_bytes(evaluator.state())))
    evaluator = merged
  result = evaluator.result()
  if (predictions_dir is not None and hasattr(evaluator, "write")
      and jax.process_index() == 0):
    evaluator.write(predictions_dir)
  return result


def _check_finite_inputs(batch: Mapping[str, np.ndarray], keys: Sequence[str],
                         offset: int) -> None:
  """NaN or infinite inputs would silently become NaN predictions: refuse them."""
  for key in keys:
    values = np.asarray(batch[key])
    if values.dtype.kind == "f" and not np.all(np.isfinite(values)):
      row = int(np.argmax(~np.isfinite(values).reshape(len(values), -1).all(axis=1)))
      raise ValueError(f"evaluation input {key!r} of example {offset + row} (counting "
                       "this process's examples) holds NaN or infinite values; fix or "
                       "drop it in the dataset")


def build_predictor(config: ml_collections.ConfigDict, model: nnx.Module | None = None,
                    *, abstract: bool = False) -> Predictor:
  """A predictor of ``config``'s task and model.

  Args:
    config: a run config (task, model, mesh sections).
    model: use this model (e.g. an official checkpoint) instead of building one.
    abstract: for restoring a checkpoint into the variables: on several devices
      they are only shapes with shardings (nothing is computed or placed); on one
      device the eager build is cheaper than tracing, so they are real arrays.
  """
  task = create_task(config.task)
  mesh = sharding.make_mesh(config.mesh.data)
  c = config
  if model is None:
    build = lambda: task.build_model(c.model, rngs=nnx.Rngs(params=c.seed,
                                                            dropout=c.seed + 1),
                                     dtype=c.compute_dtype)
    if abstract and mesh.size > 1:
      model = nnx.eval_shape(build)
      graphdef, rest, variables = split_model(model, c.optimizer.freeze)
      shardings = sharding.state_shardings(variables, mesh, c.mesh.param_sharding)
      variables = jax.tree.map(
          lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s),
          variables, shardings)
      # The RNG state is tiny and needed concretely; XLA drops the unused
      # initialisers from this jit.
      rest = jax.jit(lambda: nnx.split(build(), nnx.RngState, ...)[1])()
    else:
      model = sharding.create_sharded(build, mesh, c.mesh.param_sharding)
      graphdef, rest, variables = split_model(model, c.optimizer.freeze)
  else:
    name = getattr(getattr(model, "config", None), "name", "")
    if name and name != c.model.name:
      raise ValueError(f"the checkpoint holds a {name} but the config names "
                       f"model.name = {c.model.name!r}: use the config of the "
                       "checkpoint's architecture")
    graphdef, rest, variables = split_model(model, c.optimizer.freeze)
    variables = sharding.put(variables, sharding.state_shardings(
        variables, mesh, c.mesh.param_sharding))
  return Predictor(task.bind(model), graphdef, rest, variables, mesh)


def load_predictor(config: ml_collections.ConfigDict, checkpoint: str | pathlib.Path,
                   *, latest: bool = False) -> tuple[Predictor, int]:
  """A predictor of a run's checkpoint (best, or ``latest``), a model directory or
  an official checkpoint (``checkpoints.sources.resolve``).

  Returns:
    (predictor, step): the step of our checkpoint, 0 for the other sources.
  """
  source = sources.resolve(checkpoint)
  if not isinstance(source, sources.RunDirectory):
    return build_predictor(config, sources.load_model(source)), 0
  predictor = build_predictor(config, abstract=True)
  variables, meta = checkpointing.restore_variables(
      source.path, checkpointing.abstract_like(predictor.variables), best=not latest)
  predictor.variables = variables
  return predictor, int(meta["step"])


def config_needed(checkpoint: str | pathlib.Path) -> str:
  """Why evaluating ``checkpoint`` needs a config file, and which one to give."""
  source = sources.resolve(checkpoint)
  if isinstance(source, sources.ModelDirectory):
    return (f"{checkpoint} is an exported model: it holds the model, not the dataset "
            "settings (data, task, evaluation protocol); --config supplies them: "
            "pass --config=configs/FILE.py, e.g. the config it was trained with")
  if isinstance(source, sources.RunDirectory):
    return (f"{checkpoint} is a run directory without its config.json: pass "
            "--config=configs/FILE.py (the config it was trained with)")
  return (f"{checkpoint} is an official checkpoint: it holds only weights; --config "
          "supplies the dataset settings (data, task, evaluation protocol): pass "
          "--config=configs/FILE.py, e.g. configs/h36m_sasmamba.py")


def evaluate_checkpoint(config: ml_collections.ConfigDict, checkpoint: str | pathlib.Path,
                        output: str | pathlib.Path | None = None, *,
                        latest: bool = False, progress: bool = True) -> dict[str, Any]:
  """Evaluates ``checkpoint`` with ``config``'s data, task and protocol.

  Args:
    config: the experiment config (its model settings must match a run of ours; an
      official checkpoint brings its own architecture, inferred from its tensors).
    checkpoint: a workdir of ``experiments.train`` (its best checkpoint, or the
      latest with ``latest=True``), or an official PoseMamba / SasMamba checkpoint
      (torch file, its unpacked folder, or an .npz state dict).
    output: JSON file for the results; default ``WORKDIR/eval/final.json`` for our
      runs and ``<checkpoint>.eval.json`` beside an official one. Predictions a
      protocol writes (PoseTrack18 JSON per video) go to ``<output stem>_predictions/``.
    latest: evaluate the latest checkpoint of a run instead of its best.
    progress: show a progress bar.

  Returns:
    The protocol's results (``p1_mm``, ``p2_mm``, ``per_action``, ... for H36M).
  """
  config = config_lib.validate(config)
  checkpoint = pathlib.Path(checkpoint)
  predictor, step = load_predictor(config, checkpoint, latest=latest)
  if output is None:
    output = (checkpoint / "eval" / "final.json" if sources.is_run_dir(checkpoint)
              else checkpoint.with_name(checkpoint.name + ".eval.json"))
  output = pathlib.Path(output)
  (split,) = dataset_config_lib.load_splits(config.dataset,
                                            [config.dataset.eval_split])
  # Predictions the protocol can write (PoseTrack18 JSON) go beside the metrics.
  predictions_dir = output.with_name(output.stem + "_predictions")
  results = evaluate(predictor, split,
                     batch_size=sharding.per_process_batch(config.eval_batch_size,
                                                           "eval_batch_size"),
                     num_threads=config.dataset.num_threads,
                     num_workers=config.dataset.num_workers, progress=progress,
                     dataset_config=config.dataset, predictions_dir=predictions_dir)
  results = {"step": step, **results, "checkpoint": str(checkpoint)}
  if predictions_dir.is_dir():
    results["predictions"] = str(predictions_dir)
  if jax.process_index() == 0:
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2) + "\n")
    print(predictor.bound.format_results(results))
    print(f"results written to {output}")
  return results
