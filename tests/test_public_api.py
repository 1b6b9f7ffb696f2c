"""The public surface: ``__all__`` is complete and every exported name exists."""

import inspect

import exzarr


def test_all_is_complete():
    public = {n for n in dir(exzarr) if not n.startswith("_")}
    modules = {n for n in public if inspect.ismodule(getattr(exzarr, n))} - {"errors", "metadata", "storage"}
    assert public - modules - {"annotations"} <= set(exzarr.__all__) | {"api", "array", "group", "attrs", "chunk_grid", "codecs",
                                                                       "dtypes", "engine", "indexing", "config"}  # fmt: skip
    for name in exzarr.__all__:
        assert hasattr(exzarr, name), name


def test_public_functions_documented():
    for name in exzarr.__all__:
        obj = getattr(exzarr, name)
        if callable(obj):
            assert obj.__doc__ and len(obj.__doc__) > 20, name


def test_typed_package():
    import importlib.resources

    assert importlib.resources.files("exzarr").joinpath("py.typed").is_file()
