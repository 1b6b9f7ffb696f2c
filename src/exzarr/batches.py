"""Mini-batches over axis 0 of one or more arrays, for training loops (the seed's ML pipeline).

:func:`batches` returns a :class:`Batches`: an iterable of NumPy batches read block by block.

- **Read units.** The rows of each array are read in *row blocks*: the rows one stored object holds
  (the shard's rows for a sharded array, else the chunk's rows). Each block is fetched with one
  whole-block read (``a[r0:r1]``), which decodes its chunks in parallel on exzarr's engine, so every
  stored object is read once per epoch. For a tuple of arrays with different chunkings along axis 0
  the read unit is the least common multiple of their row blocks when that stays small (at most 8
  times the largest block), else the union of their block boundaries (an object spanning several
  units is then read once per unit).
- **Shuffling** (``shuffle=True``) is chunk-aware: the order of the row blocks is permuted, then
  ``buffer_blocks`` blocks at a time are pooled and their rows permuted together (with the few rows
  left over from the previous pool), so a batch mixes rows of several blocks while memory stays at a
  few blocks. An epoch visits every row exactly once. The same ``seed`` gives the same order; iterating
  again gives the next epoch (a seed derived from ``seed`` and the epoch number), and
  :meth:`Batches.epoch` gives any epoch. ``seed=None`` draws a fresh random seed for each
  :class:`Batches`.
- **Prefetch.** With ``prefetch > 0`` a background thread reads ahead, up to ``prefetch`` batches past
  the one in use (plus the pool being cut into batches). It stops when the consumer stops (``break``,
  ``close()``, garbage collection), and a read error (e.g. a corrupt chunk) is raised in the consumer.

>>> import exzarr, numpy as np
>>> x = exzarr.create(shape=(10, 3), chunks=(4, 3), dtype="float32")
>>> x[...] = np.arange(30, dtype="float32").reshape(10, 3)
>>> y = exzarr.create(shape=(10,), chunks=(5,), dtype="int64")
>>> y[...] = np.arange(10)
>>> [yb.tolist() for xb, yb in exzarr.batches((x, y), batch_size=4)]
[[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
>>> b = exzarr.batches((x, y), batch_size=4, shuffle=True, seed=0, drop_remainder=True)
>>> len(b)
2
>>> first = [yb.tolist() for _, yb in b.epoch(0)]
>>> len(set(sum(first, [])))  # 8 distinct rows of 10 (the 2 left over are dropped)
8
>>> first == [yb.tolist() for _, yb in b.epoch(0)]  # same seed and epoch: same batches
True
"""

from __future__ import annotations

import itertools
import math
import operator
import queue
import secrets
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

__all__ = ["Batches", "batches"]

_LCM_LIMIT = 8  # the least common row block is used while it is at most this many times the largest block
_THREAD_NAME = "exzarr-batches-prefetch"


def _name(a: Any, i: int) -> str:
    path = getattr(a, "path", None)
    return f"arrays[{i}] ({path!r})" if path else f"arrays[{i}]"


def _int_arg(value: Any, what: str, minimum: int) -> int:
    if isinstance(value, bool):
        raise TypeError(f"batches(): {what} must be an int, got bool {value!r}")
    try:
        v = operator.index(value)
    except TypeError:
        raise TypeError(f"batches(): {what} must be an int, got {type(value).__name__} {value!r}") from None
    if v < minimum:
        raise ValueError(f"batches(): {what} must be >= {minimum}, got {v}")
    return v


def _row_block(a: Any) -> int:
    """Rows along axis 0 that one stored object of ``a`` holds (shard rows when sharded)."""
    shards = getattr(a, "shards", None)
    unit = shards[0] if shards else a.chunks[0]
    return max(1, int(unit))


def _boundaries(n: int, units: Sequence[int]) -> list[int]:
    """Start rows of the read units, plus ``n``."""
    if n == 0:
        return [0]
    lcm = math.lcm(*units)
    if lcm <= _LCM_LIMIT * max(units):
        starts = set(range(0, n, lcm))
    else:
        starts = set()
        for u in units:
            starts.update(range(0, n, u))
    return [*sorted(starts), n]


