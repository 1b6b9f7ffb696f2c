"""Codec names -> codec objects: the v3 registry (``codec_from_json``, entry points) and the
user-level forms ``create`` accepts (a name, a numcodecs dict, a ``(name, options)`` tuple, an object).

>>> codec_from_json({"name": "zstd", "configuration": {"level": 1}})
ZstdCodec({'level': 1, 'checksum': False})
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

import numcodecs
from numcodecs.abc import Codec as NCodec

from ..errors import MetadataError, UnknownCodecError
from .base import Codec, check_options
from .bytes import BytesCodec, VlenBytesCodec, VlenUtf8Codec
from .compressors import BloscCodec, Crc32cCodec, GzipCodec, ZstdCodec
from .numcodecs_compat import PREFIX, numcodec_from_config, wrap_numcodec
from .sharding import ShardingCodec
from .transpose import TransposeCodec

__all__ = ["codec_from_json", "compressor_v2", "compressor_v3", "filter_v2", "register_codec"]


def _no_options(name: str, cls: type[Codec]) -> Any:
    def factory(cfg: dict[str, Any]) -> Codec:
        check_options(name, cfg, ())
        return cls()

    return factory


#: sharding inside sharding deeper than this is refused (real data nests once, if at all)
MAX_SHARDING_DEPTH = 8


def _sharding_depth(cfg: Any) -> int:
    """How deeply sharding codecs nest in a sharding configuration (counted without recursion)."""
    depth, level = 0, [cfg]
    while level:
        depth += 1
        if depth > MAX_SHARDING_DEPTH:
            return depth
        level = [
            c.get("configuration") or {}
            for conf in level
            if isinstance(conf, dict)
            for key in ("codecs", "index_codecs")
            for c in (conf.get(key) if isinstance(conf.get(key), list) else [])
            if isinstance(c, dict) and c.get("name") == "sharding_indexed"
        ]
    return depth


def _sharding_from_config(cfg: dict[str, Any]) -> ShardingCodec:
    check_options("sharding_indexed", cfg, ("chunk_shape", "codecs", "index_codecs", "index_location"))
    if _sharding_depth(cfg) > MAX_SHARDING_DEPTH:
        raise MetadataError(f"codec 'sharding_indexed': sharding nested more than {MAX_SHARDING_DEPTH} deep")
    if "chunk_shape" not in cfg:
        raise MetadataError("codec 'sharding_indexed': missing chunk_shape")

    def chain(key: str) -> list[Codec] | None:
        specs = cfg.get(key)
        if specs is None:
            return None
        if not isinstance(specs, list):
            raise MetadataError(f"codec 'sharding_indexed': {key} must be a list")
        field = f"sharding_indexed.{key}"
        return [c for c in (codec_from_json(c, field=field) for c in specs) if c is not None]

    return ShardingCodec(cfg["chunk_shape"], chain("codecs"), chain("index_codecs"), cfg.get("index_location", "end"))


_REGISTRY: dict[str, Any] = {
    "bytes": BytesCodec.from_config,
    "transpose": TransposeCodec.from_config,
    "gzip": GzipCodec.from_config,
    "zstd": ZstdCodec.from_config,
    "blosc": BloscCodec.from_config,
    "crc32c": Crc32cCodec.from_config,
    "vlen-utf8": _no_options("vlen-utf8", VlenUtf8Codec),
    "vlen-bytes": _no_options("vlen-bytes", VlenBytesCodec),
    "sharding_indexed": _sharding_from_config,
}

_entry_points_loaded = False


def register_codec(name: str, factory: Any) -> None:
    """Register a v3 codec: ``factory(configuration_dict) -> Codec``.

    Packages can also register through the ``exzarr.codecs`` entry-point group.
    """
    _REGISTRY[name] = factory


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for ep in entry_points(group="exzarr.codecs"):
        _REGISTRY.setdefault(ep.name, ep.load())


def codec_from_json(obj: Any, *, field: str = "codecs") -> Codec | None:
    """Build a codec from its v3 JSON form; ``None`` for an unknown ``must_understand: false`` codec."""
    if isinstance(obj, Codec):
        return obj
    if isinstance(obj, NCodec):
        return wrap_numcodec(obj)
    foreign = foreign_codec_json(obj)
    if foreign is not None:
        obj = foreign
    if isinstance(obj, str):
        name, cfg, must = obj, {}, True
    elif isinstance(obj, dict) and isinstance(obj.get("name"), str):
        extra = set(obj) - {"name", "configuration", "must_understand"}
        if extra:
            raise MetadataError(f"{field}: unexpected keys {sorted(extra)} in codec {obj!r}")
        name, cfg, must = obj["name"], obj.get("configuration") or {}, obj.get("must_understand", True)
        if not isinstance(cfg, dict):
            raise MetadataError(f"{field}: configuration of codec {name!r} must be an object")
    else:
        raise MetadataError(f"{field}: codec must be a name or {{name, configuration}} object, got {obj!r}")
    factory = _REGISTRY.get(name)
    if factory is None and not _entry_points_loaded:
        _load_entry_points()
        factory = _REGISTRY.get(name)
    if factory is not None:
        try:
            return factory(cfg)
        except MetadataError as exc:
            raise type(exc)(f"{field}: {exc}") from None
        except (TypeError, ValueError) as exc:
            raise MetadataError(f"{field}: invalid configuration for codec {name!r}: {exc}") from None
    if name.startswith(PREFIX):
        return wrap_numcodec(numcodec_from_config({"id": name[len(PREFIX) :], **cfg}, field=field))
    if must is False:
        return None
    raise UnknownCodecError(f"{field}: unknown codec {name!r}")


def foreign_codec_json(obj: Any) -> dict[str, Any] | None:
    """The v3 JSON of another library's codec object (zarr-python's ``ZstdCodec(level=3)``,
    ``BloscCodec``, ``zarr.codecs.numcodecs.Delta``...: anything with a ``to_dict()`` giving
    ``{"name", "configuration"}``); ``None`` for anything else."""
    if isinstance(obj, (NCodec, Codec, dict, str, tuple)):
        return None
    to_dict = getattr(obj, "to_dict", None)
    if not callable(to_dict):
        return None
    js = to_dict()
    if not isinstance(js, dict) or not isinstance(js.get("name"), str):
        return None
    js = _plain_json(js)
    if js["name"] == "blosc":  # left unset, they follow the array's dtype (as zarr-python does)
        cfg = js.get("configuration") or {}
        tunable = getattr(obj, "_tunable_attrs", ())  # zarr-python marks the ones left unset
        for unset in ("typesize", "shuffle"):
            if unset in tunable or getattr(obj, unset, 0) is None:
                cfg.pop(unset, None)
    return js


def _plain_json(v: Any) -> Any:
    """Tuples and enums of a foreign codec's ``to_dict()`` as the JSON values they stand for."""
    if isinstance(v, dict):
        return {str(k): _plain_json(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_plain_json(x) for x in v]
    value = getattr(v, "value", None)  # an Enum member (e.g. zarr's BloscShuffle.shuffle)
    if value is not None and not isinstance(v, int | float | str | bool):
        return _plain_json(value)
    return v


def _user_codec_config(spec: Any, what: str) -> dict[str, Any] | NCodec | Codec:
    """Normalise ``"zstd"``, ``{"id": "zstd", ...}``, ``("zstd", {...})``, a codec object of
    exzarr or numcodecs, or a zarr-python codec object (by its v3 JSON)."""
    if isinstance(spec, (NCodec, Codec)):
        return spec
    foreign = foreign_codec_json(spec)
    if foreign is not None:
        return foreign
    if isinstance(spec, str):
        return {"id": spec}
    if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str) and isinstance(spec[1], dict):
        return {"id": spec[0], **spec[1]}
    if isinstance(spec, dict):
        if "id" in spec:
            return dict(spec)
        if "name" in spec:
            return spec  # a v3 JSON form
    raise UnknownCodecError(f"{what}: expected a name, a numcodecs config dict, a (name, options) tuple or a codec, got {spec!r}")


