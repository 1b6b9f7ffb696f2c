"""PyTorch adapter: :class:`BatchDataset`, an ``IterableDataset`` of torch tensors over :func:`exzarr.batches`.

Needs PyTorch (``pip install exzarr[torch]``). The dataset yields whole batches, so give the
``DataLoader`` ``batch_size=None``. It is worker-aware: with ``num_workers=k`` each worker reads a
disjoint share of the row blocks (:meth:`exzarr.Batches.shard`), so the union over the workers is
every row exactly once per epoch (each worker's last batch may be smaller, unless ``drop_remainder``).
The arrays are pickled into the worker processes, so use a store every process can open (a local
path, an object store URL; not ``memory://``). Call :meth:`BatchDataset.set_epoch` before each
epoch to get a new shuffled order (all workers then agree on it). The epoch lives in shared memory
that the worker processes inherit, so it reaches ``persistent_workers=True`` workers too (which keep
their copy of the dataset from one epoch to the next), with the ``fork``, ``spawn`` and
``forkserver`` start methods alike.

>>> import exzarr, numpy as np
>>> from exzarr.torch import BatchDataset
>>> from torch.utils.data import DataLoader
>>> x = exzarr.create(shape=(10, 2), chunks=(4, 2), dtype="float32")
>>> x[...] = np.arange(20, dtype="float32").reshape(10, 2)
>>> y = exzarr.create(shape=(10,), chunks=(4,), dtype="int64")
>>> y[...] = np.arange(10)
>>> ds = BatchDataset((x, y), batch_size=4, shuffle=True, seed=0)
>>> rows = [int(v) for xb, yb in DataLoader(ds, batch_size=None) for v in yb]
>>> sorted(rows) == list(range(10))
True
"""

from __future__ import annotations

import ctypes
import multiprocessing
from collections.abc import Iterator
from multiprocessing import context as _mp_context
from typing import Any

from .batches import Batches

try:
    import torch
    from torch.utils.data import IterableDataset, get_worker_info
except ImportError as exc:  # pragma: no cover - exercised only without torch
    raise ImportError("exzarr.torch needs PyTorch; install it with: pip install exzarr[torch]") from exc

__all__ = ["BatchDataset"]


def _tensor(a: Any) -> torch.Tensor:
    try:
        return torch.from_numpy(a)
    except TypeError as e:
        raise TypeError(f"exzarr.torch: a batch of dtype {a.dtype} cannot become a torch tensor: {e}") from None


def _shared_int(value: int) -> Any:
    """A 64-bit integer in shared memory that worker processes inherit (forked) or receive while
    being started (spawn, forkserver). Without a lock: one writer (the main process, between epochs);
    a lock made under the fork start method could not be passed to a spawned worker."""
    return multiprocessing.Value(ctypes.c_int64, value, lock=False)


class BatchDataset(IterableDataset):
    """Batches of rows of one array or a tuple of aligned arrays, as torch tensors.

    Takes the arguments of :func:`exzarr.batches` and yields what it yields with each NumPy
    batch turned into a tensor (``torch.from_numpy``, no copy). Use ``DataLoader(ds, batch_size=None)``.

    >>> import exzarr, numpy as np
    >>> a = exzarr.create(shape=(5, 2), chunks=(2, 2), dtype="float64")
    >>> a[...] = 1.0
    >>> [tuple(t.shape) for t in BatchDataset(a, batch_size=2)]
    [(2, 2), (2, 2), (1, 2)]
    """

    def __init__(
        self,
        arrays: Any,
        batch_size: int,
        shuffle: bool = False,
        seed: int | None = None,
        drop_remainder: bool = False,
        prefetch: int = 2,
        *,
        buffer_blocks: int = 4,
        block_rows: int | None = None,
    ) -> None:
        super().__init__()
        # built (and validated, and a seed drawn when None) here, so that every worker agrees on the order
        self.batches = Batches(
            arrays,
            batch_size,
            shuffle=shuffle,
            seed=seed,
            drop_remainder=drop_remainder,
            prefetch=prefetch,
            buffer_blocks=buffer_blocks,
            block_rows=block_rows,
        )
        self._epoch = _shared_int(0)

    @property
    def epoch(self) -> int:
        """The epoch whose order the next iteration yields (set with :meth:`set_epoch`)."""
        return int(self._epoch.value)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        if _mp_context.get_spawning_popen() is None:
            # a plain pickle (a copy, a file): shared memory cannot travel that way, the epoch number can
            # (while a worker process is being started, the shared value itself is passed: it stays shared)
            state["_epoch"] = int(self._epoch.value)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        if isinstance(state.get("_epoch"), int):
            state = {**state, "_epoch": _shared_int(state["_epoch"])}
        self.__dict__.update(state)

    def set_epoch(self, epoch: int) -> None:
        """Use epoch ``epoch``'s order from now on (call it in the main process before each epoch).

        >>> import exzarr, numpy as np
        >>> a = exzarr.create(shape=(6,), chunks=(2,), dtype="int64")
        >>> a[...] = np.arange(6)
        >>> ds = BatchDataset(a, batch_size=6, shuffle=True, seed=3)
        >>> first = next(iter(ds)).tolist()
        >>> ds.set_epoch(1)
        >>> sorted(next(iter(ds)).tolist()) == sorted(first) == [0, 1, 2, 3, 4, 5]
        True
        """
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise ValueError(f"set_epoch(): epoch must be an int >= 0, got {epoch!r}")
        # a shared value: DataLoader workers (persistent ones too) read it at the start of their next epoch
        self._epoch.value = epoch

    def __iter__(self) -> Iterator[Any]:
        info = get_worker_info()
        share = self.batches if info is None else self.batches.shard(info.id, info.num_workers)
        for batch in share.epoch(self.epoch):  # read here, at the start of each epoch of each worker
            yield tuple(_tensor(b) for b in batch) if isinstance(batch, tuple) else _tensor(batch)
