"""One table for data types: NumPy dtype <-> v2 typestr <-> v3 data type, and fill values.

The internal representation of a Zarr data type is :class:`DataType`: a NumPy dtype
plus, for object arrays, which variable-length kind (``"string"`` or ``"bytes"``)
the elements are. Everything format-specific about dtypes and fill values lives
here so the rest of the package never branches on ``zarr_format`` for them.
"""

from __future__ import annotations

import base64
import math
import struct
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import MetadataError, UnsupportedDtypeError

_NATIVE = "<" if sys.byteorder == "little" else ">"

# v3 core names for the fixed-size numeric types
_V3_NUMERIC = {
    "bool": "|b1",
    "int8": "|i1",
    "int16": "<i2",
    "int32": "<i4",
    "int64": "<i8",
    "uint8": "|u1",
    "uint16": "<u2",
    "uint32": "<u4",
    "uint64": "<u8",
    "float16": "<f2",
    "float32": "<f4",
    "float64": "<f8",
    "complex64": "<c8",
    "complex128": "<c16",
}
_NUMPY_TO_V3 = {np.dtype(v).newbyteorder("=").str[1:]: k for k, v in _V3_NUMERIC.items()}
_TIME_UNITS = {"Y", "M", "W", "D", "h", "m", "s", "ms", "us", "μs", "ns", "ps", "fs", "as", "generic"}


@dataclass(frozen=True)
class DataType:
    """A Zarr data type: a NumPy dtype, plus the variable-length kind for object arrays.

    ``vlen`` is ``None`` for fixed-size types, ``"string"`` for variable-length UTF-8
    strings and ``"bytes"`` for variable-length byte strings (both stored as NumPy
    ``object`` arrays). ``v3_name`` remembers the alias a v3 document used (e.g.
    ``"variable_length_bytes"``) so re-serialising keeps it.
    """

    numpy: np.dtype
    vlen: str | None = None
    v3_name: str | None = None

    @property
    def is_object(self) -> bool:
        return self.numpy.kind == "O"

    def __str__(self) -> str:  # pragma: no cover - cosmetic
        return self.vlen if self.vlen else str(self.numpy)


def as_data_type(dtype: Any) -> DataType:
    """Normalise a user dtype (``"float64"``, ``np.int32``, ``str``, ``"string"``...)."""
    if isinstance(dtype, DataType):
        return dtype
    if dtype is str or (isinstance(dtype, str) and dtype in ("string", "str", "vlen-utf8")):
        return DataType(np.dtype(object), "string")
    if dtype is bytes or (isinstance(dtype, str) and dtype in ("bytes", "vlen-bytes", "variable_length_bytes")):
        return DataType(np.dtype(object), "bytes")
    try:
        nd = np.dtype(dtype)
    except TypeError as exc:
        raise UnsupportedDtypeError(f"unsupported dtype {dtype!r}: {exc}") from None
    if nd.kind == "O":
        return DataType(nd, "string")
    if nd.kind == "T":  # numpy StringDType
        return DataType(np.dtype(object), "string")
    return DataType(nd)


# ----------------------------------------------------------------------------- v2


def parse_v2_dtype(obj: Any, *, field: str = "dtype") -> DataType:
    """Parse the ``dtype`` field of a v2 ``.zarray``."""
    try:
        if isinstance(obj, str):
            if obj in ("|O", "O", "<O", ">O"):
                return DataType(np.dtype(object), "string")
            if obj[:1] not in ("<", ">", "|"):
                raise MetadataError(f"{field}: v2 typestr {obj!r} must start with a byte order (<, > or |)")
            nd = np.dtype(obj)
            if nd.kind in "Mm" and "[" not in obj:
                raise MetadataError(f"{field}: datetime/timedelta typestr {obj!r} needs a unit")
            return DataType(nd)
        if isinstance(obj, list):
            return DataType(np.dtype(_v2_struct_fields(obj, field)))
    except MetadataError:
        raise
    except (TypeError, ValueError) as exc:
        raise UnsupportedDtypeError(f"{field}: unsupported v2 dtype {obj!r} ({exc})") from None
    raise MetadataError(f"{field}: v2 dtype must be a string or a list, got {obj!r}")


