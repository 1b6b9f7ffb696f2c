"""Reusable test material: the store conformance kit and hypothesis strategies.

Any store (ours or a third party's) proves it behaves like a Zarr store by
subclassing :class:`~exzarr.testing.store.StoreConformance`::

    from exzarr.testing.store import StoreConformance

    class TestMyStore(StoreConformance):
        def make_store(self, tmp_path):
            return MyStore(tmp_path / "root")

Importing this package needs pytest (and hypothesis for the strategies); the
library itself never imports it.
"""