_V3_NATIVE = {"zstd", "gzip", "blosc", "crc32c"}


def compressor_v2(spec: Any, *, what: str = "compressor") -> NCodec | None:
    """A user compressor spec as the numcodecs codec a v2 ``.zarray`` stores."""
    if spec is None:
        return None
    cfg = _user_codec_config(spec, what)
    if isinstance(cfg, NCodec):
        return cfg
    if isinstance(cfg, Codec):
        js = cfg.to_json()
        name = js["name"].removeprefix(PREFIX)
        conf = dict(js.get("configuration") or {})
        if name == "blosc":
            conf["shuffle"] = {"noshuffle": 0, "shuffle": 1, "bitshuffle": 2}[conf.get("shuffle") or "shuffle"]
            conf.pop("typesize", None)
        return numcodec_from_config({"id": name, **conf}, field=what)
    if "name" in cfg and "id" not in cfg:  # a v3 JSON form: the numcodecs codec it stands for
        codec = codec_from_json(cfg, field=what)
        if codec is None or codec.kind == "array_bytes" or codec.name in ("transpose", "sharding_indexed"):
            raise UnknownCodecError(f"{what}: v2 arrays take numcodecs codecs, and {cfg.get('name')!r} has none")
        return compressor_v2(codec, what=what)
    return numcodec_from_config(cfg, field=what)


def filter_v2(spec: Any, *, what: str = "filters") -> NCodec:
    codec = compressor_v2(spec, what=what)
    assert codec is not None
    return codec


def compressor_v3(spec: Any, *, what: str = "compressor") -> Codec | None:
    """A user compressor/filter spec as a v3 codec (native name where the spec has one)."""
    if spec is None:
        return None
    cfg = _user_codec_config(spec, what)
    if isinstance(cfg, Codec):
        return cfg
    if isinstance(cfg, NCodec):
        cfg = cfg.get_config()
    if "name" in cfg and "id" not in cfg:
        return codec_from_json(cfg, field=what)
    cid = cfg["id"]
    opts = {k: v for k, v in cfg.items() if k != "id"}
    if cid in _V3_NATIVE:
        if cid == "blosc":
            sh = opts.get("shuffle", 1)
            if isinstance(sh, int):
                if sh == -1:
                    sh = 1
                opts["shuffle"] = {0: "noshuffle", 1: "shuffle", 2: "bitshuffle"}.get(sh, sh)
            opts.setdefault("cname", "lz4")
            opts.setdefault("shuffle", "shuffle")
        if cid == "gzip":
            opts.setdefault("level", 1)
        return codec_from_json({"name": cid, "configuration": opts}, field=what)
    numcodecs_obj = numcodec_from_config(cfg, field=what)
    return wrap_numcodec(numcodecs_obj)


# make sure numcodecs' registry is populated (blosc, zstd, lz4, ...)
_ = numcodecs.registry.codec_registry