def _v2_struct_fields(obj: list, field: str) -> list:
    fields = []
    for item in obj:
        if not isinstance(item, list) or len(item) not in (2, 3) or not isinstance(item[0], str):
            raise MetadataError(f"{field}: malformed structured dtype field {item!r}")
        name, typ = item[0], item[1]
        sub = np.dtype(_v2_struct_fields(typ, field)) if isinstance(typ, list) else parse_v2_dtype(typ, field=field).numpy
        fields.append((name, sub, tuple(item[2])) if len(item) == 3 else (name, sub))
    return fields


def v2_dtype_json(dt: DataType) -> Any:
    """The v2 ``dtype`` JSON value for a data type."""
    nd = dt.numpy
    if nd.kind == "O":
        return "|O"
    if nd.fields is not None:
        return _v2_struct_json(nd)
    return nd.str


def _v2_struct_json(nd: np.dtype) -> list:
    out = []
    for name in nd.names:
        sub = nd.fields[name][0]
        if sub.subdtype is not None:
            base, shape = sub.subdtype
            out.append([name, _v2_struct_json(base) if base.fields else base.str, list(shape)])
        else:
            out.append([name, _v2_struct_json(sub) if sub.fields else sub.str])
    return out


# ----------------------------------------------------------------------------- v3


def parse_v3_dtype(obj: Any, *, field: str = "data_type") -> DataType:
    """Parse the ``data_type`` field of a v3 ``zarr.json``."""
    name, config = _name_config(obj, field)
    if config is None:
        config = {}
    if name in _V3_NUMERIC:
        return DataType(np.dtype(_V3_NUMERIC[name]).newbyteorder("="))
    if name == "string":
        return DataType(np.dtype(object), "string", "string")
    if name in ("bytes", "variable_length_bytes"):
        return DataType(np.dtype(object), "bytes", name)
    if name in ("numpy.datetime64", "numpy.timedelta64"):
        unit = config.get("unit")
        scale = config.get("scale_factor", 1)
        if unit not in _TIME_UNITS or not isinstance(scale, int) or scale < 1:
            raise MetadataError(f"{field}: invalid {name} configuration {config!r}")
        code = "M8" if name.endswith("datetime64") else "m8"
        return DataType(np.dtype(f"{_NATIVE}{code}[{'' if scale == 1 else scale}{unit}]"))
    if name in ("fixed_length_utf32", "null_terminated_bytes", "raw_bytes"):
        n = config.get("length_bytes")
        if not isinstance(n, int) or n < 0 or (name == "fixed_length_utf32" and n % 4):
            raise MetadataError(f"{field}: invalid length_bytes in {obj!r}")
        if name == "fixed_length_utf32":
            return DataType(np.dtype(f"{_NATIVE}U{n // 4}"), None, name)
        return DataType(np.dtype(f"S{n}" if name == "null_terminated_bytes" else f"V{n}"), None, name)
    if name in ("structured", "struct"):
        # zarr-python: "structured" with [[name, type], ...]; zarr-extensions: "struct" with
        # [{"name": ..., "data_type": ...}, ...]. Both are read; the form read is the form written.
        fields = config.get("fields")
        if not isinstance(fields, list) or not fields:
            raise MetadataError(f"{field}: {name} data type needs a non-empty 'fields' list")
        out = []
        for f in fields:
            if isinstance(f, dict) and isinstance(f.get("name"), str) and "data_type" in f:
                fname, ftype = f["name"], f["data_type"]
            elif isinstance(f, list) and len(f) == 2 and isinstance(f[0], str):
                fname, ftype = f
            else:
                raise MetadataError(f"{field}: malformed {name} field {f!r}")
            out.append((fname, v3_native(parse_v3_dtype(ftype, field=field)).numpy))
        try:
            return DataType(np.dtype(out), None, name)
        except (TypeError, ValueError) as exc:
            raise MetadataError(f"{field}: invalid {name} fields ({exc})") from None
    if isinstance(name, str) and len(name) > 1 and name[0] == "r" and name[1:].isdigit():
        bits = int(name[1:])
        if bits % 8 or bits == 0:
            raise MetadataError(f"{field}: raw data type {name!r} must be a positive multiple of 8 bits")
        return DataType(np.dtype(f"V{bits // 8}"), None, name)
    raise UnsupportedDtypeError(f"{field}: unknown v3 data type {obj!r}")


