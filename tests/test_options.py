"""Options: a misspelled option is an error naming it, and every entry point (create, open,
open_array, open_group, Group.create_array/require_array, copy) takes the same options and modes
through the one node factory."""

from __future__ import annotations

import numpy as np
import pytest

import exzarr
from exzarr.errors import MetadataError, NodeExistsError, NodeNotFoundError


@pytest.mark.parametrize("fmt", [2, 3])
@pytest.mark.parametrize(
    "spec",
    [
        ("zstd", {"levle": 3}),
        {"id": "zstd", "levle": 3},
        {"id": "blosc", "cname": "lz4", "clevl": 5},
        ("lz4", {"acceleraton": 2}),
        ("gzip", {"lvl": 1}),
    ],
)
def test_misspelled_codec_options_are_refused_by_name(spec, fmt):
    bad = (spec[1] if isinstance(spec, tuple) else {k: v for k, v in spec.items() if k != "id"}).keys() - {"cname"}
    with pytest.raises(MetadataError, match=repr(next(iter(bad)))):
        exzarr.create(shape=(4,), chunks=(2,), compressor=spec, zarr_format=fmt)


def test_misspelled_options_get_a_suggestion_and_good_ones_still_work():
    with pytest.raises(MetadataError, match="did you mean 'level'"):
        exzarr.create(shape=(4,), chunks=(2,), compressor=("zstd", {"levle": 3}))
    a = exzarr.create(shape=(4,), chunks=(2,), compressor=("zstd", {"level": 3}))
    assert a.codecs[-1].level == 3
    b = exzarr.create(shape=(4,), chunks=(2,), compressor={"id": "zstd", "level": 5}, zarr_format=2)
    assert b.metadata.compressor.level == 5


@pytest.mark.parametrize(
    "codec",
    [
        {"name": "zstd", "configuration": {"level": 1, "checksun": True}},
        {"name": "bytes", "configuration": {"endain": "little"}},
        {"name": "blosc", "configuration": {"cname": "lz4", "clevel": 1, "shufle": "shuffle"}},
        {"name": "crc32c", "configuration": {"x": 1}},
        {"name": "transpose", "configuration": {"order": [0], "ordr": [0]}},
        {"name": "sharding_indexed", "configuration": {"chunk_shape": [2], "index_locaton": "end"}},
        {"name": "vlen-utf8", "configuration": {"strict": True}},
    ],
)
def test_unknown_v3_codec_configuration_keys_are_refused(codec, tmp_path):
    bad = next(k for k in codec["configuration"] if k not in ("level", "cname", "clevel", "order", "chunk_shape"))
    with pytest.raises(MetadataError, match=repr(bad)):
        exzarr.codecs.codec_from_json(codec)


@pytest.mark.parametrize("fn", [exzarr.open, exzarr.open_array])
@pytest.mark.parametrize("mode", ["r", "r+", "a"])
def test_unknown_keywords_to_open_are_type_errors(tmp_path, fn, mode):
    exzarr.create(tmp_path / "a", shape=(4,), chunks=(2,))
    for kw in ({"store": "x"}, {"foo": 1}, {"chunk": (2,)}, {"cache_byte": 10}):
        with pytest.raises(TypeError, match=repr(next(iter(kw)))):
            fn(tmp_path / "a", mode=mode, **kw)


def test_creation_keywords_in_read_modes_are_refused(tmp_path):
    exzarr.create(tmp_path / "a", shape=(4,), chunks=(2,))
    for mode in ("r", "r+"):
        with pytest.raises(ValueError, match="shape="):
            exzarr.open(tmp_path / "a", mode=mode, shape=(4,))
    with pytest.raises(TypeError, match="shape="):
        exzarr.open(tmp_path / "b", mode="a", chunks=(2,))
    with pytest.raises(TypeError, match="'foo'"):
        exzarr.open_group(tmp_path, foo=1)
    with pytest.raises(TypeError, match="'wat'"):
        exzarr.create(shape=(2,), wat=1)


def test_option_values_are_checked():
    with pytest.raises(TypeError, match="write_empty_chunks"):
        exzarr.create(shape=(2,), write_empty_chunks="yes")
    with pytest.raises(ValueError, match="cache_bytes"):
        exzarr.create(shape=(2,), cache_bytes=-5)
    with pytest.raises(TypeError, match="process_locks"):
        exzarr.create(shape=(2,), process_locks=1)


@pytest.mark.parametrize("mode", ["r+", "a"])
def test_open_keeps_runtime_options(tmp_path, mode):
    exzarr.create(tmp_path / "a", shape=(4,), chunks=(2,))
    a = exzarr.open(tmp_path / "a", mode=mode, write_empty_chunks=True, cache_bytes=1000)
    assert a.write_empty_chunks is True and a.cache_stats().capacity == 1000
    a[...] = 0.0  # all fill, yet stored because of write_empty_chunks=True
    assert a.nchunks_initialized == 2
    b = exzarr.open_array(tmp_path / "a", mode=mode, process_locks=True)
    assert b.options.process_locks and b.options.write_empty_chunks is None


def test_group_create_array_takes_every_create_option(tmp_path):
    g = exzarr.create_group(tmp_path / "g")
    a = g.create_array("x", shape=(4,), chunks=(2,), cache_bytes=100, process_locks=True, write_empty_chunks=True)
    assert a.options == exzarr.nodes.ArrayOptions(write_empty_chunks=True, process_locks=True, cache_bytes=100)
    a[...] = 0.0
    assert a.nchunks_initialized == 2
    with pytest.raises(TypeError, match="'chunk'.*did you mean 'chunks'"):
        g.create_array("y", shape=(4,), chunk=(2,))
    with pytest.raises(TypeError, match="shape"):
        g.create_array("y", chunks=(2,))
    assert "y" not in g


