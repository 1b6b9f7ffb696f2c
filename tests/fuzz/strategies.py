"""Hypothesis strategies for fuzz cases: byte mutations of stored chunks and shards, structural
and byte mutations of metadata documents, and huge size claims.

Cases are plain picklable data (tuples, dicts, bytes, NumPy index arrays); the worker resolves
positions and relative values against the object it mutates (``worker.apply_op``), so the
strategies need only the fixture's name, shape and codecs.
"""

from __future__ import annotations

from functools import cache

from hypothesis import strategies as st

from exzarr.testing.strategies import basic_index, orthogonal_index

from .fixtures import Fixture

# ----------------------------------------------------------------------------- numbers

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
RELATIVE = [
    "len",
    "len+1",
    "len-1",
    "len*2",
    "orig+1",
    "orig-1",
    "orig*2",
    "orig/2",
    "orig+8",
    "orig-8",
    "expected",
    "expected+1",
    "expected-1",
    "-1",
    "max",
]

values = st.sampled_from(INTERESTING) | st.sampled_from(RELATIVE) | st.integers(0, 2**64 - 1)
positions = st.integers(0, 48) | st.integers(-48, -1) | st.integers(0, 1 << 16)
JUNK = [
    b"\x00" * 16,
    b"\xff" * 16,
    b"\x28\xb5\x2f\xfd",
    b"\x28\xb5\x2f\xfd\x20\x00\x01\x00\x00",
    b"\x02\x01\x21\x08\xff\xff\xff\x7f\x00\x10\x00\x00\x10\x00\x00\x00",
    b"\x1f\x8b\x08\x00",
    b"BZh91AY&SY",
    b"\xfd7zXZ\x00\x00",
    b"\x78\x9c",
    b"PK\x03\x04",
    b"\x00" * 4096,
]
junk = st.binary(min_size=1, max_size=48) | st.sampled_from(JUNK) | st.just(b"\x00" * 70000)

# ----------------------------------------------------------------------------- byte mutations


@cache
def _generic_ops() -> st.SearchStrategy:
    return st.one_of(
        st.tuples(st.just("flip"), positions, st.integers(0, 7)),
        st.tuples(st.just("set"), positions, st.integers(0, 255)),
        st.tuples(st.just("truncate"), positions),
        st.tuples(st.just("cut_tail"), st.integers(1, 64)),
        st.tuples(st.just("drop_head"), st.integers(1, 32)),
        st.tuples(st.just("extend"), junk),
        st.tuples(st.just("prepend"), junk),
        st.tuples(st.just("insert"), positions, junk),
        st.tuples(st.just("delete_range"), positions, st.integers(1, 64)),
        st.tuples(st.just("duplicate"), positions, st.integers(1, 64)),
        st.tuples(
            st.just("splice_int"),
            st.sampled_from(["head", "tail", "any"]),
            positions,
            st.sampled_from([1, 2, 4, 8]),
            values,
            st.sampled_from(["little", "big"]),
        ),
        st.tuples(st.just("swap"), st.integers(0, 100)),
        st.just(("empty",)),
        st.just(("delete",)),
    )


def _has(fx: Fixture, word: str) -> bool:
    return word in repr(fx.create)


@cache
def byte_ops(fx: Fixture) -> st.SearchStrategy:
    """One mutation of a stored chunk or shard of ``fx``, weighted toward its codecs' framing."""
    specific = []
    if _has(fx, "blosc"):
        specific.append(
            st.tuples(
                st.just("blosc_field"),
                st.sampled_from(["version", "versionlz", "flags", "typesize", "nbytes", "blocksize", "cbytes", "bstart0"]),
                values,
            )
        )
    if _has(fx, "lz4"):
        specific.append(st.tuples(st.just("lz4_size"), values))
    if _has(fx, "zstd"):
        specific.append(st.tuples(st.just("zstd_fcs"), values))
    if _has(fx, "gzip"):
        specific.append(st.tuples(st.just("gzip_isize"), values))
    if _has(fx, "crc32c"):
        specific.append(st.just(("fix_crc",)))
    if fx.kind == "object":
        specific.append(st.tuples(st.just("vlen_count"), values))
    if fx.inner is not None:
        specific.append(shard_index_ops())
    generic = _generic_ops()
    if not specific:
        return generic
    return st.one_of(generic, *specific, *specific)  # codec-aware mutations twice as likely


