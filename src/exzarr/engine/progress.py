"""The shared vocabulary of long operations: ``max_concurrency=`` (alias ``parallel=``) and
``progress=`` (``True`` for a tqdm bar, or a callable ``progress(done, total)``; the older
``progress_callback=`` is an alias)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ..errors import CallbackError
from .executor import check_concurrency

ProgressArg = bool | Callable[[int, int | None], Any] | None


def concurrency_arg(max_concurrency: Any, parallel: Any) -> int | None:
    """``max_concurrency=``, or its alias ``parallel=`` (not both), validated."""
    if parallel is not None:
        if max_concurrency is not None:
            raise TypeError("give max_concurrency= or its alias parallel=, not both")
        return check_concurrency(parallel, "parallel")
    return check_concurrency(max_concurrency)


def progress_arg(progress: ProgressArg, progress_callback: Any) -> ProgressArg:
    """``progress=``, or its alias ``progress_callback=`` (not both)."""
    if progress_callback is None:
        return progress
    if progress not in (None, False):
        raise TypeError("give progress= or its alias progress_callback=, not both")
    if not callable(progress_callback):
        raise TypeError(f"progress_callback must be callable, got {type(progress_callback).__name__}")
    return progress_callback


class Progress:
    """Reports ``(done, total)`` to a callable and/or advances a tqdm bar; thread-safe."""

    def __init__(self, callback: Callable[..., Any] | None, name: str, bar: Any) -> None:
        self.callback, self.name, self.bar = callback, name, bar
        self.done = 0
        self._lock = threading.Lock()

    def step(self, total: int | None, n: int = 1) -> None:
        with self._lock:
            self.done += n
            done = self.done
        if self.bar is not None:
            self.bar.update(n)
        if self.callback is not None:
            try:
                self.callback(done, total)
            except Exception as exc:
                raise CallbackError(f"{self.name} raised {type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def make_progress(
    progress: ProgressArg, progress_callback: Any, *, total: int | None, desc: str, unit: str = "chunk"
) -> Progress | None:
    """The reporter for ``progress=``/``progress_callback=`` (``None`` when neither is given)."""
    name = "progress"
    if progress_callback is not None:
        if progress not in (None, False):
            raise TypeError("give progress= or its alias progress_callback=, not both")
        progress, name = progress_callback, "progress_callback"
    if progress is None or progress is False:
        return None
    if progress is True:
        try:
            from tqdm.auto import tqdm
        except ImportError:  # pragma: no cover - depends on the environment
            raise ImportError("progress=True needs tqdm: pip install tqdm (or pass a callable progress=)") from None
        return Progress(None, name, tqdm(total=total, desc=desc, unit=unit))
    if not callable(progress):
        raise TypeError(f"{name} must be True, False or a callable (done, total), got {type(progress).__name__}")
    return Progress(progress, name, None)
