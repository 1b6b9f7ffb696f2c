"""The v3 ``transpose`` codec (array->array)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import MetadataError
from .base import ArrayArrayCodec, ChunkSpec, check_options


class TransposeCodec(ArrayArrayCodec):
    """Permute chunk axes: encoded ``shape[i] = decoded_shape[order[i]]``."""

    name = "transpose"

    def __init__(self, order: Any) -> None:
        if isinstance(order, str):
            raise MetadataError("codec 'transpose': order must be an explicit permutation, not 'C'/'F'")
        try:
            self.order = tuple(int(i) for i in order)
        except (TypeError, ValueError):
            raise MetadataError(f"codec 'transpose': invalid order {order!r}") from None
        if sorted(self.order) != list(range(len(self.order))):
            raise MetadataError(f"codec 'transpose': order {list(self.order)} is not a permutation")
        self._inverse = tuple(int(i) for i in np.argsort(self.order))

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> TransposeCodec:
        check_options("transpose", cfg, ("order",))
        if "order" not in cfg:
            raise MetadataError("codec 'transpose': missing 'order'")
        return cls(cfg["order"])

    def configuration(self) -> dict[str, Any]:
        return {"order": list(self.order)}

    def _check(self, spec: ChunkSpec) -> None:
        if len(self.order) != len(spec.shape):
            raise MetadataError(f"codec 'transpose': order {list(self.order)} does not match {len(spec.shape)} dimensions")

    def resolve(self, spec: ChunkSpec) -> ChunkSpec:
        self._check(spec)
        return spec.with_(shape=tuple(spec.shape[i] for i in self.order))

    def encode(self, chunk: np.ndarray, spec: ChunkSpec) -> np.ndarray:
        return chunk.transpose(self.order)

    def decode(self, chunk: np.ndarray, spec: ChunkSpec) -> np.ndarray:
        return chunk.transpose(self._inverse)
