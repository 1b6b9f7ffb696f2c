"""Values written into an array: cast to its data type only when nothing is lost, checked before
any chunk is touched.

NumPy's assignment casts silently: ``[300, -1, 256]`` into ``uint8`` becomes ``[44, 255, 0]``,
NaN into an integer array becomes INT_MIN, ``1e300`` into ``float32`` becomes ``inf``, ``"hello"``
into ``S3`` becomes ``b"hel"``. A storage library must not write values nobody gave it, so
:func:`cast_value` refuses (:class:`~exzarr.errors.CastError`, naming the array and the first bad
value) any value that is out of range, not finite where the type cannot hold it, complex with an
imaginary part going to a real type, too long for a fixed-size string, or not a ``str``/``bytes``
for variable-length strings/bytes. Truncating a finite float towards zero into an integer type is
kept (as NumPy and zarr-python do for scalars).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import CastError, ShapeMismatchError

__all__ = ["cast_value"]


def _fail(name: str, value: Any, nd: np.dtype, why: str) -> CastError:
    return CastError(f"array {name!r}: cannot write {value!r} into dtype {nd}: {why}")


def _first(mask: np.ndarray, src: np.ndarray) -> Any:
    return src.reshape(-1)[int(np.flatnonzero(mask.reshape(-1))[0])]


def _check_numeric(src: np.ndarray, nd: np.dtype, name: str) -> None:
    sk, tk = src.dtype.kind, nd.kind
    if not src.size or tk not in "iufc" or sk not in "biufc":
        return
    if sk == "c" and tk != "c":
        bad = src.imag != 0
        if bad.any():
            raise _fail(name, _first(bad, src), nd, "it has an imaginary part")
        src = src.real
        sk = src.dtype.kind
    if tk in "iu":
        info = np.iinfo(nd)
        if sk == "f":
            bad = ~np.isfinite(src)
            if bad.any():
                raise _fail(name, _first(bad, src), nd, "not a finite number")
            bad = (src < info.min) | (src >= float(info.max) + 1)
        elif sk in "iu" and (np.iinfo(src.dtype).min < info.min or np.iinfo(src.dtype).max > info.max):
            lo, hi = int(src.min()), int(src.max())
            if lo >= info.min and hi <= info.max:
                return
            bad = (src < info.min) | (src > info.max)
        else:
            return
        if bad.any():
            raise _fail(name, _first(bad, src), nd, f"out of range [{info.min}, {info.max}]")
        return
    # floating or complex targets: finite values must stay finite
    fmax = float(np.finfo(nd).max)
    for part in (src.real, src.imag) if sk == "c" else (src,):
        if part.dtype.kind == "f" and part.dtype.itemsize <= np.finfo(nd).dtype.itemsize:
            continue  # a narrower or equal float always fits
        if part.dtype.kind in "biu" and (part.dtype.kind == "b" or float(np.iinfo(part.dtype).max) <= fmax):
            continue  # every value of this integer type fits
        with np.errstate(invalid="ignore", over="ignore"):
            wide = part.astype(np.float64) if part.dtype.kind in "iu" else part
            bad = np.isfinite(wide) & (np.abs(wide) > fmax)
        if bad.any():
            raise _fail(name, _first(bad, part), nd, f"beyond the largest {nd} ({fmax:g})")


def _check_text(src: np.ndarray, nd: np.dtype, name: str) -> None:
    if not src.size or src.dtype.kind not in "SU":
        return
    limit = nd.itemsize // (4 if nd.kind == "U" else 1)
    have = src.dtype.itemsize // (4 if src.dtype.kind == "U" else 1)
    if have <= limit:
        return
    lengths = np.char.str_len(src)
    bad = lengths > limit
    if bad.any():
        raise _fail(name, _first(bad, src), nd, f"longer than {limit} characters")


def _check_vlen(arr: np.ndarray, vlen: str, name: str) -> None:
    want = bytes if vlen == "bytes" else str
    for x in arr.reshape(-1):
        if not isinstance(x, want):
            what = "bytes" if want is bytes else "str"
            raise CastError(f"array {name!r}: variable-length {vlen} elements must be {what}, got {type(x).__name__} {x!r}")


def cast_value(value: Any, nd: np.dtype, shape: tuple[int, ...], *, name: str, vlen: str | None = None) -> np.ndarray:
    """``value`` as an array of dtype ``nd`` broadcast to ``shape`` (read-only when broadcast),
    refusing anything the cast would change (see the module docstring)."""
    if not isinstance(value, np.ndarray) and hasattr(value, "__array__"):
        value = np.asarray(value)  # another exzarr array, a dask or xarray array: read it once
    if isinstance(value, np.ndarray) and value.dtype == nd and nd.kind != "O":
        arr = value
    elif nd.fields is not None and not isinstance(value, np.ndarray):
        try:  # as NumPy does: a tuple is one record, a list of tuples is records
            arr = np.array(value, dtype=nd)
        except (ValueError, TypeError) as exc:
            raise CastError(f"array {name!r}: cannot cast {type(value).__name__} value to dtype {nd}: {exc}") from None
    elif nd.kind == "O":
        arr = np.empty(np.shape(value), dtype=object)
        try:
            arr[...] = value
        except (ValueError, TypeError) as exc:
            raise CastError(f"array {name!r}: cannot cast {type(value).__name__} value to dtype {nd}: {exc}") from None
        if vlen is not None:
            _check_vlen(arr, vlen, name)
    else:
        try:
            src = value if isinstance(value, np.ndarray) else np.asarray(value)
            if src.dtype.kind == "O":  # mixed Python values: let NumPy type them, then check
                src = np.array(src.tolist()) if src.ndim else np.asarray(src[()])
            _check_numeric(src, nd, name)
            _check_text(src, nd, name)
            with np.errstate(invalid="ignore", over="ignore"):
                arr = src.astype(nd, copy=False) if src.dtype.kind != "O" else np.array(src, dtype=nd)
        except CastError:
            raise
        except (ValueError, TypeError, OverflowError) as exc:
            raise CastError(f"array {name!r}: cannot cast {type(value).__name__} value to dtype {nd}: {exc}") from None
    try:
        return np.broadcast_to(arr, shape)
    except ValueError:
        raise ShapeMismatchError(
            f"array {name!r}: data of shape {arr.shape} does not broadcast to selection shape {shape}"
        ) from None