def test_group_options_pass_to_its_arrays(tmp_path):
    g = exzarr.create_group(tmp_path / "g")
    g.create_array("x", shape=(4,), chunks=(2,))
    h = exzarr.open_group(tmp_path / "g", mode="r+", cache_bytes=4096, write_empty_chunks=True)
    assert h["x"].options.cache_bytes == 4096 and h["x"].write_empty_chunks
    y = h.create_array("y", shape=(2,), chunks=(2,), cache_bytes=8)
    assert y.options.cache_bytes == 8 and y.options.write_empty_chunks is True  # per-array values win
    grp = exzarr.open(tmp_path / "g", cache_bytes=16)
    assert grp["x"].cache_stats().capacity == 16


def test_require_array_checks_what_is_there(tmp_path):
    g = exzarr.create_group(tmp_path / "g")
    a = g.require_array("x", shape=(4,), chunks=(2,), dtype="i2")
    assert g.require_array("x", shape=(4,), dtype="i2") == a
    assert g.require_array("x") == a
    with pytest.raises(NodeExistsError, match="shape"):
        g.require_array("x", shape=(5,))
    with pytest.raises(NodeExistsError, match="dtype"):
        g.require_array("x", shape=(4,), dtype="f8")
    g.create_group("sub")
    with pytest.raises(NodeExistsError, match="group"):
        g.require_array("sub", shape=(1,))


MODES_TABLE = [  # (mode, node there?, result)
    ("r", None, NodeNotFoundError),
    ("r+", None, NodeNotFoundError),
    ("a", None, "created"),
    ("w", None, "created"),
    ("w-", None, "created"),
    ("r", "array", "opened"),
    ("r+", "array", "opened"),
    ("a", "array", "opened"),
    ("w", "array", "created"),
    ("w-", "array", NodeExistsError),
    ("r", "group", NodeNotFoundError),
    ("a", "group", NodeExistsError),
    ("w", "group", "created"),
    ("w-", "group", NodeExistsError),
]


@pytest.mark.parametrize(("mode", "there", "result"), MODES_TABLE)
@pytest.mark.parametrize("entry", ["open_array", "open", "create"])
def test_modes_behave_the_same_in_every_entry_point(tmp_path, mode, there, result, entry):
    p = tmp_path / "n"
    if there == "array":
        exzarr.create(p, shape=(3,), chunks=(3,), dtype="i4")[...] = 5
    elif there == "group":
        exzarr.create_group(p)
    if entry == "create" and mode in ("r", "r+"):
        with pytest.raises(ValueError, match="writable mode"):
            exzarr.create(p, shape=(3,), chunks=(3,), mode=mode)
        return
    fn = {"open_array": exzarr.open_array, "open": exzarr.open, "create": exzarr.create}[entry]
    kw = {} if mode in ("r", "r+") else {"shape": (3,), "chunks": (3,), "dtype": "i4"}
    if entry == "open" and there == "group" and mode == "a":
        assert isinstance(exzarr.open(p, mode="a"), exzarr.Group)  # open takes whatever is there
        return
    if entry == "open" and there == "group" and mode == "r":
        assert isinstance(exzarr.open(p, mode="r"), exzarr.Group)
        return
    if isinstance(result, type):
        with pytest.raises(result):
            fn(p, mode=mode, **kw)
        return
    a = fn(p, mode=mode, **kw)
    assert isinstance(a, exzarr.Array)
    assert a[...].tolist() == ([5, 5, 5] if result == "opened" else [0, 0, 0])
    assert a.read_only == (mode == "r")


def test_group_modes_never_destroy_an_array(tmp_path):
    exzarr.create(tmp_path / "a", shape=(3,), chunks=(3,))[...] = 1
    for fn in (exzarr.open_group, exzarr.create_group):
        with pytest.raises(NodeExistsError):
            fn(tmp_path / "a", mode="a")
    exzarr.create_group(tmp_path / "v3", mode="w")
    with pytest.raises(NodeExistsError, match="zarr_format=2"):
        exzarr.create_group(tmp_path / "v3", mode="a", zarr_format=2)
    assert (exzarr.open_array(tmp_path / "a")[...] == 1).all()


def test_invalid_arguments_never_destroy_data(tmp_path):
    exzarr.create(tmp_path / "a", shape=(3,), chunks=(3,))[...] = 1
    with pytest.raises(MetadataError):
        exzarr.create(tmp_path / "a", shape=(3,), chunks=(3,), compressor=("zstd", {"levle": 1}), mode="w")
    assert (exzarr.open_array(tmp_path / "a")[...] == 1).all()


def test_copy_modes(tmp_path):
    src = exzarr.save(tmp_path / "s", np.arange(6))
    exzarr.copy(src, tmp_path / "d")
    with pytest.raises(NodeExistsError):
        exzarr.copy(src, tmp_path / "d")
    assert exzarr.copy(src, tmp_path / "d", mode="w", chunks=(2,)).chunks == (2,)
    with pytest.raises(ValueError, match="mode"):
        exzarr.copy(src, tmp_path / "e", mode="a")


def test_storage_options_are_checked(tmp_path):
    with pytest.raises(TypeError, match="'fsynk'"):
        exzarr.create(tmp_path / "a", shape=(2,), storage_options={"fsynk": True})
    with pytest.raises(TypeError, match="storage_options"):
        exzarr.create("memory://opts", shape=(2,), storage_options={"x": 1})
    assert exzarr.create(tmp_path / "b", shape=(2,), storage_options={"fsync": True}).store.fsync is True