@cache
def shard_index_ops() -> st.SearchStrategy:
    """Edits of a shard's index (re-sealing its crc32c or not) and of one inner chunk, re-indexed."""
    entry_values = values | st.sampled_from([f"entry{i}" for i in range(8)])
    return st.one_of(
        st.tuples(st.just("index_entry"), st.integers(0, 64), st.sampled_from([0, 1, "both"]), entry_values, st.booleans()),
        st.tuples(
            st.just("inner"),
            st.integers(0, 64),
            st.lists(_generic_ops().filter(lambda o: o[0] != "swap"), min_size=1, max_size=2),
        ),
    )


@cache
def selections(shape: tuple[int, ...]) -> st.SearchStrategy:
    return st.one_of(
        st.tuples(st.just("basic"), basic_index(shape)),
        st.tuples(st.just("orthogonal"), orthogonal_index(shape)),
    )


@st.composite
def chunk_cases(draw: st.DrawFn, fx: Fixture, *, index_only: bool = False) -> dict:
    """Mutate one stored chunk (or shard) of ``fx``; read everything, a few selections, maybe write."""
    if index_only:
        ops = draw(st.lists(shard_index_ops(), min_size=1, max_size=3))
    else:
        ops = draw(st.lists(byte_ops(fx), min_size=1, max_size=3))
    return {
        "type": "chunk",
        "fixture": fx.name,
        "key_pick": draw(st.integers(0, 1000)),
        "layer": draw(st.sampled_from(["raw", "raw", "payload"])),
        "ops": ops,
        "sels": draw(st.lists(selections(fx.shape), max_size=2)),
        "write": draw(st.none() | st.none() | st.none() | st.integers(0, 100)),
    }


# ----------------------------------------------------------------------------- metadata documents

HUGE = [0, 1, 3, 2**20, 2**31 - 1, 2**31, 2**32 + 1, 2**40, 2**53 + 1, 2**62, 2**63 - 1, 2**63, 2**64, 10**30]
huge_ints = st.sampled_from(HUGE) | st.integers(-(2**64), 2**64)
huge_lists = st.lists(huge_ints, min_size=0, max_size=3) | st.lists(st.sampled_from([1, 2, 2**31]), min_size=33, max_size=70)

