"""Building and opening the registered datasets by name ("dataset/config")."""

from __future__ import annotations

import contextlib
import logging
import pathlib
import sys
from typing import Iterator, Sequence

import tensorflow_datasets as tfds

from sasmamba_jax.datasets.coco import coco_dataset_builder
from sasmamba_jax.datasets.h36m import h36m_dataset_builder
from sasmamba_jax.datasets.mpi_inf_3dhp import mpi_inf_3dhp_dataset_builder
from sasmamba_jax.datasets.posetrack import posetrack17_dataset_builder
from sasmamba_jax.datasets.posetrack import posetrack18_dataset_builder
from sasmamba_jax.datasets.posetrack import posetrack21_dataset_builder
from sasmamba_jax.datasets.sub_jhmdb import sub_jhmdb_dataset_builder
from sasmamba_jax.datasets.synthetic_motion import synthetic_motion_dataset_builder
from sasmamba_jax.datasets.synthetic_video_pose import (
    synthetic_video_pose_dataset_builder)

BUILDERS: dict[str, type[tfds.core.GeneratorBasedBuilder]] = {
    "h36m": h36m_dataset_builder.Builder,
    "mpi_inf_3dhp": mpi_inf_3dhp_dataset_builder.Builder,
    "synthetic_motion": synthetic_motion_dataset_builder.Builder,
    "posetrack17": posetrack17_dataset_builder.Builder,
    "posetrack18": posetrack18_dataset_builder.Builder,
    "posetrack21": posetrack21_dataset_builder.Builder,
    "synthetic_video_pose": synthetic_video_pose_dataset_builder.Builder,
    "sub_jhmdb": sub_jhmdb_dataset_builder.Builder,
    "coco": coco_dataset_builder.Builder,
}
# Builders that need files in a manual folder.
NEEDS_MANUAL_DIR = ("h36m", "mpi_inf_3dhp", "posetrack17", "posetrack18",
                    "posetrack21", "sub_jhmdb", "coco")

PathLike = str | pathlib.Path


def dataset_names() -> list[str]:
  """Every "dataset/config" name this package registers."""
  return [f"{name}/{config.name}" for name, cls in BUILDERS.items()
          for config in cls.BUILDER_CONFIGS]


def get_builder(name: str, *, data_dir: PathLike | None = None
                ) -> tfds.core.DatasetBuilder:
  """Returns the builder of ``name``: "dataset/config" ("dataset": first config).

  Args:
    name: e.g. "h36m/sh_243", "synthetic_motion/clips_27".
    data_dir: root of built datasets (TFDS default: ~/tensorflow_datasets).

  Raises:
    ValueError: unknown dataset or config, with the known names.
  """
  dataset, _, config = name.partition("/")
  if dataset not in BUILDERS:
    raise ValueError(f"unknown dataset {dataset!r}; known: {', '.join(BUILDERS)}")
  cls = BUILDERS[dataset]
  configs = [c.name for c in cls.BUILDER_CONFIGS]
  if config and config not in configs:
    raise ValueError(f"{dataset} has no config {config!r}; configs: "
                     f"{', '.join(configs)}")
  return cls(config=config or configs[0],
             data_dir=None if data_dir is None else str(data_dir))


def is_built(builder: tfds.core.DatasetBuilder) -> bool:
  """``builder.is_prepared()``, without TFDS's warning about a dataset not built."""
  with _quiet_about_unbuilt_variants():
    return builder.is_prepared()


