"""Fork safety: what a child created with ``fork`` must not inherit from its parent.

A child started with ``fork`` (``multiprocessing`` on Linux, PyTorch's ``DataLoader``
workers) gets a copy of the parent's memory but only the thread that forked. The shared
thread pool then has no threads (work submitted to it never runs: the child hangs), and any
lock another parent thread held at that moment stays held forever. Modules register a reset
here for their global state (:func:`at_fork`), and objects that own a lock register with
:func:`track`; both run in the child right after the fork, before any user code.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable
from typing import Any

_resets: list[Callable[[], None]] = []
_tracked: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()  # by id: some are unhashable
_generation = [0]


def at_fork(fn: Callable[[], None]) -> Callable[[], None]:
    """Run ``fn()`` in every forked child (a decorator for module-level resets)."""
    _resets.append(fn)
    return fn


def track(obj: Any) -> None:
    """Call ``obj._after_fork()`` in every forked child while ``obj`` is alive."""
    _tracked[id(obj)] = obj


def generation() -> int:
    """How many forks this process descends from (changes in each child)."""
    return _generation[0]


def _in_child() -> None:
    _generation[0] += 1
    for fn in _resets:
        fn()
    for obj in list(_tracked.values()):
        obj._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_in_child)
