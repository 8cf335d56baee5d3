"""Task families: what the trainer trains (see README.md in this folder).

``create(config.task)`` builds a registered task; ``TASK_NAMES`` lists them;
``task.bind(model)`` gives the ``BoundTask`` the trainer uses.
"""

from sasmamba_jax.tasks.base import BoundTask
from sasmamba_jax.tasks.base import Task
from sasmamba_jax.tasks.base import is_better
from sasmamba_jax.tasks.registry import TASK_NAMES
from sasmamba_jax.tasks.registry import TaskSpec
from sasmamba_jax.tasks.registry import create
from sasmamba_jax.tasks.registry import get

__all__ = ["BoundTask", "TASK_NAMES", "Task", "TaskSpec", "create", "get",
           "is_better"]
