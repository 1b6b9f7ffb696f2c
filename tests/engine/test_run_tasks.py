"""run_tasks: the calling thread works too, and the first failure anywhere stops everyone."""

import threading
import time

import pytest

from exzarr.engine.executor import run_tasks


def test_failure_in_a_pool_worker_stops_the_caller():
    # A pool worker fails on its first task; the caller is busy with slow tasks of its own.
    # Before the fix the caller went on through every remaining task after the failure.
    ran: list[int] = []
    lock = threading.Lock()
    caller = threading.get_ident()

    def fn(i: int) -> None:
        with lock:
            ran.append(i)
        if threading.get_ident() != caller:
            raise ValueError(f"pool worker failed on {i}")
        time.sleep(0.01)

    with pytest.raises(ValueError, match="pool worker failed"):
        run_tasks(fn, list(range(200)), max_concurrency=2)
    assert len(ran) < 20, f"{len(ran)} tasks ran after the failure"


def test_failure_in_the_caller_stops_the_pool_workers():
    ran: list[int] = []
    lock = threading.Lock()
    caller = threading.get_ident()

    def fn(i: int) -> None:
        with lock:
            ran.append(i)
        if threading.get_ident() == caller:
            raise ValueError(f"caller failed on {i}")
        time.sleep(0.01)

    with pytest.raises(ValueError, match="caller failed"):
        run_tasks(fn, list(range(200)), max_concurrency=4)
    assert len(ran) < 20


def test_all_tasks_run_once_without_failure():
    seen: list[int] = []
    lock = threading.Lock()

    def fn(i: int) -> None:
        with lock:
            seen.append(i)

    run_tasks(fn, list(range(500)), max_concurrency=4)
    assert sorted(seen) == list(range(500))
