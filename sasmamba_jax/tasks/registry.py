"""Tasks by name: ``create(config.task)`` builds the task a run config names.

A task family registers a ``TaskSpec``: its class, the defaults and validation of its
config section, and the model and dataset a fresh ``base_config(task)`` starts from.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import ml_collections

from sasmamba_jax.tasks.base import Task
from sasmamba_jax.tasks.lifting_3d import config as lifting_3d_config
from sasmamba_jax.tasks.lifting_3d.task import Lifting3DTask
from sasmamba_jax.tasks.pose_2d import config as pose_2d_config
from sasmamba_jax.tasks.pose_2d.task import Pose2DTask
from sasmamba_jax.tasks.pose_2d_video import config as pose_2d_video_config
from sasmamba_jax.tasks.pose_2d_video.task import Pose2DVideoTask


@dataclasses.dataclass(frozen=True)
class TaskSpec:
  """A registered task family."""

  name: str
  make_task: Callable[[ml_collections.ConfigDict], Task]
  #: the ``task`` config section with its defaults (``name`` included)
  default_config: Callable[[], ml_collections.ConfigDict]
  #: problems with a ``task`` section, as "key = value: what is wrong" strings
  validate_config: Callable[[ml_collections.ConfigDict], list[str]]
  default_model: str
  default_dataset: str
  description: str
  #: problems across a whole run config's sections (model kind, optimizer), or None
  validate_run: Callable[[ml_collections.ConfigDict], list[str]] | None = None
  #: changes to the trainer's defaults that the family needs (e.g. a frozen part)
  base_overrides: Callable[[ml_collections.ConfigDict], None] | None = None
  #: a saved run's ``task`` section (dict) in today's layout (moved keys), or None
  upgrade: Callable[[dict[str, Any]], dict[str, Any]] | None = None


_SPECS = [
    TaskSpec("lifting_3d", Lifting3DTask, lifting_3d_config.default_config,
             lifting_3d_config.validate, default_model="sasmamba",
             default_dataset="h36m/sh_243",
             description="2D keypoint clips -> root-relative 3D pose clips"),
    TaskSpec("pose_2d", Pose2DTask, pose_2d_config.default_config,
             pose_2d_config.validate, default_model="vitpose_b",
             default_dataset="coco/detections",
             description="person crops -> heatmaps -> COCO keypoints (ViTPose)",
             validate_run=pose_2d_config.validate_run,
             base_overrides=pose_2d_config.base_overrides),
    TaskSpec("pose_2d_video", Pose2DVideoTask, pose_2d_video_config.default_config,
             pose_2d_video_config.validate, default_model="glsmamba_b",
             default_dataset="posetrack18/delta2",
             description="clips of person crops -> heatmaps of the centre frame",
             validate_run=pose_2d_video_config.validate_run,
             base_overrides=pose_2d_video_config.base_overrides,
             upgrade=pose_2d_video_config.upgrade),
]
_REGISTRY = {spec.name: spec for spec in _SPECS}
TASK_NAMES: tuple[str, ...] = tuple(_REGISTRY)


def get(name: str) -> TaskSpec:
  """The spec of task ``name``; a ValueError lists the registered ones."""
  try:
    return _REGISTRY[name]
  except KeyError:
    raise ValueError(f"unknown task {name!r}; registered: {', '.join(TASK_NAMES)}"
                     ) from None


def create(task_config: ml_collections.ConfigDict) -> Task:
  """The task of a run config's ``task`` section (its own section only)."""
  return get(task_config.name).make_task(task_config)
