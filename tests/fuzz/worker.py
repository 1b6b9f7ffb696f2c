"""The fuzz worker: a long-lived interpreter that runs fuzz cases against exzarr.

Started by :mod:`fuzz.harness` as ``python worker.py``; reads length-prefixed pickled cases on
stdin and answers on the original stdout (fd 1 is pointed at stderr, so nothing a library prints
can corrupt the protocol). For each case it first sends ``("prepared", repro)`` with the exact
mutated bytes, then ``("result", outcome)``; if it dies or hangs in between, the parent still has
the reproducer. Memory is bounded twice: ``RLIMIT_AS`` (address space) caps what any allocation
can reach, and the growth of ``ru_maxrss`` during a case is reported against ``EXZARR_FUZZ_RSS_MB``.

Everything here that decides "right data" is independent of exzarr (see the oracle notes in
``test_fuzz.py``): the reference decoders below use numcodecs, zstandard, zlib, bz2, lzma and
crc32c directly, with their own size guards.
"""

from __future__ import annotations

import bz2
import copy
import faulthandler
import io
import json
import lzma
import math
import os
import pickle
import re
import resource
import struct
import sys
import traceback
import warnings
import zlib

import crc32c as _crc32c
import numcodecs
import numpy as np
import zstandard

import exzarr
from exzarr.errors import ExzarrError

try:  # imported as fuzz.worker (pytest collection) ...
    from .fixtures import FIXTURES, META_FIXTURES, build_chunk_fixture, build_meta_fixture, metadata_keys
except ImportError:  # ... or run as a script by the harness (its directory is on sys.path)
    from fixtures import FIXTURES, META_FIXTURES, build_chunk_fixture, build_meta_fixture, metadata_keys

EMPTY = 2**64 - 1
REF_CAP_OBJECT = 1 << 20  # the most bytes a reference decode of a variable-length chunk may produce
FULL_READ_LIMIT = 8 << 20  # metadata cases read whole arrays only below this many bytes
FULL_READ_CHUNKS = 20_000  # ...and this many chunks

# ============================================================================= protocol


def _send(out, msg) -> None:
    data = pickle.dumps(msg, protocol=4)
    out.write(struct.pack("<Q", len(data)) + data)
    out.flush()


def _recv(inp):
    head = inp.read(8)
    if len(head) < 8:
        return None
    (n,) = struct.unpack("<Q", head)
    return pickle.loads(inp.read(n))


# ============================================================================= values

INTERESTING = [
    0,
    1,
    2,
    3,
    4,
    7,
    8,
    15,
    16,
    17,
    31,
    32,
    255,
    256,
    4095,
    4096,
    65535,
    65536,
    2**31 - 1,
    2**31,
    2**32 - 1,
    2**32,
    2**48,
    2**62,
    2**63 - 1,
    2**63,
    2**64 - 2,
    2**64 - 1,
]


def resolve_value(kind, *, length: int, orig: int, expected: int, width: int) -> int:
    """An integer for a splice: an explicit number or one relative to the object being mutated."""
    if isinstance(kind, int):
        v = kind
    else:
        v = {
            "len": length,
            "len+1": length + 1,
            "len-1": length - 1,
            "len*2": length * 2,
            "orig+1": orig + 1,
            "orig-1": orig - 1,
            "orig*2": orig * 2,
            "orig/2": orig // 2,
            "orig+8": orig + 8,
            "orig-8": orig - 8,
            "expected": expected,
            "expected+1": expected + 1,
            "expected-1": expected - 1,
            "-1": -1,
            "max": 2 ** (8 * width) - 1,
        }[kind]
    return v % (2 ** (8 * width))


# ============================================================================= byte mutations


class Ctx:
    """What a mutation may need to know about the object it changes."""

    def __init__(self, fx, contents: dict[str, bytes], key: str, layout) -> None:
        self.fx, self.contents, self.key, self.layout = fx, contents, key, layout
        self.keys = sorted(k for k in contents if k not in ("zarr.json", ".zarray", ".zattrs") and not k.endswith("zarr.json"))


def _pos(p: int, n: int) -> int:
    return p % n if n else 0


def apply_op(b: bytearray, op, ctx: Ctx | None) -> bytearray | None:
    """Apply one mutation; ``None`` means "delete the key"."""
    kind = op[0]
    n = len(b)
    if kind == "flip":
        if n:
            b[_pos(op[1], n)] ^= 1 << (op[2] % 8)
    elif kind == "set":
        if n:
            b[_pos(op[1], n)] = op[2] % 256
    elif kind == "truncate":
        del b[_pos(op[1], n + 1) :]
    elif kind == "cut_tail":
        del b[max(0, n - op[1]) :]
    elif kind == "drop_head":
        del b[: min(n, op[1])]
    elif kind == "extend":
        b.extend(op[1])
    elif kind == "prepend":
        b[0:0] = op[1]
    elif kind == "insert":
        p = _pos(op[1], n + 1)
        b[p:p] = op[2]
    elif kind == "delete_range":
        p = _pos(op[1], n + 1)
        del b[p : p + op[2]]
    elif kind == "duplicate":
        p = _pos(op[1], n + 1)
        b[p:p] = b[p : p + op[2]]
    elif kind == "splice_int":
        _, where, pos, width, value, endian = op
        if n >= width:
            span = min(32, n - width + 1)
            if where == "head":
                p = pos % span
            elif where == "tail":
                p = n - width - (pos % span)
            else:
                p = pos % (n - width + 1)
            fmt = {1: "B", 2: "H", 4: "I", 8: "Q"}[width]
            fmt = ("<" if endian == "little" else ">") + fmt
            orig = struct.unpack_from(fmt, b, p)[0]
            v = resolve_value(value, length=n, orig=orig, expected=_expected(ctx), width=width)
            struct.pack_into(fmt, b, p, v)
    elif kind == "blosc_field":  # version, versionlz, flags, typesize, nbytes, blocksize, cbytes
        _, field, value = op
        offs = {
            "version": (0, 1),
            "versionlz": (1, 1),
            "flags": (2, 1),
            "typesize": (3, 1),
            "nbytes": (4, 4),
            "blocksize": (8, 4),
            "cbytes": (12, 4),
            "bstart0": (16, 4),
        }
        off, width = offs[field]
        if n >= off + width:
            fmt = "<B" if width == 1 else "<I"
            orig = struct.unpack_from(fmt, b, off)[0]
            struct.pack_into(fmt, b, off, resolve_value(value, length=n, orig=orig, expected=_expected(ctx), width=width))
    elif kind == "lz4_size":
        if n >= 4:
            orig = struct.unpack_from("<I", b, 0)[0]
            struct.pack_into("<I", b, 0, resolve_value(op[1], length=n, orig=orig, expected=_expected(ctx), width=4))
    elif kind == "zstd_fcs":
        _zstd_fcs(b, op[1], ctx)
    elif kind == "gzip_isize":
        if n >= 4:
            orig = struct.unpack_from("<I", b, n - 4)[0]
            struct.pack_into("<I", b, n - 4, resolve_value(op[1], length=n, orig=orig, expected=_expected(ctx), width=4))
    elif kind == "fix_crc":
        if n >= 4:
            b[n - 4 :] = _crc32c.crc32c(bytes(b[: n - 4])).to_bytes(4, "little")
    elif kind == "swap":
        if ctx is not None and ctx.keys:
            other = ctx.keys[op[1] % len(ctx.keys)]
            return bytearray(ctx.contents[other])
    elif kind == "empty":
        return bytearray()
    elif kind == "delete":
        return None
    elif kind == "index_entry":
        _index_entry(b, op, ctx)
    elif kind == "inner":
        return _inner_op(b, op, ctx)
    elif kind == "vlen_count":
        if n >= 4:
            orig = struct.unpack_from("<I", b, 0)[0]
            struct.pack_into("<I", b, 0, resolve_value(op[1], length=n, orig=orig, expected=_expected(ctx), width=4))
    return b