class Batches:
    """An iterable of NumPy batches over axis 0 of one array or of a tuple of aligned arrays.

    Built by :func:`batches` (see there for the arguments). Iterating yields the next epoch each
    time (epoch 0, 1, 2...); :meth:`epoch` yields a given one. ``len()`` is the number of batches
    in an epoch. :meth:`shard` gives a disjoint share of the row blocks (for data-loader workers or
    distributed ranks); the shares of ``count`` shards together visit every row exactly once.

    >>> import exzarr, numpy as np
    >>> a = exzarr.create(shape=(7,), chunks=(2,), dtype="int32")
    >>> a[...] = np.arange(7)
    >>> b = exzarr.batches(a, batch_size=3)
    >>> len(b), [v.tolist() for v in b]
    (3, [[0, 1, 2], [3, 4, 5], [6]])
    >>> b.blocks
    [(0, 2), (2, 4), (4, 6), (6, 7)]
    >>> [v.tolist() for v in b.shard(1, 2)]
    [[2, 3, 6]]
    """

    def __init__(
        self,
        arrays: Any,
        batch_size: int,
        *,
        shuffle: bool = False,
        seed: int | None = None,
        drop_remainder: bool = False,
        prefetch: int = 2,
        buffer_blocks: int = 4,
        block_rows: int | None = None,
        _shard: tuple[int, int] = (0, 1),
    ) -> None:
        self.single = not isinstance(arrays, (tuple, list))
        items = [arrays] if self.single else list(arrays)
        if not items:
            raise ValueError("batches(): arrays is an empty sequence; pass an array or a tuple of arrays")
        for i, a in enumerate(items):
            if not (hasattr(a, "shape") and hasattr(a, "chunks") and hasattr(a, "__getitem__")) or isinstance(a, np.ndarray):
                what = "arrays" if self.single else f"arrays[{i}]"
                raise TypeError(
                    f"batches(): {what} must be an exzarr Array (chunked, with shape and chunks), got {type(a).__name__}"
                )
            if len(a.shape) == 0:
                raise ValueError(f"batches(): {_name(a, i)} is 0-d; batches are taken along axis 0")
        lengths = [int(a.shape[0]) for a in items]
        if len(set(lengths)) > 1:
            listed = ", ".join(f"{_name(a, i)} has {n}" for i, (a, n) in enumerate(zip(items, lengths, strict=True)))
            raise ValueError(f"batches(): the arrays must have the same length along axis 0: {listed}")
        for flag, what in ((shuffle, "shuffle"), (drop_remainder, "drop_remainder")):
            if not isinstance(flag, (bool, np.bool_)):
                raise TypeError(f"batches(): {what} must be a bool, got {type(flag).__name__} {flag!r}")
        self.arrays: tuple[Any, ...] = tuple(items)
        self.batch_size = _int_arg(batch_size, "batch_size", 1)
        self.prefetch = _int_arg(prefetch, "prefetch", 0)
        self.buffer_blocks = _int_arg(buffer_blocks, "buffer_blocks", 1)
        self.shuffle = bool(shuffle)
        self.drop_remainder = bool(drop_remainder)
        self.seed = secrets.randbits(63) if seed is None else _int_arg(seed, "seed", 0)
        index, count = _shard
        self._shard = (_int_arg(index, "shard index", 0), _int_arg(count, "shard count", 1))
        if self._shard[0] >= self._shard[1]:
            raise ValueError(f"batches(): shard index {index} is not below the shard count {count}")
        self.nrows = lengths[0]
        self.block_rows = None if block_rows is None else _int_arg(block_rows, "block_rows", 1)
        units = [self.block_rows] if self.block_rows else [_row_block(a) for a in items]
        bounds = _boundaries(self.nrows, units)
        self.blocks: list[tuple[int, int]] = list(itertools.pairwise(bounds))
        self._next_epoch = 0

    # ------------------------------------------------------------------ shape of an epoch
    def _my_blocks(self, epoch: int) -> list[tuple[int, int]]:
        """The row blocks this shard reads in ``epoch``, in reading order."""
        order = list(range(len(self.blocks)))
        if self.shuffle:
            order = [int(i) for i in np.random.default_rng([self.seed, epoch]).permutation(len(self.blocks))]
        index, count = self._shard
        return [self.blocks[i] for i in order[index::count]]

    def _rows(self, epoch: int = 0) -> int:
        return sum(r1 - r0 for r0, r1 in self._my_blocks(epoch))

    def __len__(self) -> int:
        """Batches per epoch (for a shuffled :meth:`shard` whose blocks differ in size: in the epoch the next
        iteration gives)."""
        rows = self._rows(0) if not self.shuffle or self._shard[1] == 1 else None
        if rows is None:  # a shuffled share: its size varies with the epoch when blocks differ in size
            rows = self._rows(self._next_epoch)
        full, rest = divmod(rows, self.batch_size)
        return full + (1 if rest and not self.drop_remainder else 0)

    def shard(self, index: int, count: int) -> Batches:
        """Share ``index`` of ``count`` disjoint shares of the row blocks (same seed and options).

        >>> import exzarr
        >>> a = exzarr.create(shape=(6,), chunks=(2,), dtype="int8")
        >>> a[...] = [0, 1, 2, 3, 4, 5]
        >>> [[v.tolist() for v in exzarr.batches(a, 2).shard(i, 2)] for i in range(2)]
        [[[0, 1], [4, 5]], [[2, 3]]]
        """
        return Batches(
            self.arrays[0] if self.single else self.arrays,
            self.batch_size,
            shuffle=self.shuffle,
            seed=self.seed,
            drop_remainder=self.drop_remainder,
            prefetch=self.prefetch,
            buffer_blocks=self.buffer_blocks,
            block_rows=self.block_rows,
            _shard=(index, count),
        )

    def __repr__(self) -> str:
        return (
            f"<Batches {len(self.arrays)} array(s) x {self.nrows} rows, batch_size={self.batch_size}, "
            f"{len(self.blocks)} row blocks, shuffle={self.shuffle}, shard={self._shard}>"
        )

    # ------------------------------------------------------------------ iteration
    def __iter__(self) -> Iterator[Any]:
        """The next epoch (0 on the first iteration, then 1, 2...)."""
        epoch = self._next_epoch
        self._next_epoch += 1
        return self.epoch(epoch)

    def epoch(self, n: int) -> Iterator[Any]:
        """Yield the batches of epoch ``n`` (same seed and ``n``: same batches).

        >>> import exzarr, numpy as np
        >>> a = exzarr.create(shape=(8,), chunks=(2,), dtype="int16")
        >>> a[...] = np.arange(8)
        >>> b = exzarr.batches(a, 4, shuffle=True, seed=7)
        >>> [v.tolist() for v in b.epoch(3)] == [v.tolist() for v in b.epoch(3)]
        True
        """
        n = _int_arg(n, "epoch", 0)
        if self.prefetch == 0:
            return self._produce(n, None)
        return self._prefetched(n)

    def _read_block(self, r0: int, r1: int) -> list[np.ndarray]:
        out = []
        for i, a in enumerate(self.arrays):
            data = np.asarray(a[r0:r1])
            if data.shape[:1] != (r1 - r0,):  # the array shrank under us: never hand out short data
                raise ValueError(f"batches(): {_name(a, i)} returned {data.shape[0]} rows for rows {r0}:{r1}; was it resized?")
            out.append(data)
        return out

    def _produce(self, epoch: int, stop: threading.Event | None) -> Iterator[Any]:
        """The batches of ``epoch`` (run in the consumer, or in the prefetch thread)."""
        blocks = self._my_blocks(epoch)
        rng = np.random.default_rng([self.seed, epoch, 1 + self._shard[0]]) if self.shuffle else None
        group = self.buffer_blocks if self.shuffle else 1
        bs = self.batch_size
        carry: list[np.ndarray] | None = None
        for g in range(0, len(blocks), group):
            if stop is not None and stop.is_set():
                return
            parts = [self._read_block(r0, r1) for r0, r1 in blocks[g : g + group]]
            if carry is not None:
                parts.insert(0, carry)
            pool = [np.concatenate([p[j] for p in parts]) if len(parts) > 1 else parts[0][j] for j in range(len(self.arrays))]
            rows = pool[0].shape[0]
            if rng is not None:
                perm = rng.permutation(rows)
                pool = [p[perm] for p in pool]
            last = g + group >= len(blocks)
            cut = rows if last else rows - rows % bs
            for s in range(0, cut, bs):
                if last and s + bs > rows and self.drop_remainder:
                    break
                batch = [p[s : s + bs] for p in pool]
                yield batch[0] if self.single else tuple(batch)
            carry = None if cut == rows else [p[cut:] for p in pool]

    def _prefetched(self, epoch: int) -> Iterator[Any]:
        """Run :meth:`_produce` in a daemon thread, ``prefetch`` batches ahead of the consumer."""
        q: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=self.prefetch)
        stop = threading.Event()

        def put(item: tuple[str, Any]) -> bool:
            while not stop.is_set():
                try:
                    q.put(item, timeout=0.05)
                    return True
                except queue.Full:
                    continue
            return False

        def run() -> None:
            try:
                for batch in self._produce(epoch, stop):
                    if not put(("batch", batch)):
                        return
            except BaseException as exc:  # handed to the consumer, raised there
                put(("error", exc))
                return
            put(("done", None))

        thread = threading.Thread(target=run, name=_THREAD_NAME, daemon=True)
        thread.start()
        try:
            while True:
                kind, value = q.get()
                if kind == "batch":
                    yield value
                elif kind == "error":
                    raise value
                else:
                    return
        finally:
            stop.set()
            thread.join()


