"""Datasets: TFDS builders (array_record, no TensorFlow needed) and grain pipelines.

Importing this package registers the builders ``h36m``, ``mpi_inf_3dhp``,
``synthetic_motion``, ``posetrack17``, ``posetrack18``, ``posetrack21``,
``sub_jhmdb``, ``synthetic_video_pose`` and ``coco`` with TFDS. Typical use::

  from sasmamba_jax import datasets
  builder = datasets.prepare("synthetic_motion/clips_27", data_dir=DIR)
  train = datasets.make_train_iterator(
      datasets.load(builder, "train"), batch_size=32, seed=0,
      transforms=[datasets.RandomFlip(datasets.skeleton_of(...))])
  test = datasets.make_eval_iterator(datasets.load(builder, "test"), batch_size=32)

Features are documented in ``common``; pipelines in ``pipeline``; the dataset
section of a run config in ``config``. See README.md in this folder.
"""

from sasmamba_jax.datasets.coco import coco_dataset_builder
from sasmamba_jax.datasets.common import FEATURE_NAMES
from sasmamba_jax.datasets.common import denormalize_pixels
from sasmamba_jax.datasets.common import normalize_pixels
from sasmamba_jax.datasets.h36m import h36m_dataset_builder
from sasmamba_jax.datasets.mpi_inf_3dhp import mpi_inf_3dhp_dataset_builder
from sasmamba_jax.datasets.posetrack import posetrack17_dataset_builder
from sasmamba_jax.datasets.posetrack import posetrack18_dataset_builder
from sasmamba_jax.datasets.posetrack import posetrack21_dataset_builder
from sasmamba_jax.datasets.pipeline import make_eval_iterator
from sasmamba_jax.datasets.pipeline import make_train_iterator
from sasmamba_jax.datasets.pipeline import num_eval_batches
from sasmamba_jax.datasets.pose_transforms import RandomFlip
from sasmamba_jax.datasets.pose_transforms import flip_example
from sasmamba_jax.datasets.pose_transforms import skeleton_of
from sasmamba_jax.datasets.registry import dataset_names
from sasmamba_jax.datasets.registry import get_builder
from sasmamba_jax.datasets.registry import is_built
from sasmamba_jax.datasets.registry import load
from sasmamba_jax.datasets.registry import prepare
from sasmamba_jax.datasets.registry import split_sizes
from sasmamba_jax.datasets.safe_io import DataFileError
from sasmamba_jax.datasets.safe_io import MissingDataFileError
from sasmamba_jax.datasets.safe_io import UnsafePickleError
from sasmamba_jax.datasets.split import Split
from sasmamba_jax.datasets.sub_jhmdb import sub_jhmdb_dataset_builder
from sasmamba_jax.datasets.synthetic_motion import synthetic_motion_dataset_builder
from sasmamba_jax.datasets.synthetic_video_pose import (
    synthetic_video_pose_dataset_builder)
