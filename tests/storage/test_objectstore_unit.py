"""Pure helpers of the object store, tested without a server."""

from __future__ import annotations

from exzarr.storage.base import ByteRange
from exzarr.storage.objectstore import _is_range_error


def test_a_missing_key_is_never_a_range_error():
    """Azurite's 404 text carries a request id that can contain "416": a missing key once read back
    as empty bytes (a flaky conformance test) because the text matched the range-error check."""
    r = ByteRange(0, 3)
    not_found = FileNotFoundError("The specified blob does not exist. RequestId:5b416e02-a9c3 Time:2026-11-25")
    assert not _is_range_error(not_found, r)
    assert _is_range_error(OSError("HTTP status 416 Range Not Satisfiable"), r)
    assert _is_range_error(OSError("InvalidRange: the range specified is invalid"), r)
    assert not _is_range_error(OSError("request 0416ab failed: connection reset"), r)
    assert not _is_range_error(OSError("HTTP status 416"), None)
