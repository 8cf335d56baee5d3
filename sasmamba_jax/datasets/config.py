"""The ``dataset`` section of a run config: which built dataset, where, which splits.

What a task does with the examples (joint layout, transforms, targets) is the task's
own section; this one only says where the examples come from and how they are read.
"""

from __future__ import annotations

from typing import Sequence

import ml_collections

from sasmamba_jax.datasets import registry
from sasmamba_jax.datasets.safe_io import DataFileError
from sasmamba_jax.datasets.split import Split


def default_config() -> ml_collections.ConfigDict:
  """The dataset knobs with their defaults; a task's defaults set ``name``."""
  c = ml_collections.ConfigDict()
  c.name = ""                    # registered "dataset/config", e.g. "h36m/sh_243"
  c.data_dir = ""                # "" = the TFDS default (~/tensorflow_datasets)
  c.manual_dir = ""              # downloaded files, for prepare_if_missing
  c.prepare_if_missing = False   # build the dataset before training if absent
  c.train_split = "train"
  c.eval_split = "test"
  c.num_threads = 2              # grain reader threads per process
  c.num_workers = 0              # grain worker processes for decoding (0 = none)
  return c


def validate(cfg: ml_collections.ConfigDict) -> list[str]:
  """Problems with a dataset section, as "key = value: what is wrong" strings."""
  errors = []
  if not cfg.name:
    errors.append("dataset.name = '': name a registered dataset "
                  "(python -m experiments.prepare_data --list)")
  if cfg.num_threads < 1:
    errors.append(f"dataset.num_threads = {cfg.num_threads}: must be >= 1")
  if cfg.num_workers < 0:
    errors.append(f"dataset.num_workers = {cfg.num_workers}: must be >= 0")
  return errors


def load_splits(cfg: ml_collections.ConfigDict, splits: Sequence[str]) -> list[Split]:
  """``splits`` of the configured dataset, each a ``Split`` (examples, metadata and
  the ground-truth files the dataset names for it: ``metadata["annotations"]``).

  Builds the dataset first when ``prepare_if_missing`` is set; otherwise a missing
  dataset raises FileNotFoundError naming the ``experiments.prepare_data`` command.
  """
  data_dir = cfg.data_dir or None
  if cfg.prepare_if_missing:
    builder = registry.prepare(cfg.name, data_dir=data_dir,
                               manual_dir=cfg.manual_dir or None)
  else:
    builder = registry.get_builder(cfg.name, data_dir=data_dir)
  out = []
  for split in splits:
    examples = registry.load(builder, split)
    metadata = dict(builder.info.metadata or {})
    truth = (metadata.get("annotations") or {}).get(split.split("[")[0])
    out.append(Split(examples, dataset=f"{builder.name}/{builder.builder_config.name}",
                     split=split, version=str(builder.info.version),
                     metadata=metadata, ground_truth=truth))
  return out


def read_error(cfg: ml_collections.ConfigDict, error: Exception) -> DataFileError:
  """What to tell a user whose built dataset failed to read (e.g. a Riegeli hash
  mismatch of a damaged array_record file)."""
  text = " ".join(str(error).split())
  text = text[:300] + " ..." if len(text) > 300 else text
  where = cfg.data_dir or "~/tensorflow_datasets"
  name = cfg.name.split("/")[0]
  return DataFileError(
      f"reading dataset {cfg.name} failed ({type(error).__name__}: {text}); its built "
      f"files may be damaged: delete {where}/{name} and rebuild it with python -m "
      f"experiments.prepare_data --dataset={cfg.name}"
      + (f" --data_dir={cfg.data_dir}" if cfg.data_dir else ""))
