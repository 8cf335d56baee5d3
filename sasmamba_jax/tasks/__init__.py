"""Task families: what the trainer trains (see README.md in this folder).

``create(config.task)`` builds a registered task; ``TASK_NAMES`` lists them.
"""

from sasmamba_jax.tasks.base import Task
from sasmamba_jax.tasks.base import is_better
from sasmamba_jax.tasks.registry import TASK_NAMES
from sasmamba_jax.tasks.registry import TaskSpec
from sasmamba_jax.tasks.registry import create
from sasmamba_jax.tasks.registry import get

__all__ = ["TASK_NAMES", "Task", "TaskSpec", "create", "get", "is_better"]