DTYPES = [
    "<f8",
    "|O",
    "<U0",
    "|S0",
    "|V0",
    "<f16",
    ">M8[ns]",
    "<m8[as]",
    "|b1",
    "<U2147483647",
    "|S2147483648",
    "int32",
    "float64",
    "string",
    "bytes",
    "variable_length_bytes",
    "bool",
    "complex256",
    "r16",
    "r0",
    "r7",
    "float8_e4m3",
    "uint128",
    "numpy.datetime64",
    "\u2603",
    "",
    "<i8\x00",
]
CODECS = [
    {"name": "nope"},
    {"name": "numcodecs.nope"},
    {"name": "zstd", "configuration": {"level": 10**9}},
    {"name": "zstd", "configuration": {"level": "1"}},
    {"name": "blosc", "configuration": {"cname": "nope"}},
    {"name": "blosc", "configuration": {"cname": "lz4", "clevel": 5, "shuffle": "shuffle", "typesize": 0}},
    {"name": "blosc", "configuration": {"cname": "lz4", "clevel": 5, "shuffle": "shuffle", "blocksize": 2**40}},
    {"name": "gzip", "configuration": {"level": -1}},
    {"name": "crc32c", "configuration": {"x": 1}},
    {"name": "bytes", "configuration": {"endian": "middle"}},
    {"name": "bytes"},
    {"name": "vlen-utf8"},
    {"name": "transpose", "configuration": {"order": [0, 0]}},
    {"name": "transpose", "configuration": {"order": [5, -1]}},
    {"name": "transpose", "configuration": {"order": "F"}},
    {"name": "sharding_indexed", "configuration": {"chunk_shape": [2**40, 2**40]}},
    {
        "name": "sharding_indexed",
        "configuration": {
            "chunk_shape": [1, 1],
            "codecs": [{"name": "bytes"}],
            "index_codecs": [{"name": "bytes"}, {"name": "zstd"}],
        },
    },
    {
        "name": "sharding_indexed",
        "configuration": {"chunk_shape": [1, 1], "codecs": [{"name": "bytes"}], "index_location": "middle"},
    },
    {"name": "sharding_indexed", "configuration": {"chunk_shape": [1, 1], "codecs": "bytes"}},
    {
        "name": "sharding_indexed",
        "configuration": {
            "chunk_shape": [1, 1],
            "codecs": [{"name": "sharding_indexed", "configuration": {"chunk_shape": [1, 1], "codecs": [{"name": "bytes"}]}}],
        },
    },
    {"name": "numcodecs.delta", "configuration": {"dtype": "<f8"}},
    {"name": "numcodecs.fixedscaleoffset", "configuration": {"offset": "x", "scale": 0, "dtype": "<f8"}},
    {"name": "numcodecs.zlib", "configuration": {"level": 99}},
    {"name": "numcodecs.lzma", "configuration": {"preset": 99}},
    {"name": "numcodecs.lzma", "configuration": {"format": 3, "filters": [{"id": 33, "dict_size": 2**40}]}},
    {"name": "numcodecs.astype", "configuration": {"encode_dtype": "<U3", "decode_dtype": "<f8"}},
    {"name": "numcodecs.categorize", "configuration": {"labels": [], "dtype": "<f8"}},
    {"name": "numcodecs.packbits"},
    {"name": "numcodecs.shuffle", "configuration": {"elementsize": 0}},
    {"name": "zstd", "must_understand": False},
    {"name": "unknown-ext", "must_understand": False},
    {"name": "zstd", "configuration": None, "extra": 1},
    {"name": 7},
    "zstd",
    "bytes",
    [],
    None,
    0,
    {"id": "blosc", "cname": "lz4", "clevel": 99},
    {"id": "zstd", "level": "1"},
    {"id": "nope"},
    {"id": "lz4", "acceleration": -(10**9)},
    {"id": "lzma", "preset": 99},
    {"id": "lzma", "format": 3, "filters": None},
    {"id": "lzma", "format": 3, "filters": [{"id": 33, "dict_size": 2**40}]},
    {"id": "zlib", "level": 10},
    {"id": "blosc", "cname": "zstd", "clevel": 5, "shuffle": 7},
    {"id": "blosc", "blocksize": -1},
    {"id": "bz2", "level": 0},
    {"id": "vlen-utf8"},
    {"id": "vlen-bytes"},
    {"id": "vlen-array", "dtype": "<f8"},
    {"id": "json2"},
    {"id": "pickle"},
    {"id": "delta", "dtype": "<f8", "astype": "<i1"},
    {"id": "quantize", "digits": -5, "dtype": "<f8"},
    {"id": "fixedscaleoffset", "offset": 0, "scale": 10**300, "dtype": "<f8", "astype": "<u1"},
    {"id": "astype", "encode_dtype": "|O", "decode_dtype": "<f8"},
    {"id": "bitround", "keepbits": 99},
    {"id": "categorize", "labels": ["a"], "dtype": "<U1", "astype": "u1"},
    {"id": "shuffle", "elementsize": -1},
    {"id": "zstd", "level": 1, "checksum": "yes"},
    {"id": 3},
]
SCALARS = [
    None,
    True,
    False,
    0,
    -1,
    1,
    2,
    2**31,
    2**53 + 1,
    2**62,
    2**63,
    2**64,
    -(2**63),
    10**30,
    0.5,
    -0.0,
    1e308,
    float("nan"),
    float("inf"),
    float("-inf"),
    "",
    "NaN",
    "Infinity",
    "-Infinity",
    "0x7ff8000000000001",
    "\u2603",
    "\ud800",
    "c/0",
    "..",
    "/",
    "a/../b",
    "\x00",
    "\\",
    ".",
    "C",
    "F",
    "X",
    "v2",
    "default",
    "regular",
    "array",
    "group",
    "end",
    "start",
    "little",
    "big",
    "AAAAAAAAAAA=",
    "a" * 5000,
]

nasty_scalars = st.sampled_from(SCALARS)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=8,
)
nasty_values = st.one_of(
    nasty_scalars,
    huge_lists,
    st.sampled_from(DTYPES),
    st.sampled_from(CODECS),
    json_values,
    st.lists(st.sampled_from(CODECS), max_size=3),
)

