"""The chunk engine: plans of chunk tasks and the executor that runs them."""

from .executor import run_tasks
from .plan import ChunkTask, plan_coordinate, plan_orthogonal

__all__ = ["ChunkTask", "plan_coordinate", "plan_orthogonal", "run_tasks"]