def _expected(ctx: Ctx | None) -> int:
    if ctx is None or ctx.layout is None:
        return 0
    return ctx.layout.payload_nbytes


def _zstd_fcs(b: bytearray, value, ctx) -> None:
    """Rewrite a zstd frame's content-size field (if the header has one)."""
    if len(b) < 6 or bytes(b[:4]) != b"\x28\xb5\x2f\xfd":
        return
    fhd = b[4]
    single = (fhd >> 5) & 1
    did = (0, 1, 2, 4)[fhd & 3]
    fcs = {0: 1 if single else 0, 1: 2, 2: 4, 3: 8}[fhd >> 6]
    if not fcs:
        return
    off = 5 + (0 if single else 1) + did
    if len(b) < off + fcs:
        return
    fmt = {1: "<B", 2: "<H", 4: "<I", 8: "<Q"}[fcs]
    orig = struct.unpack_from(fmt, b, off)[0] + (256 if fcs == 2 else 0)
    v = resolve_value(value, length=len(b), orig=orig, expected=_expected(ctx), width=fcs)
    if fcs == 2:
        v = (v - 256) % 65536
    struct.pack_into(fmt, b, off, v)


def _index_span(ctx: Ctx, n: int) -> tuple[int, int] | None:
    lay = ctx.layout if ctx is not None else None
    if lay is None or lay.index_nbytes is None or n < lay.index_nbytes:
        return None
    if lay.fx.index_location == "start":
        return 0, lay.index_nbytes
    return n - lay.index_nbytes, n


def _index_entry(b: bytearray, op, ctx: Ctx | None) -> None:
    """Set one (offset, nbytes) field of the shard index; ``fixcrc`` re-seals the index checksum."""
    _, pick, field, value, fixcrc = op
    span = _index_span(ctx, len(b))
    if span is None:
        return
    a, z = span
    nent = ctx.layout.n_inner
    e = pick % nent
    fields = (0, 1) if field == "both" else (field,)
    for f in fields:
        off = a + 16 * e + 8 * f
        orig = struct.unpack_from("<Q", b, off)[0]
        if isinstance(value, str) and value.startswith("entry"):  # copy another entry's field
            other = int(value[5:]) % nent
            v = struct.unpack_from("<Q", b, a + 16 * other + 8 * f)[0]
        else:
            v = resolve_value(value, length=len(b), orig=orig, expected=ctx.layout.inner_nbytes, width=8)
        struct.pack_into("<Q", b, off, v)
    if fixcrc and ctx.fx.index_crc:
        b[z - 4 : z] = _crc32c.crc32c(bytes(b[a : z - 4])).to_bytes(4, "little")


def _inner_op(b: bytearray, op, ctx: Ctx | None) -> bytearray:
    """Mutate one inner chunk of a (valid) shard and re-assemble it with a correct index."""
    _, pick, subops = op
    span = _index_span(ctx, len(b))
    if span is None:
        return b
    a, z = span
    lay = ctx.layout
    raw = bytes(b)
    try:
        entries = np.frombuffer(raw[a : a + 16 * lay.n_inner], dtype="<u8").reshape(-1, 2).tolist()
    except ValueError:
        return b
    present = [i for i, (o, m) in enumerate(entries) if not (o == EMPTY and m == EMPTY) and o + m <= len(raw)]
    if not present:
        return b
    chosen = present[pick % len(present)]
    parts: list[bytes | None] = []
    for o, m in entries:
        parts.append(None if (o == EMPTY and m == EMPTY) or o + m > len(raw) else raw[o : o + m])
    sub = bytearray(parts[chosen])
    for s in subops:
        sub = apply_op(sub, s, None)
        if sub is None:
            break
    parts[chosen] = None if sub is None else bytes(sub)
    base = lay.index_nbytes if lay.fx.index_location == "start" else 0
    index = np.full((lay.n_inner, 2), EMPTY, dtype="<u8")
    body = bytearray()
    for i, p in enumerate(parts):
        if p is None:
            continue
        index[i] = (base + len(body), len(p))
        body += p
    idx = index.tobytes()
    if lay.fx.index_crc:
        idx += _crc32c.crc32c(idx).to_bytes(4, "little")
    return bytearray(idx + body if lay.fx.index_location == "start" else body + idx)


# ============================================================================= layouts and layers


