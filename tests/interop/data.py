"""Deterministic test data for every dtype the interop matrix covers."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

NUMERIC = [
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float16", "float32", "float64", "complex64", "complex128",
]  # fmt: skip
TIME = ["M8[ns]", "M8[10ns]", "m8[s]", "M8[D]"]
FIXED_TEXT = ["S5", "U4"]
STRUCT = [("a", "<i4"), ("b", "<f8"), ("c", "S2")]
STRUCT_SUB = [("a", "<i2"), ("b", "<f4", (2,))]
BIG_ENDIAN = [">i2", ">i4", ">u8", ">f4", ">f8", ">c16"]
ALL_V2 = NUMERIC + TIME + FIXED_TEXT + ["V3", STRUCT, STRUCT_SUB, str, bytes] + BIG_ENDIAN
ALL_V3 = NUMERIC + TIME + FIXED_TEXT + ["V3", STRUCT, str, bytes]


def dtype_id(dt: Any) -> str:
    if dt is str:
        return "str"
    if dt is bytes:
        return "bytes"
    if isinstance(dt, list):
        return "struct" + ("_sub" if any(len(f) == 3 for f in dt) else "")
    return str(dt)


def data_for(dt: Any, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = math.prod(shape)
    if dt is str:
        return np.array(["ü" * (i % 3) + f"s{i}" for i in range(n)], dtype=object).reshape(shape)
    if dt is bytes:
        return np.array([b"\x00b%d" % i * (i % 3) for i in range(n)], dtype=object).reshape(shape)
    nd = np.dtype(dt)
    k = nd.kind
    if nd.fields is not None:
        out = np.zeros(shape, nd)
        for i, name in enumerate(nd.names):
            sub = nd.fields[name][0]
            base = sub.subdtype[0] if sub.subdtype else sub
            vals = data_for(base.str, shape + (sub.shape or ()), seed + i + 1)
            out[name] = vals
        return out
    if k == "b":
        return rng.integers(0, 2, shape).astype(nd)
    if k in "iu":
        info = np.iinfo(nd)
        lo = info.min if k == "i" else 0
        vals = rng.integers(lo, info.max, shape, dtype=nd.newbyteorder("="), endpoint=True)
        return vals.astype(nd)
    if k == "f":
        v = (rng.standard_normal(shape) * 1000).astype(nd)
        flat = v.reshape(-1)
        if flat.size > 3:
            flat[:3] = [np.nan, np.inf, -np.inf]
        return v
    if k == "c":
        return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(nd)
    if k in "Mm":
        v = rng.integers(-(10**6), 10**6, shape).astype("i8").view(nd.newbyteorder("=")).astype(nd)
        v.reshape(-1)[0] = np.array("NaT", dtype=nd)
        return v
    if k == "S":
        return np.array([b"ab%d" % (i % 97) for i in range(n)], dtype=nd).reshape(shape)
    if k == "U":
        return np.array(["ü%d" % (i % 97) for i in range(n)], dtype=nd).reshape(shape)
    if k == "V":
        return rng.integers(0, 255, n * nd.itemsize, dtype=np.uint8).view(nd).reshape(shape)
    raise AssertionError(dt)
