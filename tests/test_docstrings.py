"""Every public member carries a docstring with a runnable example (issue 10).

The public API is what ``exzarr.__all__`` names (its functions and classes) plus the record
classes public members return. For each class, every public method and property (and
``Array.__getitem__``/``__setitem__``) must have a docstring with a ``>>>`` example; the
examples themselves run as doctests (``--doctest-modules``). An inherited member is checked
once, on the class that defines it; an override without a docstring of its own is documented
by the base's (what ``help()`` shows).
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

import pytest

import exzarr
import exzarr.info
from exzarr.engine.streaming import ChunkRecord, WriteSummary

VERIFY = importlib.import_module("exzarr.verify")  # the module: ``exzarr.verify`` is the function

#: record classes that public members return (not in ``exzarr.__all__`` themselves)
RECORD_CLASSES: list[type] = [
    exzarr.info.ArrayInfo,
    exzarr.info.GroupInfo,
    VERIFY.VerifyReport,
    VERIFY.Damage,
    ChunkRecord,
    WriteSummary,
]

#: dunders that are public API on a class (NumPy-style indexing)
PUBLIC_DUNDERS: dict[type, set[str]] = {exzarr.Array: {"__getitem__", "__setitem__"}}

#: ``(class, member) -> reason`` for members whose example lives on the class docstring
#: instead. Kept empty on purpose: even the abstract :class:`~exzarr.Store` verbs have examples
#: (run on a MemoryStore). Add an entry only with the reason why no example can run.
EXAMPLE_ON_CLASS: dict[tuple[type, str], str] = {}


def _public_classes() -> list[type]:
    classes = [obj for name in exzarr.__all__ if inspect.isclass(obj := getattr(exzarr, name))]
    return classes + [c for c in RECORD_CLASSES if c not in classes]


def _public_functions() -> list[tuple[str, Any]]:
    return [(name, obj) for name in exzarr.__all__ if inspect.isfunction(obj := getattr(exzarr, name))]


def _is_member(value: Any) -> bool:
    """Methods and properties, not plain class attributes (flags such as ``io_bound``)."""
    return inspect.isfunction(value) or isinstance(value, (property, classmethod, staticmethod))


def _doc(value: Any) -> str | None:
    if isinstance(value, (classmethod, staticmethod)):
        value = value.__func__
    return value.__doc__


def _documented_by(cls: type, name: str) -> str | None:
    """The docstring ``help()`` shows for ``cls.name``: the defining class's, or (for an override
    without one) the nearest base's."""
    for base in cls.__mro__:
        value = vars(base).get(name)
        if value is not None and _is_member(value) and _doc(value):
            return _doc(value)
    return None


def _members() -> list[tuple[type, str]]:
    """``(defining class, name)`` of every public method and property, each once."""
    seen: set[tuple[type, str]] = set()
    for cls in _public_classes():
        for name in dir(cls):
            if name.startswith("_") and name not in PUBLIC_DUNDERS.get(cls, ()):
                continue
            owner = next((b for b in cls.__mro__ if name in vars(b)), None)
            if owner is None or owner is object or not _is_member(vars(owner)[name]):
                continue
            seen.add((owner, name))
    return sorted(seen, key=lambda m: (m[0].__module__, m[0].__qualname__, m[1]))


MEMBERS = _members()


def _label(member: tuple[type, str]) -> str:
    cls, name = member
    return f"{cls.__module__}.{cls.__qualname__}.{name}"


def test_the_api_is_enumerated() -> None:
    names = {_label(m) for m in MEMBERS}
    assert len(MEMBERS) > 150, len(MEMBERS)
    for expected in (
        "exzarr.array.Array.__getitem__",
        "exzarr.array.Array.shape",
        "exzarr.array.Array.chunk_stream",
        "exzarr.group.Group.create_array",
        "exzarr.storage.base.Store.get",
        "exzarr.info.ArrayInfo.to_dict",
        "exzarr.verify.VerifyReport.summary",
    ):
        assert expected in names
    assert {n for n, _ in _public_functions()} >= {"open", "create_array", "open_group", "verify", "batches"}


@pytest.mark.parametrize("name,fn", _public_functions(), ids=[n for n, _ in _public_functions()])
def test_public_function_has_an_example(name: str, fn: Any) -> None:
    assert ">>>" in (fn.__doc__ or ""), f"exzarr.{name} has no docstring example"


@pytest.mark.parametrize("cls", _public_classes(), ids=lambda c: c.__qualname__)
def test_public_class_has_an_example(cls: type) -> None:
    assert ">>>" in (cls.__doc__ or ""), f"{cls.__module__}.{cls.__qualname__} has no docstring example"


@pytest.mark.parametrize("member", MEMBERS, ids=_label)
def test_public_member_has_an_example(member: tuple[type, str]) -> None:
    cls, name = member
    if member in EXAMPLE_ON_CLASS:
        assert ">>>" in (cls.__doc__ or "") and name in (cls.__doc__ or ""), EXAMPLE_ON_CLASS[member]
        return
    doc = _documented_by(cls, name)
    assert doc, f"{_label(member)} has no docstring"
    assert ">>>" in doc, f"{_label(member)} has a docstring but no example"
