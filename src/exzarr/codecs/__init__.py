"""Codecs: the v3 codec kinds, the built-in codecs, numcodecs interop and the registry.

>>> from exzarr.codecs import codec_from_json
>>> codec_from_json({"name": "zstd", "configuration": {"level": 1}})
ZstdCodec({'level': 1, 'checksum': False})
"""

from __future__ import annotations

from .base import ArrayArrayCodec, ArrayBytesCodec, BytesBytesCodec, ChunkSpec, Codec
from .bytes import BytesCodec, V2ArrayBytesCodec, VlenBytesCodec, VlenUtf8Codec
from .compressors import BloscCodec, Crc32cCodec, GzipCodec, ZstdCodec
from .pipeline import CodecPipeline
from .registry import codec_from_json, compressor_v2, compressor_v3, filter_v2, register_codec
from .sharding import ShardingCodec
from .transpose import TransposeCodec

__all__ = [
    "ArrayArrayCodec",
    "ArrayBytesCodec",
    "BloscCodec",
    "BytesBytesCodec",
    "BytesCodec",
    "ChunkSpec",
    "Codec",
    "CodecPipeline",
    "Crc32cCodec",
    "GzipCodec",
    "ShardingCodec",
    "TransposeCodec",
    "V2ArrayBytesCodec",
    "VlenBytesCodec",
    "VlenUtf8Codec",
    "ZstdCodec",
    "codec_from_json",
    "compressor_v2",
    "compressor_v3",
    "filter_v2",
    "register_codec",
]