class _UnbuiltVariantFilter(logging.Filter):
  """TFDS warns "Variant folder ... has no dataset_info.json" for every dataset not
  built yet, even when the folder does not exist: nothing is wrong then."""

  def filter(self, record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith("Variant folder %s has no ")


@contextlib.contextmanager
def _quiet_about_unbuilt_variants() -> Iterator[None]:
  quiet = _UnbuiltVariantFilter()
  logger = logging.getLogger("absl")
  logger.addFilter(quiet)
  try:
    yield
  finally:
    logger.removeFilter(quiet)


def prepare(name_or_builder: str | tfds.core.DatasetBuilder, *,
            data_dir: PathLike | None = None,
            manual_dir: PathLike | None = None) -> tfds.core.DatasetBuilder:
  """Builds a dataset as array_record files (no TensorFlow needed) if not built yet.

  Args:
    name_or_builder: "dataset/config", or a builder made with a custom config,
      e.g. ``synthetic_motion_dataset_builder.Builder(config=SyntheticConfig(
      name="big", num_frames=81, num_train_subjects=10), data_dir=DIR)``.
    data_dir: root of built datasets (ignored when a builder is given).
    manual_dir: folder holding the downloaded files (h36m, mpi_inf_3dhp).

  Returns:
    The prepared builder.

  Raises:
    safe_io.MissingDataFileError: a needed file is not in ``manual_dir``; the
      message names it, where it comes from and the command to run.
  """
  if isinstance(name_or_builder, str):
    builder = get_builder(name_or_builder, data_dir=data_dir)
  else:
    builder = name_or_builder
  if is_built(builder):
    return builder
  name = f"{builder.name}/{builder.builder_config.name}"
  about = builder.builder_config.description
  print(f"building {name}" + (f" ({about.rstrip('.')})" if about else "")
        + f" in {builder.data_dir} ...", flush=True)
  # TFDS's own two lines speak of a download of "Unknown size": these builders read
  # local files or generate their data, and the lines above and below say what.
  builder._log_download_bytes = lambda: None  # pylint: disable=protected-access
  builder._log_download_done = lambda: None  # pylint: disable=protected-access
  config = tfds.download.DownloadConfig(
      manual_dir=None if manual_dir is None else str(manual_dir))
  # TFDS's progress bars only on a terminal: in a log file they are
  # carriage-return noise.
  bars = tfds.core.utils.tqdm_utils
  shown = getattr(bars, "_active", True)
  if shown and not _is_terminal(sys.stderr):
    tfds.disable_progress_bar()
  try:
    with _quiet_about_unbuilt_variants():
      builder.download_and_prepare(download_config=config,
                                   file_format="array_record")
  finally:
    if shown:
      tfds.enable_progress_bar()
  print(f"{name} built in {builder.data_dir} ({split_sizes(builder)})", flush=True)
  return builder


def _is_terminal(stream) -> bool:
  try:
    return bool(stream.isatty())
  except (AttributeError, ValueError):
    return False


def split_sizes(builder: tfds.core.DatasetBuilder) -> str:
  """"train: N examples, test: M examples" of a built dataset."""
  return ", ".join(f"{name}: {split.num_examples} examples"
                   for name, split in builder.info.splits.items())


def load(name_or_builder: str | tfds.core.DatasetBuilder, split: str, *,
         data_dir: PathLike | None = None) -> Sequence[dict]:
  """Opens one split of a built dataset as a random-access data source.

  Args:
    name_or_builder: "dataset/config" or a builder (e.g. from ``prepare``).
    split: "train" or "test" (TFDS slicing such as "train[:10%]" works too).
    data_dir: root of built datasets (ignored when a builder is given).

  Returns:
    A TFDS ``ArrayRecordDataSource``: ``len()`` and ``[i]`` -> dict of numpy
    arrays and bytes (see ``common`` for the features).

  Raises:
    FileNotFoundError: the dataset is not built; the message gives the command.
  """
  if isinstance(name_or_builder, str):
    builder = get_builder(name_or_builder, data_dir=data_dir)
  else:
    builder = name_or_builder
  if not is_built(builder):
    name = f"{builder.name}/{builder.builder_config.name}"
    manual = " --manual_dir=FOLDER" if builder.name in NEEDS_MANUAL_DIR else ""
    raise FileNotFoundError(
        f"{name} is not built in {builder.data_dir_root}. Build it with:\n  python -m "
        f"experiments.prepare_data --dataset={name}{manual} "
        f"--data_dir={builder.data_dir_root}")
  return builder.as_data_source(split)
