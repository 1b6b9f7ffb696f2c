"""One background event loop per process for stores whose client is async (obstore).

Thousands of requests can be in flight on this one thread without a Python thread per
request; synchronous callers hand it coroutines and wait for the results. A forked child
gets a fresh loop (the parent's thread does not exist there).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

from .._fork import at_fork

T = TypeVar("T")

_state: dict[str, Any] = {"loop": None, "thread": None}
_lock = threading.Lock()


@at_fork
def _reset_after_fork() -> None:
    global _lock
    _lock = threading.Lock()
    _state["loop"] = _state["thread"] = None


def loop() -> asyncio.AbstractEventLoop:
    """The process's background loop, started on first use."""
    lp = _state["loop"]
    if lp is not None:
        return lp
    with _lock:
        if _state["loop"] is None:
            lp = asyncio.new_event_loop()
            ready = threading.Event()

            def run() -> None:
                asyncio.set_event_loop(lp)
                ready.set()
                lp.run_forever()

            t = threading.Thread(target=run, name="exzarr-io-loop", daemon=True)
            t.start()
            ready.wait()
            _state["loop"], _state["thread"] = lp, t
        return _state["loop"]


def in_loop_thread() -> bool:
    return threading.current_thread() is _state["thread"]


def submit(coro: Coroutine[Any, Any, T]) -> Future[T]:
    """Schedule ``coro`` on the background loop; a :class:`concurrent.futures.Future` of its result."""
    return asyncio.run_coroutine_threadsafe(coro, loop())


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on the background loop and wait for its result (from any thread but the loop's)."""
    if in_loop_thread():  # pragma: no cover - a programming error, not a user one
        coro.close()
        raise RuntimeError("exzarr: a blocking store call was made from the store's own event loop")
    fut = submit(coro)
    try:
        return fut.result()
    except BaseException:
        fut.cancel()
        raise


async def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Await ``coro`` on the background loop from another event loop (the async twins)."""
    return await asyncio.wrap_future(submit(coro))