def v3_dtype_json(dt: DataType) -> Any:
    """The v3 ``data_type`` JSON value for a data type."""
    nd = dt.numpy
    if nd.kind == "O":
        if dt.vlen == "bytes":
            return dt.v3_name or "variable_length_bytes"
        return "string"
    if nd.fields is not None:
        fields: list[Any] = []
        for fname in nd.names:
            sub = nd.fields[fname][0]
            if sub.subdtype is not None:
                raise UnsupportedDtypeError(f"dtype {nd}: sub-array fields have no v3 representation")
            if dt.v3_name == "struct":
                fields.append({"name": fname, "data_type": v3_dtype_json(DataType(sub))})
            else:
                fields.append([fname, v3_dtype_json(DataType(sub))])
        return {"name": dt.v3_name or "structured", "configuration": {"fields": fields}}
    if nd.kind in "Mm":
        unit, scale = np.datetime_data(nd)
        name = "numpy.datetime64" if nd.kind == "M" else "numpy.timedelta64"
        return {"name": name, "configuration": {"unit": unit, "scale_factor": int(scale)}}
    if nd.kind == "U":
        return {"name": "fixed_length_utf32", "configuration": {"length_bytes": nd.itemsize}}
    if nd.kind == "S":
        return {"name": "null_terminated_bytes", "configuration": {"length_bytes": nd.itemsize}}
    if nd.kind == "V":
        if dt.v3_name and dt.v3_name.startswith("r") and dt.v3_name[1:].isdigit():
            return dt.v3_name
        return {"name": "raw_bytes", "configuration": {"length_bytes": nd.itemsize}}
    key = nd.newbyteorder("=").str[1:]
    if key not in _NUMPY_TO_V3:
        raise UnsupportedDtypeError(f"dtype {nd} has no Zarr v3 data type")
    return _NUMPY_TO_V3[key]


def v3_native(dt: DataType) -> DataType:
    """The in-memory dtype a v3 array uses: native byte order (v3 types have no endianness)."""
    nd = dt.numpy
    if nd.byteorder in "<>" and nd.byteorder != "=" and nd.fields is None:
        return DataType(nd.newbyteorder("="), dt.vlen, dt.v3_name)
    return dt


def _name_config(obj: Any, field: str) -> tuple[str, dict | None]:
    if isinstance(obj, str):
        return obj, None
    if isinstance(obj, dict) and isinstance(obj.get("name"), str):
        extra = set(obj) - {"name", "configuration"}
        if extra:
            raise MetadataError(f"{field}: unexpected keys {sorted(extra)} in {obj!r}")
        cfg = obj.get("configuration")
        if cfg is not None and not isinstance(cfg, dict):
            raise MetadataError(f"{field}: configuration must be an object in {obj!r}")
        return obj["name"], cfg
    raise MetadataError(f"{field}: expected a name or {{name, configuration}} object, got {obj!r}")


# ----------------------------------------------------------------------------- fill values


def default_fill_value(dt: DataType) -> Any:
    """The fill value used when none is given (zero, empty string, NaT is *not* the default)."""
    nd = dt.numpy
    if nd.kind == "O":
        return "" if dt.vlen == "string" else b""
    return np.zeros((), dtype=nd)[()]


def null_fill_value(dt: DataType) -> Any:
    """What a v2 ``"fill_value": null`` reads as: zero, except NaT for datetime/timedelta
    (as zarr-python reads it)."""
    if dt.numpy.kind in "Mm":
        return np.array(np.iinfo(np.int64).min, dtype="i8").view(dt.numpy)[()]
    return default_fill_value(dt)


