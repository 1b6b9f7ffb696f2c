"""The chunk engine: layouts, plans of chunk tasks, the executor that runs them, and streaming."""

from .core import ChunkEngine, EngineSpec, LockPolicy
from .executor import run_tasks
from .layout import ChunkLayout, LayoutKind
from .plan import ChunkTask, plan_coordinate, plan_orthogonal

__all__ = [
    "ChunkEngine",
    "ChunkLayout",
    "ChunkTask",
    "EngineSpec",
    "LayoutKind",
    "LockPolicy",
    "plan_coordinate",
    "plan_orthogonal",
    "run_tasks",
]