KEYS = [
    "zarr_format",
    "node_type",
    "shape",
    "data_type",
    "dtype",
    "chunk_grid",
    "chunk_key_encoding",
    "fill_value",
    "codecs",
    "attributes",
    "dimension_names",
    "storage_transformers",
    "chunks",
    "compressor",
    "filters",
    "order",
    "dimension_separator",
    "name",
    "configuration",
    "chunk_shape",
    "separator",
    "endian",
    "cname",
    "clevel",
    "shuffle",
    "typesize",
    "blocksize",
    "level",
    "checksum",
    "index_codecs",
    "index_location",
    "consolidated_metadata",
    "metadata",
    "kind",
    "must_understand",
    "id",
    "zarr_consolidated_format",
]

picks = st.integers(0, 500)


@cache
def doc_ops() -> st.SearchStrategy:
    return st.one_of(
        st.tuples(st.just("delete"), picks),
        st.tuples(st.just("replace"), picks, nasty_values),
        st.tuples(st.just("add"), picks, st.sampled_from(KEYS) | st.text(max_size=6), nasty_values),
        st.tuples(st.just("wrap"), picks),
        st.tuples(st.just("stringify"), picks),
        st.tuples(st.just("deep"), picks, st.sampled_from([50, 500, 990, 3000, 100_000])),
        st.tuples(st.just("bigint"), picks, st.sampled_from([20, 400, 4300, 5000, 100_000])),
        st.tuples(st.just("raw"), picks, st.integers(0, 100)),
        st.tuples(st.just("set_key"), st.sampled_from(KEYS), nasty_values),
        st.tuples(st.just("del_key"), st.sampled_from(KEYS)),
        st.tuples(st.just("codec"), picks, st.sampled_from(CODECS) | json_values),
        st.tuples(st.just("set_field"), st.sampled_from(["shape", "chunks", "inner"]), huge_lists),
    )


@cache
def meta_byte_ops() -> st.SearchStrategy:
    text_junk = st.sampled_from(
        [
            b"\xef\xbb\xbf",
            b"\xff\xfe",
            b"\x00",
            b"\xc3\x28",
            b"\xed\xa0\x80",
            b"}",
            b"{",
            b"]",
            b'"',
            b"\\",
            b",",
            b"NaN",
            b"1e999",
            b'"shape": [1]',
            b"\x1f\x8b",
            b" " * 1000,
        ]
    )
    return st.one_of(
        st.tuples(st.just("flip"), positions, st.integers(0, 7)),
        st.tuples(st.just("set"), positions, st.integers(0, 255)),
        st.tuples(st.just("truncate"), positions),
        st.tuples(st.just("insert"), positions, text_junk | st.binary(min_size=1, max_size=8)),
        st.tuples(st.just("delete_range"), positions, st.integers(1, 16)),
        st.tuples(st.just("duplicate"), positions, st.integers(1, 64)),
        st.tuples(st.just("prepend"), text_junk),
        st.tuples(st.just("extend"), text_junk),
        st.just(("empty",)),
        st.just(("delete",)),
    )


@st.composite
def meta_cases(draw: st.DrawFn, fixture: str, *, structural: bool = True, byte_level: bool = True) -> dict:
    d_ops = draw(st.lists(doc_ops(), max_size=3)) if structural else []
    b_ops = draw(st.lists(meta_byte_ops(), max_size=2, min_size=0 if d_ops else 1)) if byte_level else []
    if not d_ops and not b_ops:
        d_ops = [draw(doc_ops())]
    return {
        "type": "meta",
        "fixture": fixture,
        "key_pick": draw(picks),
        "doc_ops": d_ops,
        "byte_ops": b_ops,
        "indent": draw(st.sampled_from([None, 2])),
        "ascii": draw(st.booleans()),
    }


@st.composite
def huge_claim_cases(draw: st.DrawFn, fixture: str) -> dict:
    """Shapes, chunk shapes and shard inner-chunk shapes of enormous (or zero, or mismatched) sizes."""
    ndim = draw(st.sampled_from([0, 1, 2, 2, 2, 3]))

    def dims():
        return draw(st.lists(st.sampled_from(HUGE) | st.integers(1, 12), min_size=ndim, max_size=ndim))

    ops = [("set_field", "shape", dims()), ("set_field", "chunks", dims())]
    if draw(st.booleans()):
        ops.append(("set_field", "inner", dims()))
    ops = draw(st.lists(st.sampled_from(ops), min_size=1, max_size=3, unique_by=lambda o: o[1]))
    return {"type": "meta", "fixture": fixture, "key_pick": draw(picks), "doc_ops": ops, "byte_ops": [], "indent": None}