def normalize_fill_value(value: Any, dt: DataType, *, field: str = "fill_value") -> Any:
    """Cast a user (or decoded JSON) fill value to a NumPy scalar of ``dt``."""
    nd = dt.numpy
    if value is None:
        return None
    if nd.kind == "O":
        if dt.vlen == "bytes":
            return value if isinstance(value, bytes) else str(value).encode()
        return value if isinstance(value, str) else str(value)
    try:
        if nd.kind == "V" and isinstance(value, (bytes, bytearray)):
            return np.frombuffer(bytes(value).ljust(nd.itemsize, b"\0"), dtype=nd)[0]
        if nd.kind in "SUV" and isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value == 0:
            return np.zeros((), dtype=nd)[()]  # the numeric default 0 means "all zero bytes" here
        arr = np.empty((), dtype=nd)
        arr[()] = value
        return arr[()]
    except (TypeError, ValueError, OverflowError) as exc:
        raise MetadataError(f"{field}: {value!r} is not a valid fill value for dtype {nd} ({exc})") from None


def _float_to_json(x: float, nd: np.dtype, *, v3: bool) -> Any:
    if math.isnan(x):
        if v3:
            bits = np.array(x, dtype=nd).view(f"u{nd.itemsize}").item()
            canonical = np.array(np.nan, dtype=nd).view(f"u{nd.itemsize}").item()
            if bits != canonical:
                return "0x" + format(bits, f"0{nd.itemsize * 2}x")
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return float(x)


def _float_from_json(v: Any, nd: np.dtype, field: str) -> Any:
    if isinstance(v, bool):
        raise MetadataError(f"{field}: {v!r} is not a valid float fill value")
    if isinstance(v, (int, float)):
        return nd.type(v)
    if isinstance(v, str):
        if v == "NaN":
            return nd.type(np.nan)
        if v == "Infinity":
            return nd.type(np.inf)
        if v == "-Infinity":
            return nd.type(-np.inf)
        if v.startswith("0x") and len(v) == 2 + 2 * nd.itemsize:
            try:
                bits = int(v[2:], 16)
            except ValueError:
                pass
            else:
                return np.array(bits, dtype=f"u{nd.itemsize}").view(nd.newbyteorder("="))[()]
    raise MetadataError(f"{field}: {v!r} is not a valid fill value for {nd}")


def fill_value_to_json(value: Any, dt: DataType, *, zarr_format: int) -> Any:
    """Encode a fill value as the JSON the given Zarr format expects."""
    if value is None:
        return None
    nd = dt.numpy
    v3 = zarr_format == 3
    kind = nd.kind
    if kind == "O":
        if dt.vlen == "bytes":
            return base64.standard_b64encode(bytes(value)).decode()
        return str(value)
    if kind == "b":
        return bool(value)
    if kind in "iu":
        return int(value)
    if kind == "f":
        return _float_to_json(float(value), nd, v3=v3)
    if kind == "c":
        part = np.dtype(f"f{nd.itemsize // 2}")
        c = complex(value)
        return [_float_to_json(c.real, part, v3=v3), _float_to_json(c.imag, part, v3=v3)]
    if kind in "Mm":
        return int(np.array(value, dtype=nd).view("i8"))
    if kind == "U":
        return str(value)
    if nd.fields is not None and v3 and dt.v3_name == "struct":
        rec = np.array(value, dtype=nd)
        return {name: fill_value_to_json(rec[name][()], DataType(nd.fields[name][0]), zarr_format=3) for name in nd.names}
    # S, V and structured: base64 of the full-width bytes (padded, so tensorstore accepts it)
    raw = np.array(value, dtype=nd).tobytes()
    if kind == "S":
        raw = raw.ljust(nd.itemsize, b"\0")
    return base64.standard_b64encode(raw).decode()