class Layout:
    """How one fixture's stored objects are built, from its (unmutated) metadata document."""

    def __init__(self, fx, contents: dict[str, bytes]) -> None:
        self.fx = fx
        self.shape = tuple(fx.shape)
        self.obj = fx.kind == "object"
        if fx.zarr_format == 2:
            doc = json.loads(contents[".zarray"])
            self.doc = doc
            self.chunk_shape = tuple(doc["chunks"])
            self.order = doc.get("order", "C")
            self.dtype = None if self.obj else np.dtype(doc["dtype"])
            self.compressor = doc.get("compressor")
            self.filters = doc.get("filters") or []
            self.outer = [("v2", self.compressor)] if self.compressor else []
            self.sep = doc.get("dimension_separator", ".")
            self.sharding = None
        else:
            doc = json.loads(contents["zarr.json"])
            self.doc = doc
            self.chunk_shape = tuple(doc["chunk_grid"]["configuration"]["chunk_shape"])
            self.dtype = None if self.obj else _v3_dtype(doc["data_type"])
            codecs = doc["codecs"]
            ab = next(i for i, c in enumerate(codecs) if c["name"] in ("bytes", "vlen-utf8", "vlen-bytes", "sharding_indexed"))
            self.aa, self.ab, self.bb = codecs[:ab], codecs[ab], codecs[ab + 1 :]
            self.outer = [("v3", c) for c in self.bb]
            self.sharding = self.ab["configuration"] if self.ab["name"] == "sharding_indexed" else None
        self.itemsize = 0 if self.obj else self.dtype.itemsize
        n = math.prod(self.chunk_shape)
        self.payload_nbytes = n * self.itemsize
        self.index_nbytes = None
        self.n_inner = 1
        self.inner_nbytes = self.payload_nbytes
        if self.sharding is not None:
            inner = tuple(self.sharding["chunk_shape"])
            self.inner_shape = inner
            self.cps = tuple(s // c for s, c in zip(self.chunk_shape, inner, strict=True))
            self.n_inner = math.prod(self.cps)
            crc = any(c["name"] == "crc32c" for c in self.sharding["index_codecs"])
            self.index_nbytes = 16 * self.n_inner + (4 if crc else 0)
            self.inner_nbytes = math.prod(inner) * self.itemsize

    # -- outer bytes->bytes layers: peel (trusted: applied to the valid original only) and re-seal
    def peel(self, raw: bytes) -> bytes:
        for fmt, c in reversed(self.outer):
            raw = _trusted_decode(fmt, c, raw)
        return raw

    def seal(self, payload: bytes) -> bytes:
        for fmt, c in self.outer:
            payload = _trusted_encode(fmt, c, payload, self.itemsize or 1)
        return payload

    # -- regions: where each (inner) chunk of a stored object lies in the array
    def coords(self, key: str) -> tuple[int, ...]:
        if self.fx.zarr_format == 2:
            return () if not self.shape else tuple(int(p) for p in key.split(self.sep))
        parts = key.split("/")
        return tuple(int(p) for p in parts[1:])

    def regions(self, key: str) -> list[tuple[tuple[slice, ...], tuple[slice, ...]]]:
        """``[(array_region, local_region)]`` per inner chunk (C order); local is within the inner chunk."""
        c = self.coords(key)
        origin = tuple(ci * cs for ci, cs in zip(c, self.chunk_shape, strict=True))
        if self.sharding is None:
            grid = [((), self.chunk_shape)]
        else:
            grid = [(j, self.inner_shape) for j in np.ndindex(*self.cps)]
        out = []
        for j, ishape in grid:
            start = tuple(o + (jj * s) for o, jj, s in zip(origin, j or (0,) * len(origin), ishape, strict=True))
            arr_sl = tuple(slice(min(st, n), min(st + s, n)) for st, s, n in zip(start, ishape, self.shape, strict=True))
            loc_sl = tuple(slice(0, a.stop - a.start) for a in arr_sl)
            out.append((arr_sl, loc_sl))
        return out


def _v3_dtype(name: str) -> np.dtype:
    table = {
        "bool": "?",
        "int8": "i1",
        "int16": "<i2",
        "int32": "<i4",
        "int64": "<i8",
        "uint8": "u1",
        "uint16": "<u2",
        "uint32": "<u4",
        "uint64": "<u8",
        "float16": "<f2",
        "float32": "<f4",
        "float64": "<f8",
        "complex64": "<c8",
        "complex128": "<c16",
    }
    return np.dtype(table[name])


def _trusted_decode(fmt: str, c, raw: bytes) -> bytes:
    if fmt == "v2":
        return bytes(numcodecs.get_codec(dict(c)).decode(raw))
    name, cfg = c["name"], c.get("configuration") or {}
    if name == "crc32c":
        return raw[:-4]
    if name == "zstd":
        return zstandard.ZstdDecompressor().decompress(raw)
    if name == "gzip":
        return zlib.decompress(raw, 31)
    if name == "blosc":
        return bytes(numcodecs.blosc.decompress(raw))
    if name.startswith("numcodecs."):
        return bytes(numcodecs.get_codec({"id": name[10:], **cfg}).decode(raw))
    raise ValueError(name)


def _trusted_encode(fmt: str, c, payload: bytes, itemsize: int) -> bytes:
    if fmt == "v2":
        return bytes(numcodecs.get_codec(dict(c)).encode(payload))
    name, cfg = c["name"], c.get("configuration") or {}
    if name == "crc32c":
        return payload + _crc32c.crc32c(payload).to_bytes(4, "little")
    if name == "zstd":
        return zstandard.ZstdCompressor(
            level=cfg.get("level", 0), write_checksum=cfg.get("checksum", False), write_content_size=True
        ).compress(payload)
    if name == "gzip":
        return bytes(numcodecs.GZip(cfg.get("level", 5)).encode(payload))
    if name == "blosc":
        sh = {"noshuffle": 0, "shuffle": 1, "bitshuffle": 2}[cfg.get("shuffle", "noshuffle")]
        return bytes(
            numcodecs.Blosc(
                cfg["cname"], cfg["clevel"], sh, cfg.get("blocksize", 0), typesize=cfg.get("typesize") or itemsize
            ).encode(payload)
        )
    if name.startswith("numcodecs."):
        return bytes(numcodecs.get_codec({"id": name[10:], **cfg}).encode(payload))
    raise ValueError(name)


# ============================================================================= reference decoders


class RefFail(Exception):
    pass


def _stream(make, raw: bytes, cap: int) -> bytes:
    out, data = [], raw
    got = 0
    while True:
        d = make()
        part = d.decompress(data, cap + 1 - got)
        got += len(part)
        out.append(part)
        if got > cap:
            raise RefFail("too large")
        if not d.eof:
            raise RefFail("truncated")
        data = d.unused_data
        if not data:
            return b"".join(out)


class _Z:
    def __init__(self, wbits):
        self.d = zlib.decompressobj(wbits)

    def decompress(self, data, n):
        return self.d.decompress(data, n)

    eof = property(lambda self: self.d.eof)
    unused_data = property(lambda self: self.d.unused_data)


def ref_compressor(cid: str, cfg: dict, raw: bytes, cap: int) -> bytes:
    """Decode one compressor's stream with explicit framing checks (never trusting a size claim)."""
    if cid == "zstd":
        try:
            fcs = zstandard.frame_content_size(raw)
        except zstandard.ZstdError as exc:
            raise RefFail(str(exc)) from None
        if fcs > cap:
            raise RefFail("zstd content size above cap")
        with zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True) as r:
            res = r.read(cap + 1)
        if len(res) > cap:
            raise RefFail("too large")
        return res
    if cid in ("zlib", "gzip"):
        return _stream(lambda: _Z(31 if cid == "gzip" else 15), raw, cap)
    if cid == "bz2":
        return _stream(bz2.BZ2Decompressor, raw, cap)
    if cid == "lzma":
        return _stream(lambda: lzma.LZMADecompressor(memlimit=256 << 20), raw, cap)
    if cid == "lz4":
        if len(raw) < 4 or struct.unpack_from("<I", raw)[0] > cap:
            raise RefFail("lz4 size prefix")
        return bytes(numcodecs.LZ4().decode(raw))
    if cid == "blosc":
        if len(raw) < 16:
            raise RefFail("short")
        _v, _vl, flags, typesize, nbytes, blocksize, cbytes = struct.unpack_from("<BBBBIII", raw)
        if cbytes != len(raw) or nbytes > cap or typesize == 0:
            raise RefFail("blosc header")
        if not flags & 2 and nbytes:
            if blocksize == 0:
                raise RefFail("blocksize")
            nb = -(-nbytes // blocksize)
            if 16 + 4 * nb > cbytes:
                raise RefFail("bstarts")
            starts = struct.unpack_from(f"<{nb}I", raw, 16)
            if min(starts) < 16 + 4 * nb or max(starts) >= cbytes:
                raise RefFail("bstarts")
        elif flags & 2 and cbytes != nbytes + 16:
            raise RefFail("memcpyed size")
        return bytes(numcodecs.blosc.decompress(raw))
    raise RefFail(f"no reference decoder for {cid}")


def _bytes_to_array(raw: bytes, dtype: np.dtype, shape, order="C") -> np.ndarray:
    n = math.prod(shape)
    if len(raw) != n * dtype.itemsize:
        raise RefFail(f"{len(raw)} bytes for {n} items of {dtype}")
    return np.frombuffer(raw, dtype=dtype).reshape(shape, order=order)


def _vlen(raw: bytes, kind: str, shape) -> np.ndarray:
    n = math.prod(shape)
    if len(raw) < 4 or struct.unpack_from("<I", raw)[0] != n:
        raise RefFail("vlen count")
    pos, items = 4, []
    for _ in range(n):
        if pos + 4 > len(raw):
            raise RefFail("vlen truncated")
        (m,) = struct.unpack_from("<I", raw, pos)
        pos += 4
        if pos + m > len(raw):
            raise RefFail("vlen truncated")
        v = raw[pos : pos + m]
        pos += m
        if kind == "str":
            try:
                v = v.decode("utf-8")
            except UnicodeDecodeError:
                raise RefFail("utf-8") from None
        items.append(v)
    # bytes after the last item are ignored, as numcodecs' VLenUTF8/VLenBytes (the reference
    # implementation zarr-python uses) ignore them
    out = np.empty(n, dtype=object)
    out[:] = items
    return out.reshape(shape)


def ref_decode(lay: Layout, raw: bytes) -> list[np.ndarray | None]:
    """The decoded (inner) chunks of one stored object, ``None`` where no correct decoder could
    decode one. A list in the order of :meth:`Layout.regions`."""
    kind = lay.fx.dtype
    if lay.fx.zarr_format == 2:
        try:
            cap = REF_CAP_OBJECT if lay.obj else lay.payload_nbytes
            payload = raw
            if lay.compressor:
                payload = ref_compressor(lay.compressor["id"], lay.compressor, raw, cap)
            if lay.obj:
                return [_vlen(payload, kind, lay.chunk_shape)]
            return [_bytes_to_array(payload, lay.dtype, lay.chunk_shape, lay.order)]
        except Exception:  # whatever stops the reference decoder means: cannot be decoded
            return [None]
    try:
        payload = _ref_bb(
            lay.bb,
            raw,
            REF_CAP_OBJECT
            if lay.obj
            else (lay.payload_nbytes if lay.sharding is None else 2 * lay.n_inner * lay.inner_nbytes + lay.index_nbytes + 4096),
        )
    except Exception:
        return [None] * lay.n_inner
    if lay.sharding is None:
        try:
            return [_ref_ab(lay, lay.ab, lay.aa, payload, lay.chunk_shape)]
        except Exception:
            return [None]
    cfg = lay.sharding
    try:
        n = len(payload)
        if n < lay.index_nbytes:
            raise RefFail("short shard")
        ib = payload[: lay.index_nbytes] if cfg["index_location"] == "start" else payload[n - lay.index_nbytes :]
        if any(c["name"] == "crc32c" for c in cfg["index_codecs"]):
            if _crc32c.crc32c(ib[:-4]).to_bytes(4, "little") != ib[-4:]:
                raise RefFail("index crc")
            ib = ib[:-4]
        entries = np.frombuffer(ib, dtype="<u8").reshape(-1, 2).tolist()
    except Exception:
        return [None] * lay.n_inner
    inner_codecs = cfg["codecs"]
    ab_i = next(i for i, c in enumerate(inner_codecs) if c["name"] in ("bytes", "vlen-utf8", "vlen-bytes"))
    out: list[np.ndarray | None] = []
    fill = lay.fx_fill
    for off, m in entries:
        if off == EMPTY and m == EMPTY:
            out.append(np.full(lay.inner_shape, fill, dtype=object if lay.obj else lay.dtype))
            continue
        if off + m > n:
            out.append(None)
            continue
        try:
            body = _ref_bb(inner_codecs[ab_i + 1 :], payload[off : off + m], REF_CAP_OBJECT if lay.obj else lay.inner_nbytes)
            out.append(_ref_ab(lay, inner_codecs[ab_i], inner_codecs[:ab_i], body, lay.inner_shape))
        except Exception:
            out.append(None)
    return out


def _ref_bb(codecs, raw: bytes, cap: int) -> bytes:
    for c in reversed(codecs):
        name, cfg = c["name"], c.get("configuration") or {}
        if name == "crc32c":
            if len(raw) < 4 or _crc32c.crc32c(raw[:-4]).to_bytes(4, "little") != raw[-4:]:
                raise RefFail("crc32c")
            raw = raw[:-4]
        elif name.startswith("numcodecs."):
            raw = ref_compressor(name[10:], cfg, raw, cap)
        else:
            raw = ref_compressor(name, cfg, raw, cap)
    return raw


def _ref_ab(lay: Layout, ab, aa, raw: bytes, shape) -> np.ndarray:
    order = None
    for t in aa:
        order = t["configuration"]["order"]
    tshape = tuple(shape[i] for i in order) if order else tuple(shape)
    if ab["name"] == "bytes":
        endian = (ab.get("configuration") or {}).get("endian", "little")
        dt = lay.dtype.newbyteorder("<" if endian == "little" else ">") if lay.dtype.itemsize > 1 else lay.dtype
        arr = _bytes_to_array(raw, dt, tshape)
    else:
        arr = _vlen(raw, "str" if ab["name"] == "vlen-utf8" else "bytes", tshape)
    if order:
        arr = arr.transpose(np.argsort(order))
    return arr


# ============================================================================= comparisons


def eq_elems(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Element-wise "same value" (bit-exact for numbers, NaN payloads included; type-exact for objects)."""
    x, y = np.asarray(x), np.asarray(y)
    if x.dtype == object or y.dtype == object:
        if x.size == 0:
            return np.ones(x.shape, dtype=bool)
        f = np.frompyfunc(lambda u, v: type(u) is type(v) and u == v, 2, 1)
        return np.asarray(f(x, y), dtype=bool).reshape(x.shape)
    y = y.astype(x.dtype)
    xs = np.ascontiguousarray(x).reshape(-1)
    ys = np.ascontiguousarray(y).reshape(-1)
    if x.dtype.kind == "b":
        return (xs == ys).reshape(x.shape)
    xb = xs.view(np.uint8).reshape(xs.size, -1) if xs.size else np.zeros((0, 1), np.uint8)
    yb = ys.view(np.uint8).reshape(ys.size, -1) if ys.size else np.zeros((0, 1), np.uint8)
    return (xb == yb).all(axis=1).reshape(x.shape)


def _short(v, limit: int = 300) -> str:
    s = repr(v)
    return s if len(s) <= limit else s[:limit] + "..."


# ============================================================================= chunk cases


def take(flat: np.ndarray, idx_map: np.ndarray | None) -> np.ndarray:
    """``flat[idx_map]`` as an array of ``idx_map``'s shape, also when that is 0-d (no scalar unboxing)."""
    if idx_map is None:
        return np.asarray(flat)
    return flat[idx_map.reshape(-1)].reshape(idx_map.shape)


def as_result(out, obj: bool) -> np.ndarray:
    """What a read returned as an array (a scalar for an all-integer selection becomes 0-d)."""
    if isinstance(out, np.ndarray):
        return out
    if obj:
        box = np.empty((), dtype=object)
        box[()] = out
        return box
    return np.asarray(out)


class ChunkFixture:
    def __init__(self, name: str) -> None:
        self.fx = FIXTURES[name]
        self.contents, self.data = build_chunk_fixture(self.fx)
        self.layout = Layout(self.fx, self.contents)
        self.layout.fx_fill = "" if self.fx.dtype == "str" else b"" if self.fx.dtype == "bytes" else 0
        self.keys = sorted(k for k in self.contents if k.rsplit("/", 1)[-1] not in ("zarr.json", ".zarray", ".zattrs"))


_CHUNK_CACHE: dict[str, ChunkFixture] = {}


def chunk_fixture(name: str) -> ChunkFixture:
    f = _CHUNK_CACHE.get(name)
    if f is None:
        f = _CHUNK_CACHE[name] = ChunkFixture(name)
    return f


def _np_sel(sel_spec, shape):
    """(kind, selection) -> (exzarr call, numpy index giving the same elements)."""
    kind, sel = sel_spec
    if kind == "basic":
        return sel, sel
    from exzarr.testing.strategies import numpy_ix

    return sel, numpy_ix(sel, shape)


def mutate_chunk(cf: ChunkFixture, case) -> tuple[str, bytes | None]:
    key = cf.keys[case["key_pick"] % len(cf.keys)]
    ctx = Ctx(cf.fx, cf.contents, key, cf.layout)
    orig = cf.contents[key]
    layer = case.get("layer", "raw")
    peeled = layer == "payload" and cf.layout.outer
    b: bytearray | None = bytearray(cf.layout.peel(orig) if peeled else orig)
    for op in case["ops"]:
        if peeled and op[0] in ("swap", "fix_crc"):
            continue
        b = apply_op(b, op, ctx)
        if b is None:
            break
    if b is None:
        return key, None
    return key, cf.layout.seal(bytes(b)) if peeled else bytes(b)


def run_chunk_case(case, send) -> dict:
    cf = chunk_fixture(case["fixture"])
    key, mutated = mutate_chunk(cf, case)
    repro = {
        "fixture": cf.fx.name,
        "key": key,
        "mutated_hex": None if mutated is None else mutated.hex(),
        "original_hex": cf.contents[key].hex(),
        "sels": case.get("sels", []),
        "write": case.get("write"),
    }
    send(("prepared", repro))
    contents = dict(cf.contents)
    if mutated is None:
        del contents[key]
    else:
        contents[key] = mutated
    lay = cf.layout
    shape = lay.shape
    N = math.prod(shape)
    orig_flat = cf.data.reshape(-1)
    regions = lay.regions(key)
    region_map = np.full(N, -1, dtype=np.int64)
    rm = region_map.reshape(shape)
    for rid, (arr_sl, _loc) in enumerate(regions):
        rm[arr_sl] = rid
    ref_state: dict = {}

    def reference():
        if not ref_state:
            send(("phase", "reference-decode"))
            if mutated is None:
                fill = lay.fx_fill
                decoded = [
                    np.full(lay.inner_shape if lay.sharding else lay.chunk_shape, fill, dtype=object if lay.obj else lay.dtype)
                ] * len(regions)
            else:
                decoded = ref_decode(lay, mutated)
            ref = orig_flat.copy()
            rr = ref.reshape(shape)
            ok = []
            for (arr_sl, loc), d in zip(regions, decoded, strict=True):
                ok.append(d is not None)
                if d is not None:
                    rr[arr_sl] = d[loc]
            ref_state.update(ref=ref, ok=ok)
            send(("phase", "checking results"))
        return ref_state["ref"], ref_state["ok"]

    problems: list[dict] = []

    def check(label: str, out, idx_map, orig_vals, ref_override=None) -> None:
        out = as_result(out, lay.obj)
        orig_vals = take(orig_vals, None)
        if out.shape != idx_map.shape:
            problems.append(
                {"category": "wrong-shape", "where": label, "detail": f"got shape {out.shape}, expected {idx_map.shape}"}
            )
            return
        same = eq_elems(out, orig_vals)
        if same.all():
            return
        rids = region_map[idx_map]
        if (rids[~same] < 0).any():
            bad = np.argwhere((~same) & (rids < 0))[0]
            problems.append(
                {
                    "category": "wrong-data",
                    "where": label,
                    "detail": f"element {tuple(int(i) for i in bad)} outside the mutated object changed: "
                    f"got {_short(out[tuple(bad)])}, stored {_short(orig_vals[tuple(bad)])}",
                }
            )
            return
        ref, ok = reference()
        ref_vals = take(ref, idx_map)
        if ref_override is not None:
            ref_override(ref_vals)
        same_ref = eq_elems(out, ref_vals)
        for rid in np.unique(rids[~same]):
            in_r = rids == rid
            if not ok[rid]:
                bad = np.argwhere(in_r & ~same)[0]
                problems.append(
                    {
                        "category": "wrong-data",
                        "where": label,
                        "detail": f"region {int(rid)} ({_short(regions[rid][0])}) cannot be decoded by a reference "
                        f"decoder, yet exzarr returned data that differs from what was written: element "
                        f"{tuple(int(i) for i in bad)} is {_short(out[tuple(bad)])}, written "
                        f"{_short(orig_vals[tuple(bad)])}",
                    }
                )
                return
            if not (same_ref[in_r].all() or same[in_r].all()):
                bad = np.argwhere(in_r & ~same_ref)[0]
                problems.append(
                    {
                        "category": "wrong-data",
                        "where": label,
                        "detail": f"region {int(rid)}: element {tuple(int(i) for i in bad)} is {_short(out[tuple(bad)])}; "
                        f"written {_short(orig_vals[tuple(bad)])}, reference decode {_short(ref_vals[tuple(bad)])}",
                    }
                )
                return

    def guarded(label: str, fn):
        send(("phase", label))
        try:
            return True, fn()
        except ExzarrError:
            return False, None
        except BaseException as exc:  # any other exception escaping exzarr is the finding
            if isinstance(exc, KeyboardInterrupt):
                raise
            problems.append(
                {
                    "category": "memory" if isinstance(exc, MemoryError) else "exception",
                    "where": label,
                    "exc_type": type(exc).__name__,
                    "detail": f"{type(exc).__name__}: {_short(str(exc), 500)}",
                    "tb": _tb(exc),
                }
            )
            return False, None

    store = exzarr.MemoryStore(contents)
    flat_ids = np.arange(N, dtype=np.int64).reshape(shape)
    okopen, a = guarded("open", lambda: exzarr.open(store, mode="r"))
    if okopen:
        good, out = guarded("a[...]", lambda: a[...])
        if good:
            check("a[...]", out, flat_ids, cf.data)
        for spec in case.get("sels", []):
            ex_sel, np_idx = _np_sel(spec, shape)
            label = f"a[{_short(ex_sel, 200)}]" if spec[0] == "basic" else f"a.oindex[{_short(ex_sel, 200)}]"
            call = (lambda s=ex_sel: a[s]) if spec[0] == "basic" else (lambda s=ex_sel: a.oindex[s])
            good, out = guarded(label, call)
            if good:
                idx_map = np.asarray(flat_ids[np_idx])
                check(label, out, idx_map, take(orig_flat, idx_map))
    if case.get("write") is not None and not problems:
        rid = case["write"] % len(regions)
        arr_sl = regions[rid][0]
        if all(s.stop > s.start for s in arr_sl):
            target = tuple(s.start for s in arr_sl)
            value = _write_value(cf.fx.dtype, orig_flat[int(flat_ids[target])])
            w = exzarr.MemoryStore(dict(contents))
            okw, aw = guarded("open r+", lambda: exzarr.open(w, mode="r+"))
            if okw:
                label = f"write a[{target}] = {value!r}"
                done, _ = guarded(label, lambda: aw.__setitem__(target, value))
                if done:
                    good, out = guarded(f"a[...] after {label}", lambda: exzarr.open(w, mode="r")[...])
                    if good:
                        expect = cf.data.copy()
                        expect[target] = value
                        t = int(flat_ids[target])

                        def put(rv, t=t, v=value):
                            rv.reshape(-1)[t] = v

                        check(f"a[...] after {label}", out, flat_ids, expect, ref_override=put)
    return {"problems": problems}


def _write_value(kind: str, old):
    if kind == "str":
        return "W" + str(old)
    if kind == "bytes":
        return b"W" + bytes(old)
    dt = np.dtype(kind)
    if dt.kind == "b":
        return not bool(old)
    if dt.kind in "iu":
        return dt.type(1 if int(old) != 1 else 2)
    return dt.type(0.125 if old != 0.125 else 0.25)


def _tb(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    keep = [f for f in frames if "exzarr" in f.filename or "numcodecs" in f.filename or "numpy" in f.filename][-6:]
    return "".join(traceback.format_list(keep or frames[-4:]))


# ============================================================================= metadata cases

_META_CACHE: dict[str, dict] = {}


def meta_fixture(name: str) -> dict:
    f = _META_CACHE.get(name)
    if f is None:
        contents = build_meta_fixture(name)
        store = exzarr.MemoryStore(dict(contents))
        arrays: dict[str, tuple[str | None, np.ndarray]] = {}
        root = exzarr.open(store, mode="r")
        for path, node in _walk(root, ""):
            if isinstance(node, exzarr.Array):
                arrays[path] = (_signature(node), node[...])
        f = _META_CACHE[name] = {"contents": contents, "arrays": arrays, "keys": metadata_keys(contents)}
    return f


def _walk(node, path: str, depth: int = 0):
    yield path, node
    if isinstance(node, exzarr.Group) and depth < 4:
        for name, child in node.members()[:20]:
            yield from _walk(child, f"{path}/{name}".strip("/"), depth + 1)


def _signature(a) -> str | None:
    """The array's metadata as exzarr would write it, attributes left out (None if unavailable)."""
    try:
        from exzarr.metadata import documents

        docs = dict(documents(a.metadata))
        docs.pop(".zattrs", None)
        for v in docs.values():
            if isinstance(v, dict):
                v.pop("attributes", None)
        return json.dumps(docs, sort_keys=True, default=str)
    except Exception:
        return None


_SENTINEL = re.compile(r'"__(DEEP|BIGINT|RAW)_(\d+)__"')
RAW_TOKENS = [
    "NaN",
    "-Infinity",
    "Infinity",
    "1e999",
    "-0",
    "1E400",
    "0.0000000000000000000000001e-400",
    "[]",
    "{}",
    "null",
    '"\\ud800"',
    '"\\u0000"',
    "9223372036854775808",
    "-9223372036854775809",
    "18446744073709551616",
]


def _paths(doc, prefix=()):
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _paths(v, (*prefix, i))


def _get(doc, path):
    for p in path:
        doc = doc[p]
    return doc


def _set(doc, path, value):
    if not path:
        return value
    _get(doc, path[:-1])[path[-1]] = value
    return doc


def _fields(doc, name: str) -> list[tuple]:
    """Paths of a well-known field wherever the document (or a consolidated copy) has it:
    ``shape``, ``chunks`` (v2 ``chunks`` / v3 ``chunk_grid.configuration.chunk_shape``) or
    ``inner`` (a sharding codec's ``chunk_shape``)."""
    out = []
    for path in _paths(doc):
        if not path or not isinstance(path[-1], str):
            continue
        if name == "shape" and path[-1] == "shape":
            out.append(path)
        elif name == "chunks" and (path[-1] == "chunks" or (path[-1] == "chunk_shape" and "chunk_grid" in path[-3:])):
            out.append(path)
        elif name == "inner" and path[-1] == "chunk_shape" and "codecs" in path:
            out.append(path)
    return out


def _has(doc, path) -> bool:
    try:
        _get(doc, path)
        return True
    except (KeyError, IndexError, TypeError):
        return False


def mutate_doc(doc, ops, raws: list[str]):
    for op in ops:
        op = copy.deepcopy(op)  # a value inserted twice must not become one shared (and then cyclic) object
        kind = op[0]
        paths = [p for p in _paths(doc) if p]
        if kind == "set_field":
            _, name, value = op
            for p in _fields(doc, name):
                doc = _set(doc, p, copy.deepcopy(value))
            continue
        if kind == "set_key":  # every occurrence of a key, at any depth
            _, name, value = op
            for p in paths:
                if p[-1] == name and _has(doc, p):
                    doc = _set(doc, p, copy.deepcopy(value))
            continue
        if kind == "del_key":
            for p in sorted((p for p in paths if p[-1] == op[1]), key=len, reverse=True):
                if _has(doc, p):
                    del _get(doc, p[:-1])[p[-1]]
            continue
        if kind == "codec":
            cps = [p for p in paths if isinstance(p[-1], int) and len(p) >= 2 and p[-2] in ("codecs", "filters", "index_codecs")]
            cps += [p for p in paths if p[-1] == "compressor"]
            if cps:
                doc = _set(doc, cps[op[1] % len(cps)], op[2])
            continue
        if not paths:
            continue
        path = paths[op[1] % len(paths)]
        if kind == "delete":
            parent = _get(doc, path[:-1])
            del parent[path[-1]]
        elif kind == "replace":
            doc = _set(doc, path, op[2])
        elif kind == "add":
            target = _get(doc, path)
            if isinstance(target, dict):
                target[op[2]] = op[3]
            elif isinstance(target, list):
                target.append(op[3])
        elif kind == "wrap":
            doc = _set(doc, path, [_get(doc, path)])
        elif kind == "stringify":
            doc = _set(doc, path, json.dumps(_get(doc, path)))
        elif kind == "deep":
            raws.append("[" * op[2] + "]" * op[2])
            doc = _set(doc, path, f"__RAW_{len(raws) - 1}__")
        elif kind == "bigint":
            raws.append("9" * op[2])
            doc = _set(doc, path, f"__RAW_{len(raws) - 1}__")
        elif kind == "raw":
            raws.append(RAW_TOKENS[op[2] % len(RAW_TOKENS)])
            doc = _set(doc, path, f"__RAW_{len(raws) - 1}__")
    return doc


def mutate_meta(case) -> tuple[str, bytes, dict]:
    mf = meta_fixture(case["fixture"])
    key = mf["keys"][case["key_pick"] % len(mf["keys"])]
    text = mf["contents"][key]
    if case.get("doc_ops"):
        doc = json.loads(text)
        raws: list[str] = []
        doc = mutate_doc(doc, case["doc_ops"], raws)
        s = json.dumps(doc, allow_nan=True, indent=case.get("indent"), ensure_ascii=case.get("ascii", True))
        s = _SENTINEL.sub(lambda m: raws[int(m.group(2))] if m.group(1) == "RAW" else m.group(0), s)
        text = s.encode("utf-8", "surrogatepass")
    b: bytearray | None = bytearray(text)
    for op in case.get("byte_ops", []):
        b = apply_op(b, op, None)
        if b is None:
            break
    return key, (None if b is None else bytes(b)), mf


def run_meta_case(case, send) -> dict:
    key, mutated, mf = mutate_meta(case)
    repro = {"fixture": case["fixture"], "key": key, "mutated": None if mutated is None else _text_or_hex(mutated)}
    send(("prepared", repro))
    contents = dict(mf["contents"])
    if mutated is None:
        del contents[key]
    else:
        contents[key] = mutated
    problems: list[dict] = []

    def guarded(label, fn):
        send(("phase", label))
        try:
            return True, fn()
        except ExzarrError:
            return False, None
        except BaseException as exc:  # any other exception escaping exzarr is the finding
            if isinstance(exc, KeyboardInterrupt):
                raise
            problems.append(
                {
                    "category": "memory" if isinstance(exc, MemoryError) else "exception",
                    "where": label,
                    "exc_type": type(exc).__name__,
                    "detail": f"{type(exc).__name__}: {_short(str(exc), 500)}",
                    "tb": _tb(exc),
                }
            )
            return False, None

    def check_array(a, path: str, how: str) -> None:
        ok, shape = guarded(f"{how}: shape of {path!r}", lambda: tuple(a.shape))
        if not ok:
            return
        if not all(isinstance(n, int) and n >= 0 for n in shape):
            problems.append({"category": "inconsistent", "where": how, "detail": f"array {path!r} has shape {shape!r}"})
            return
        guarded(f"{how}: attrs of {path!r}", lambda: dict(a.attrs))
        sels = [tuple(slice(0, 3) for _ in shape), tuple(slice(max(0, n - 3), n) for n in shape)]
        for sel in sels:
            label = f"{how}: {path or '/'}[{_short(sel, 120)}]"
            good, out = guarded(label, lambda s=sel: a[s])
            if not good:
                continue
            out = as_result(out, np.dtype(a.dtype) == object)
            exp_shape = tuple(len(range(*s.indices(n))) for s, n in zip(sel, shape, strict=True))
            if out.shape != exp_shape:
                problems.append(
                    {"category": "inconsistent", "where": label, "detail": f"shape {out.shape}, expected {exp_shape}"}
                )
                continue
            good2, again = guarded(label + " (again)", lambda s=sel: a[s])
            if good2 and not eq_elems(out, as_result(again, np.dtype(a.dtype) == object)).all():
                problems.append({"category": "inconsistent", "where": label, "detail": "two reads of the same selection differ"})
        ok, nbytes = guarded(f"{how}: size of {path!r}", lambda: math.prod(shape) * max(1, np.dtype(a.dtype).itemsize))
        try:  # a legitimately slow read (a million stored chunks) is not a hang; an empty array's is
            nchunks = math.prod(-(-n // max(1, int(c))) for n, c in zip(shape, a.chunks, strict=False)) if nbytes else 0
        except Exception:
            nchunks = 0
        if ok and nbytes <= FULL_READ_LIMIT and nchunks <= FULL_READ_CHUNKS:
            good, full = guarded(f"{how}: {path or '/'}[...]", lambda: a[...])
            if good:
                full = np.asarray(full)
                if full.shape != shape:
                    problems.append(
                        {
                            "category": "inconsistent",
                            "where": f"{how}: {path}[...]",
                            "detail": f"shape {full.shape} for an array of shape {shape}",
                        }
                    )
                    return
                sig = _signature(a)
                orig = mf["arrays"].get(path)
                if orig is not None and sig is not None and sig == orig[0]:
                    if full.shape != orig[1].shape or not eq_elems(full, orig[1]).all():
                        problems.append(
                            {
                                "category": "wrong-data",
                                "where": f"{how}: {path}[...]",
                                "detail": "metadata parses to the original array, but the data read differs",
                            }
                        )

    def visit(node, path: str, how: str, depth: int = 0) -> None:
        if isinstance(node, exzarr.Array):
            check_array(node, path, how)
            return
        guarded(f"{how}: attrs of group {path!r}", lambda: dict(node.attrs))
        if depth >= 4:
            return
        ok, members = guarded(f"{how}: members of {path!r}", lambda: node.members()[:20])
        if ok:
            for name, child in members:
                visit(child, f"{path}/{name}".strip("/"), how, depth + 1)

    node_path = key.rsplit("/", 1)[0] if "/" in key else ""
    for how, kwargs in (
        ("open root", {}),
        ("open node", {"node": node_path} if node_path else None),
        (
            "open root without consolidated",
            {"use_consolidated": False} if ".zmetadata" in contents or "consolidated" in case["fixture"] else None,
        ),
    ):
        if kwargs is None:
            continue
        st = exzarr.MemoryStore(dict(contents))
        ok, node = guarded(f"{how} {kwargs}", lambda st=st, kw=kwargs: exzarr.open(st, mode="r", **kw))
        if ok:
            visit(node, kwargs.get("node", ""), how)
    return {"problems": problems}


def _text_or_hex(b: bytes) -> dict:
    try:
        return {"text": b.decode("utf-8")}
    except UnicodeDecodeError:
        return {"hex": b.hex()}


# ============================================================================= harness selftest


def run_selftest(case, send) -> dict:
    """Misbehave on purpose, so the suite can check that the parent notices."""
    send(("prepared", {"selftest": case["what"]}))
    what = case["what"]
    if what == "crash":
        import ctypes

        ctypes.string_at(0)  # SIGSEGV
    elif what == "hang":
        import time

        time.sleep(3600)
    elif what == "memory":
        try:
            block = bytearray(300 << 20)  # touched: peak RSS grows by 300 MiB
            del block
            b = bytearray(1 << 40)  # beyond RLIMIT_AS: MemoryError
            del b
        except MemoryError as exc:
            return {"problems": [{"category": "memory", "where": "selftest", "exc_type": "MemoryError", "detail": str(exc)}]}
    elif what == "escape":
        try:
            raise ValueError("not an ExzarrError")
        except ValueError as exc:
            return {"problems": [{"category": "exception", "where": "selftest", "exc_type": "ValueError", "detail": str(exc)}]}
    return {"problems": []}


# ============================================================================= main loop


def _vm_bytes() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def main() -> None:
    faulthandler.enable(sys.stderr)
    proto_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # stray prints go to stderr, never into the protocol
    sys.stdout = io.TextIOWrapper(os.fdopen(1, "wb", closefd=False), write_through=True)
    inp = os.fdopen(0, "rb")
    warnings.simplefilter("ignore")
    sys.setrecursionlimit(int(os.environ.get("EXZARR_FUZZ_RECURSION", "3000")))
    # warm up: import every codec and start exzarr's pool, so the address-space limit sees them
    for name in ("v2-blosc-lz4-shuffle-f8", "v3-shard-end-zstd-i4", "v3-vlen-utf8-zstd"):
        chunk_fixture(name)
        exzarr.open(exzarr.MemoryStore(dict(chunk_fixture(name).contents)), mode="r")[...]
    for name in META_FIXTURES:
        meta_fixture(name)
    headroom = int(os.environ.get("EXZARR_FUZZ_AS_MB", "1536")) << 20
    limit = _vm_bytes() + headroom
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    rss_bound = int(os.environ.get("EXZARR_FUZZ_RSS_MB", "256")) * 1024  # ru_maxrss is in KiB
    _send(proto_out, ("ready", {"pid": os.getpid(), "as_limit": limit}))
    while True:
        case = _recv(inp)
        if case is None:
            return
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            runner = {"chunk": run_chunk_case, "meta": run_meta_case, "selftest": run_selftest}[case["type"]]
            res = runner(case, lambda m: _send(proto_out, m))
        except MemoryError as exc:
            res = {
                "problems": [
                    {"category": "memory", "where": "harness", "exc_type": "MemoryError", "detail": str(exc), "tb": _tb(exc)}
                ]
            }
        except BaseException as exc:  # a bug in the harness itself: report it, keep going
            res = {
                "problems": [
                    {
                        "category": "harness-error",
                        "where": "worker",
                        "exc_type": type(exc).__name__,
                        "detail": f"{type(exc).__name__}: {exc}",
                        "tb": traceback.format_exc()[-2000:],
                    }
                ]
            }
        grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
        if grown > rss_bound:
            res["problems"].append(
                {
                    "category": "memory",
                    "where": "case",
                    "detail": f"peak RSS grew by {grown // 1024} MiB (bound {rss_bound // 1024} MiB)",
                }
            )
        res["rss_growth_kb"] = grown
        _send(proto_out, ("result", res))


if __name__ == "__main__":
    main()