def batches(
    arrays: Any,
    batch_size: int,
    shuffle: bool = False,
    seed: int | None = None,
    drop_remainder: bool = False,
    prefetch: int = 2,
    *,
    buffer_blocks: int = 4,
    block_rows: int | None = None,
) -> Batches:
    """Mini-batches of rows (axis 0) of ``arrays``, read block by block with read-ahead.

    ``arrays`` is one exzarr Array (batches are NumPy arrays) or a tuple of arrays of the same length
    along axis 0, e.g. features and labels (batches are tuples, rows kept paired; their chunkings may
    differ). Without ``shuffle`` rows come in order, ``batch_size`` at a time, the last batch smaller
    unless ``drop_remainder``. With ``shuffle`` the row blocks are visited in a random order and the
    rows of ``buffer_blocks`` blocks at a time are mixed; each epoch visits every row exactly once and
    reads each stored object about once; ``seed`` makes it repeatable (``None``: a random seed).
    ``prefetch`` batches are read ahead in a background thread (``0``: read in the caller). Returns a
    :class:`Batches` (``len()`` batches per epoch; each iteration is the next epoch). ``block_rows``
    overrides the read unit (rows per whole-block read), e.g. to read huge shards in parts.

    >>> import exzarr, numpy as np
    >>> x = exzarr.create(shape=(100, 8), chunks=(16, 8), dtype="float32")
    >>> x[...] = np.random.default_rng(0).random((100, 8), dtype="float32")
    >>> y = exzarr.create(shape=(100,), chunks=(25,), dtype="int64")
    >>> y[...] = np.arange(100)
    >>> seen = []
    >>> for xb, yb in exzarr.batches((x, y), batch_size=32, shuffle=True, seed=1):
    ...     assert np.array_equal(xb, x.oindex[yb])  # features and labels stay paired
    ...     seen.extend(yb.tolist())
    >>> sorted(seen) == list(range(100))
    True
    """
    return Batches(
        arrays,
        batch_size,
        shuffle=shuffle,
        seed=seed,
        drop_remainder=drop_remainder,
        prefetch=prefetch,
        buffer_blocks=buffer_blocks,
        block_rows=block_rows,
    )