def fill_value_from_json(obj: Any, dt: DataType, *, zarr_format: int, field: str = "fill_value") -> Any:
    """Decode a fill value from metadata JSON into a NumPy scalar (or ``None``)."""
    if obj is None:
        if zarr_format == 3:
            raise MetadataError(f"{field}: v3 requires a fill_value, got null")
        return None
    nd = dt.numpy
    kind = nd.kind
    try:
        if kind == "O":
            if dt.vlen == "bytes":
                if isinstance(obj, list):
                    return bytes(obj)
                return base64.standard_b64decode(obj) if isinstance(obj, str) else bytes(obj)
            if not isinstance(obj, str):
                raise MetadataError(f"{field}: string fill value must be a string, got {obj!r}")
            return obj
        if kind == "b":
            if not isinstance(obj, bool):
                if zarr_format == 2 and isinstance(obj, int) and obj in (0, 1):
                    return np.bool_(obj)
                raise MetadataError(f"{field}: bool fill value must be true/false, got {obj!r}")
            return np.bool_(obj)
        if kind in "iu":
            if isinstance(obj, bool) or not isinstance(obj, (int, float)):
                raise MetadataError(f"{field}: integer fill value expected, got {obj!r}")
            if isinstance(obj, float):
                if not obj.is_integer():
                    raise MetadataError(f"{field}: integer fill value expected, got {obj!r}")
                obj = int(obj)
            info = np.iinfo(nd)
            if not info.min <= obj <= info.max:
                raise MetadataError(f"{field}: {obj} is out of range for {nd}")
            return nd.type(obj)
        if kind == "f":
            return _float_from_json(obj, nd, field)
        if kind == "c":
            part = np.dtype(f"f{nd.itemsize // 2}")
            if isinstance(obj, list) and len(obj) == 2:
                re, im = (_float_from_json(p, part, field) for p in obj)
                out = np.empty((), dtype=nd)
                out.real, out.imag = re, im
                return out[()]
            if isinstance(obj, (int, float)) and not isinstance(obj, bool):
                return nd.type(obj)
            raise MetadataError(f"{field}: complex fill value must be [re, im], got {obj!r}")
        if kind in "Mm":
            if obj == "NaT":
                return np.array(np.iinfo(np.int64).min, dtype="i8").view(nd)[()]
            if isinstance(obj, bool) or not isinstance(obj, int):
                raise MetadataError(f"{field}: datetime fill value must be an integer or 'NaT', got {obj!r}")
            return np.array(obj, dtype="i8").view(nd)[()]
        if kind == "U":
            if not isinstance(obj, str):
                raise MetadataError(f"{field}: unicode fill value must be a string, got {obj!r}")
            return nd.type(obj)
        # S, V, structured
        if isinstance(obj, dict) and nd.fields is not None:  # "struct": one fill value per field
            missing = set(nd.names) - set(obj)
            if missing or set(obj) - set(nd.names):
                raise MetadataError(f"{field}: struct fill value fields {sorted(obj)} do not match {list(nd.names)}")
            rec = np.zeros((), dtype=nd)
            for name in nd.names:
                rec[name] = fill_value_from_json(
                    obj[name], DataType(nd.fields[name][0]), zarr_format=zarr_format, field=f"{field}.{name}"
                )
            return rec[()]
        if isinstance(obj, str):
            raw = base64.standard_b64decode(obj)
        elif isinstance(obj, list) and all(isinstance(b, int) for b in obj):
            raw = bytes(obj)
        elif isinstance(obj, (int, float)) and not isinstance(obj, bool) and obj == 0:
            raw = b""  # writers use a numeric 0 for "all zero bytes" (S, V and structured types)
        else:
            raise MetadataError(f"{field}: expected base64 bytes for dtype {nd}, got {obj!r}")
        if len(raw) > nd.itemsize:
            raise MetadataError(f"{field}: {len(raw)} bytes do not fit dtype {nd}")
        raw = raw.ljust(nd.itemsize, b"\0")
        return np.frombuffer(raw, dtype=nd)[0]
    except MetadataError:
        raise
    except (ValueError, TypeError, OverflowError, struct.error) as exc:
        raise MetadataError(f"{field}: invalid fill value {obj!r} for {nd} ({exc})") from None


def fill_equal(a: Any, b: Any) -> bool:
    """Fill-value equality that treats NaN as equal to NaN (bitwise for floats)."""
    if a is None or b is None:
        return a is b
    try:
        if isinstance(a, np.generic) and a.dtype.kind in "fc":
            return np.array(a).tobytes() == np.array(b, dtype=a.dtype).tobytes() or bool(a == b)
        return bool(np.all(a == b))
    except Exception:  # pragma: no cover - exotic dtypes
        return False
