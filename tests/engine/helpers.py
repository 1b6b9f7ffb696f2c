"""A store wrapper that counts requests and the most in flight at once."""

from __future__ import annotations

import threading
import time

from exzarr.storage import MemoryStore, Store


class CountingStore(Store):
    def __init__(self, inner: Store | None = None, latency: float = 0.0, io_bound: bool = False, fail_keys=(), fail_set_keys=()):
        super().__init__()
        self.inner = inner or MemoryStore()
        self.latency = latency
        self.io_bound = io_bound
        self.fail_keys = set(fail_keys)
        self.fail_set_keys = set(fail_set_keys)
        self.gets: list[str] = []
        self.sets: list[str] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()

    @property
    def lock_namespace(self) -> str:
        return self.inner.lock_namespace

    def _enter(self):
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def _exit(self):
        with self._lock:
            self.in_flight -= 1

    def get(self, key, byte_range=None):
        self._enter()
        try:
            with self._lock:
                self.gets.append(key)
            if self.latency:
                time.sleep(self.latency)
            if key in self.fail_keys:
                raise OSError(f"injected read failure for {key}")
            return self.inner.get(key, byte_range)
        finally:
            self._exit()

    def set(self, key, value):
        self._enter()
        try:
            if self.latency:
                time.sleep(self.latency)
            if key in self.fail_set_keys:
                raise OSError(f"injected write failure for {key}")
            with self._lock:
                self.sets.append(key)
            self.inner.set(key, value)
        finally:
            self._exit()

    def delete(self, key):
        self.inner.delete(key)

    def exists(self, key):
        return self.inner.exists(key)

    def list(self):
        return self.inner.list()

    def reset(self):
        self.gets.clear()
        self.sets.clear()
        self.max_in_flight = 0
