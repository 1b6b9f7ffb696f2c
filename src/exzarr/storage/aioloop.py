"""One background event loop per process for stores whose client is async (obstore).

Thousands of requests can be in flight on this one thread without a Python thread per
request; synchronous callers hand it coroutines and wait for the results. A forked child
gets a fresh loop (the parent's thread does not exist there).

Requests of a native client (obstore's Rust runtime) finish on the client's own threads,
which take the GIL to hand their result to this loop. A thread that takes the GIL after the
interpreter has begun to shut down is ended on the spot, which kills the process when that
thread is running Rust code (SIGABRT/SIGSEGV at exit, seen when a program ended with
requests in flight or right after its last one). So every native awaitable goes through
:func:`native`, which counts it until its result has arrived and never cancels it midway
(a cancelled caller stops waiting; the request finishes in the background), and an
``atexit`` hook waits for the count to drop to zero, stops the loop, and waits until no
thread outside :mod:`threading` is still running Python code, before shutdown begins.
"""

from __future__ import annotations

import asyncio
import atexit
import sys
import threading
import time
from collections.abc import Awaitable, Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

from .._fork import at_fork

T = TypeVar("T")

_state: dict[str, Any] = {"loop": None, "thread": None}
_lock = threading.Lock()
_native: set[asyncio.Future[Any]] = set()  # native requests whose result has not arrived yet
EXIT_WAIT = 30.0  # seconds the interpreter's exit waits at most for native requests in flight


@at_fork
def _reset_after_fork() -> None:
    global _lock
    _lock = threading.Lock()
    _state["loop"] = _state["thread"] = None
    _native.clear()  # the parent's requests: their threads do not exist here


async def native(aw: Awaitable[T]) -> T:
    """Await a native client's awaitable (run on the background loop); see the module notes."""
    fut = asyncio.ensure_future(aw)
    if not fut.done():
        _native.add(fut)
        fut.add_done_callback(_native.discard)
    return await asyncio.shield(fut)


def _foreign_threads_in_python() -> bool:
    """Whether a thread not started by :mod:`threading` (a native client's) is running Python code."""
    known = {t.ident for t in threading.enumerate() if not isinstance(t, threading._DummyThread)}
    return any(ident not in known for ident in sys._current_frames())


def _quiesce(timeout: float | None = None) -> None:
    """Before the interpreter shuts down: let native requests finish, stop the loop (see module notes)."""
    lp, thread = _state["loop"], _state["thread"]
    if lp is None or thread is None or not thread.is_alive():
        return
    deadline = time.monotonic() + (EXIT_WAIT if timeout is None else timeout)
    while _native and time.monotonic() < deadline:
        time.sleep(0.002)
    with _lock:
        lp.call_soon_threadsafe(lp.stop)
        thread.join(max(0.0, deadline - time.monotonic()))
        _state["loop"] = _state["thread"] = None  # a later call (another exit hook) starts a new loop
    while _foreign_threads_in_python() and time.monotonic() < deadline:
        time.sleep(0.001)


atexit.register(_quiesce)


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
