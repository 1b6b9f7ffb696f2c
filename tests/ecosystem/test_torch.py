"""exzarr.torch.BatchDataset with a real torch DataLoader, in the main process and in 2 worker processes."""

from __future__ import annotations

import importlib
import sys

import numpy as np
import pytest

import exzarr

torch = pytest.importorskip("torch")
from torch.utils.data import DataLoader  # noqa: E402

from exzarr.torch import BatchDataset  # noqa: E402

N = 301


@pytest.fixture(scope="module")
def arrays(tmp_path_factory) -> tuple[exzarr.Array, exzarr.Array]:
    root = tmp_path_factory.mktemp("torch") / "data.zarr"  # a local store: the arrays pickle into the workers
    x = exzarr.create(str(root / "x"), shape=(N, 4), chunks=(20, 4), dtype="float32")
    x[...] = np.arange(N, dtype="float32")[:, None] * 10 + np.arange(4, dtype="float32")
    y = exzarr.create(str(root / "y"), shape=(N,), chunks=(30,), dtype="int64")
    y[...] = np.arange(N)
    return exzarr.open(str(root / "x")), exzarr.open(str(root / "y"))


def rows(loader: DataLoader) -> list[int]:
    out = []
    for xb, yb in loader:
        assert isinstance(xb, torch.Tensor) and isinstance(yb, torch.Tensor)
        assert xb.dtype == torch.float32 and yb.dtype == torch.int64 and xb.shape == (len(yb), 4)
        torch.testing.assert_close(xb, yb[:, None].float() * 10 + torch.arange(4, dtype=torch.float32))  # still paired
        out.extend(yb.tolist())
    return out


@pytest.mark.parametrize("num_workers", [0, 2])
def test_every_row_exactly_once(arrays, num_workers):
    ds = BatchDataset(arrays, batch_size=16, shuffle=True, seed=1)
    loader = DataLoader(ds, batch_size=None, num_workers=num_workers)
    first = rows(loader)
    assert sorted(first) == list(range(N)) and first != list(range(N))
    ds.set_epoch(1)
    second = rows(loader)
    assert sorted(second) == list(range(N)) and second != first
    if num_workers == 0:
        ds.set_epoch(0)
        assert rows(loader) == first  # same seed and epoch: same order


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_set_epoch_reaches_persistent_workers(arrays, start_method):
    """Persistent workers keep their copy of the dataset across epochs: set_epoch in the main
    process must still change their order (the epoch is shared memory, passed at worker start)."""
    ds = BatchDataset(arrays, batch_size=16, shuffle=True, seed=5)
    loader = DataLoader(ds, batch_size=None, num_workers=2, persistent_workers=True, multiprocessing_context=start_method)
    first = rows(loader)
    ds.set_epoch(1)
    second = rows(loader)
    ds.set_epoch(0)
    third = rows(loader)
    assert sorted(first) == sorted(second) == list(range(N))  # every row exactly once per epoch
    assert second != first  # the workers saw epoch 1
    assert third == first  # and epoch 0 again: the same order


def test_workers_share_the_blocks_without_shuffle(arrays):
    loader = DataLoader(BatchDataset(arrays, batch_size=50, drop_remainder=False), batch_size=None, num_workers=2)
    got = rows(loader)
    assert sorted(got) == list(range(N))
    assert got != list(range(N))  # two workers' shares interleaved, not one worker reading everything


def test_single_array_yields_tensors():
    a = exzarr.create(shape=(10, 3), chunks=(4, 3), dtype="float64")
    a[...] = np.arange(30.0).reshape(10, 3)
    got = list(BatchDataset(a, batch_size=4))
    assert [tuple(t.shape) for t in got] == [(4, 3), (4, 3), (2, 3)]
    torch.testing.assert_close(torch.cat(got), torch.arange(30.0, dtype=torch.float64).reshape(10, 3))
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        BatchDataset(a, batch_size=0)
    with pytest.raises(ValueError, match="epoch must be an int"):
        BatchDataset(a, batch_size=2).set_epoch(-1)


def test_missing_torch_is_a_clear_import_error(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # what an environment without torch looks like to import
    monkeypatch.delitem(sys.modules, "exzarr.torch")
    with pytest.raises(ImportError, match=r"pip install exzarr\[torch\]"):
        importlib.import_module("exzarr.torch")


def test_pickled_dataset_keeps_its_seed(arrays):
    import pickle

    ds = BatchDataset(arrays, batch_size=32, shuffle=True)  # seed=None: drawn once, so workers agree
    clone = pickle.loads(pickle.dumps(ds))
    assert [yb.tolist() for _, yb in clone] == [yb.tolist() for _, yb in ds]
    ds.set_epoch(3)  # a plain pickle carries the epoch number (the shared value only travels to workers)
    clone = pickle.loads(pickle.dumps(ds))
    assert clone.epoch == 3 and [yb.tolist() for _, yb in clone] == [yb.tolist() for _, yb in ds]
    clone.set_epoch(4)  # the copy has its own epoch
    assert (clone.epoch, ds.epoch) == (4, 3)
