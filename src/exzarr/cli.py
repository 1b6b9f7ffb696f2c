"""The ``exzarr`` command (also ``python -m exzarr``): inspect, copy, consolidate and verify Zarr data.

Built on click; progress bars are tqdm's (on stderr). Exit codes: 0 success, 1 an error or (for
``verify``) damaged data, 2 a usage error. Errors print one line, ``exzarr: error: ...``, on stderr
(set ``EXZARR_DEBUG=1`` for the traceback).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from functools import wraps
from typing import Any, TypeVar

import click

from . import __version__
from .api import consolidate_metadata, create, open
from .array import Array
from .convert import copy as copy_node
from .errors import NodeExistsError
from .group import Group
from .verify import verify as verify_node

__all__ = ["cli", "main", "parse_storage_options"]

F = TypeVar("F", bound=Callable[..., Any])
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class CLIError(click.ClickException):
    """A failure reported as one ``exzarr: error: ...`` line on stderr, exit code 1."""

    exit_code = 1

    def show(self, file: Any = None) -> None:
        click.echo(f"exzarr: error: {self.format_message()}", err=True)


def _errors(fn: F) -> F:
    """Turn any exception of a command into a one-line :class:`CLIError` (no traceback)."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            if os.environ.get("EXZARR_DEBUG"):
                raise
            text = str(exc) or type(exc).__name__
            if isinstance(exc, KeyError):
                text = f"not found: {exc.args[0]!r}" if exc.args else "not found"
            raise CLIError(text) from exc

    return wrapper  # type: ignore[return-value]


# ----------------------------------------------------------------------------- option parsing


def parse_storage_options(items: Sequence[str]) -> dict[str, Any]:
    """``key=value`` strings as a ``storage_options`` dict; values that parse as JSON are
    decoded (``anon=true`` -> ``True``, ``max=3`` -> ``3``), others stay strings.

    >>> parse_storage_options(["anon=true", "endpoint_url=http://localhost:9000", "retries=3"])
    {'anon': True, 'endpoint_url': 'http://localhost:9000', 'retries': 3}
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{item!r} is not key=value", param_hint="'--storage-option'")
        try:
            out[key.strip()] = json.loads(value)
        except ValueError:
            out[key.strip()] = value
    return out


def _storage_cb(ctx: click.Context, param: click.Parameter, value: Sequence[str]) -> dict[str, Any] | None:
    return parse_storage_options(value) or None


def _shape_cb(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    """``100,100`` -> ``(100, 100)``; ``none`` -> ``None`` (for ``--shards``: unshard)."""
    if value is None:
        return None
    if value.strip().lower() == "none":
        if param.name == "shards":
            return "none"
        raise click.BadParameter("expected comma-separated positive integers, e.g. 100,100")
    try:
        shape = tuple(int(p) for p in value.split(","))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not comma-separated integers, e.g. 100,100") from None
    if not shape or any(s < 1 for s in shape):
        raise click.BadParameter(f"{value!r}: every size must be a positive integer")
    return shape


def _shapes_cb(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> Any:
    """``--chunks 100,100`` for every array, or ``--chunks a/x=100,100`` (repeatable) per array."""
    if not values:
        return None
    per: dict[str, Any] = {}
    every: Any = None
    for value in values:
        path, sep, shape = value.rpartition("=")
        parsed = _shape_cb(ctx, param, shape)
        if sep:
            if not path.strip("/"):
                raise click.BadParameter(f"{value!r}: give the array's path before '=', e.g. climate/t=100,100")
            per[path.strip("/")] = None if parsed == "none" else parsed
        elif every is not None:
            raise click.BadParameter("give one shape for every array, or PATH=SHAPE per array")
        else:
            every = parsed
    if per and every is not None:
        raise click.BadParameter("give one shape for every array, or PATH=SHAPE per array, not both")
    return per or every


def _compressor_cb(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    """A compressor name (``zstd``, ``blosc``, ``none``...) or a numcodecs JSON object, checked now
    (so a bad one fails before anything is written)."""
    if value is None:
        return None
    text = value.strip()
    compressor: Any = None if text.lower() == "none" else text
    if text.startswith("{"):
        try:
            compressor = json.loads(text)
        except ValueError as exc:
            raise click.BadParameter(f"{value!r} is not valid JSON: {exc}") from None
    try:
        create(shape=(1,), chunks=(1,), dtype="u1", compressor=compressor)  # an in-memory probe
    except Exception as exc:
        raise click.BadParameter(str(exc)) from None
    return "none" if compressor is None else compressor


def _progress_default(value: bool | None) -> bool:
    return sys.stderr.isatty() if value is None else value


storage_option = click.option(
    "-o",
    "--storage-option",
    "storage_options",
    multiple=True,
    metavar="KEY=VALUE",
    callback=_storage_cb,
    help="A storage option for URLs (repeatable); JSON values are decoded: anon=true, endpoint_url=http://...",
)
progress_option = click.option(
    "--progress/--no-progress", default=None, help="Show a progress bar on stderr (default: when stderr is a terminal)."
)


def _open(path: str, storage_options: dict[str, Any] | None, **kw: Any) -> Array | Group:
    return open(path, mode="r", storage_options=storage_options, **kw)


def _echo_json(obj: Any) -> None:
    click.echo(json.dumps(obj, indent=2))


# ----------------------------------------------------------------------------- commands


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, "-V", "--version", prog_name="exzarr", message="%(prog)s %(version)s")
def cli() -> None:
    """Inspect, copy, consolidate and verify Zarr v2/v3 arrays and groups.

    PATH is a local directory, a .zip file or a URL (file://, s3://, gs://, az://, http(s)://,
    memory://); give URL credentials and endpoints with -o KEY=VALUE.

    \b
    Examples:
      exzarr info data/a.zarr
      exzarr tree data/root.zarr --depth 2
      exzarr copy data/v2.zarr data/v3.zarr --zarr-format 3 --chunks 100,100
      exzarr verify s3://bucket/root.zarr -o endpoint_url=http://localhost:9000 -o anon=true
    """


@cli.command(context_settings=CONTEXT)
@click.argument("path")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (and nothing else).")
@storage_option
@_errors
def info(path: str, as_json: bool, storage_options: dict[str, Any] | None) -> None:
    """Shape, chunks, shards, dtype, codecs, fill value, format, stored bytes and ratio, chunks
    initialized of an array; format, members and attributes of a group.

    \b
    Examples:
      exzarr info data/a.zarr
      exzarr info data/a.zarr --json
      exzarr info s3://bucket/a.zarr -o anon=true
    """
    node = _open(path, storage_options)
    report = node.info
    if as_json:
        _echo_json(report.to_dict())
    else:
        click.echo(str(report))


@cli.command(context_settings=CONTEXT)
@click.argument("path")
@click.option("--depth", type=click.IntRange(min=0), default=None, help="Show at most this many levels.")
@storage_option
@_errors
def tree(path: str, depth: int | None, storage_options: dict[str, Any] | None) -> None:
    """The hierarchy below a group, arrays with shape and dtype.

    \b
    Examples:
      exzarr tree data/root.zarr
      exzarr tree data/root.zarr --depth 1
    """
    node = _open(path, storage_options)
    if isinstance(node, Array):
        click.echo(f"{node.name} {node.shape} {node.metadata.dtype} (an array)")
    else:
        click.echo(node.tree(max_depth=depth))


@cli.command(context_settings=CONTEXT)
@click.argument("path")
@storage_option
@_errors
def ls(path: str, storage_options: dict[str, Any] | None) -> None:
    """The members of a group, one per line: kind, name, shape and dtype.

    \b
    Examples:
      exzarr ls data/root.zarr
      exzarr ls data/root.zarr/climate
    """
    node = _open(path, storage_options)
    if isinstance(node, Array):
        click.echo(f"{node.name} is an array: {node.shape} {node.metadata.dtype}")
        return
    members = node.members()
    width = max((len(name) for name, _ in members), default=0)
    for name, child in members:
        if isinstance(child, Array):
            click.echo(f"array  {name:<{width}}  {child.shape} {child.metadata.dtype}")
        else:
            click.echo(f"group  {name}")


@cli.command(context_settings=CONTEXT)
@click.argument("src")
@click.argument("dst")
@click.option("--zarr-format", type=click.Choice(["2", "3"]), default=None, help="Convert to this Zarr format.")
@click.option(
    "--chunks",
    multiple=True,
    callback=_shapes_cb,
    metavar="[PATH=]N,N,...",
    help="New (inner) chunk shape, e.g. 100,100; PATH=100,100 (repeatable) rechunks only that array of a group.",
)
@click.option(
    "--shards",
    multiple=True,
    callback=_shapes_cb,
    metavar="[PATH=]N,N,...|none",
    help="New shard shape (v3); 'none' unshards; PATH=... per array of a group.",
)
@click.option(
    "--compressor",
    callback=_compressor_cb,
    metavar="NAME|none|JSON",
    help="Re-encode with zstd, gzip, zlib, blosc, lz4, bz2, lzma, none, or a numcodecs JSON object.",
)
@click.option("--overwrite", is_flag=True, help="Replace what is at DST (default: refuse).")
@storage_option
@click.option(
    "--dst-storage-option",
    "dst_storage_options",
    multiple=True,
    metavar="KEY=VALUE",
    callback=_storage_cb,
    help="Storage options for DST (default: those of SRC when both are URLs of the same scheme).",
)
@progress_option
@_errors
def copy(
    src: str,
    dst: str,
    zarr_format: str | None,
    chunks: Any,
    shards: Any,
    compressor: Any,
    overwrite: bool,
    storage_options: dict[str, Any] | None,
    dst_storage_options: dict[str, Any] | None,
    progress: bool | None,
) -> None:
    """Copy an array or group tree, converting the format, rechunking or re-encoding on the way.

    Stored chunks that need no change are copied byte for byte; the others are decoded and
    re-encoded in parallel, one target chunk (or shard) at a time.

    \b
    Examples:
      exzarr copy data/a.zarr data/b.zarr
      exzarr copy data/v2.zarr data/v3.zarr --zarr-format 3 --chunks 100,100 --shards 500,500
      exzarr copy data/root.zarr data/re.zarr --chunks climate/t=30,90,90 --chunks climate/p=64,64
      exzarr copy data/a.zarr s3://bucket/a.zarr --compressor none --dst-storage-option anon=false
    """
    node = _open(src, storage_options)
    if dst_storage_options is None and storage_options and _scheme(src) == _scheme(dst) != "":
        dst_storage_options = storage_options
    kw: dict[str, Any] = {}
    if zarr_format is not None:
        kw["zarr_format"] = int(zarr_format)
    if chunks is not None:
        kw["chunks"] = chunks
    if shards is not None:
        kw["shards"] = None if shards == "none" else shards
    if compressor is not None:
        kw["compressor"] = None if compressor == "none" else compressor
    try:
        out = copy_node(
            node,
            dst,
            mode="w" if overwrite else "w-",
            storage_options=dst_storage_options,
            progress=_progress_default(progress),
            **kw,
        )
    except NodeExistsError as exc:
        raise CLIError(f"{str(exc).split(' (use mode=')[0]}: give --overwrite to replace it") from exc
    except ValueError as exc:
        text = str(exc)
        if "as a dict {array path:" in text:  # the library's hint, as the command line spells it
            raise CLIError(text.split("; pass ")[0] + "; give --chunks/--shards PATH=N,N,... for each array") from exc
        if not (text.startswith("copy: the destination ") and ("overlap" in text or "outside the source" in text)):
            raise
        # the library names the nodes by location and store: name the SRC and DST that were typed
        raise CLIError(
            f"copy: the destination {dst!r} overlaps the source {src!r} (the same location, or one inside the other):"
            " copy to a location outside the source"
        ) from exc
    what = "array" if isinstance(out, Array) else "group"
    click.echo(f"copied {what} {src} to {dst} (zarr v{out.zarr_format})")


def _scheme(url: str) -> str:
    head, sep, _ = url.partition("://")
    return head if sep else ""


@cli.command(context_settings=CONTEXT)
@click.argument("path")
@storage_option
@_errors
def consolidate(path: str, storage_options: dict[str, Any] | None) -> None:
    """Gather the metadata of every node below a group into one document (.zmetadata for v2,
    consolidated_metadata in zarr.json for v3), as zarr-python does.

    \b
    Examples:
      exzarr consolidate data/root.zarr
    """
    g = consolidate_metadata(path, storage_options=storage_options)
    click.echo(f"consolidated the metadata of {g.name} in {path} (zarr v{g.zarr_format})")


@cli.command(context_settings=CONTEXT)
@click.argument("path")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (and nothing else).")
@click.option("-j", "--max-concurrency", type=click.IntRange(min=1), default=None, help="Reads in flight (default: auto).")
@storage_option
@progress_option
@_errors
def verify(
    path: str, as_json: bool, max_concurrency: int | None, storage_options: dict[str, Any] | None, progress: bool | None
) -> None:
    """Read and check every stored chunk and shard index, in parallel, for every array below PATH.

    Each damaged key is printed with the reason (for sharded arrays the shard key and the inner
    chunk), and the exit code is 1; a clean tree prints a one-line summary and exits 0. Missing
    chunks are fine: they read as the fill value. Stored data no read can reach is printed as a
    warning (the exit code stays 0): keys outside an array's chunk grid (left behind when it
    shrank) or that are no chunk key of it, and a group's child holding keys without metadata
    (orphaned data: an array or group whose zarr.json, .zarray or .zgroup was deleted).

    \b
    Examples:
      exzarr verify data/root.zarr
      exzarr verify s3://bucket/root.zarr -o anon=true -j 64 --json
    """
    node = _open(path, storage_options, use_consolidated=False)
    report = verify_node(node, max_concurrency=max_concurrency, progress=_progress_default(progress) and not as_json)
    if as_json:
        _echo_json(report.to_dict())
    else:
        for w in report.warnings:
            click.echo(f"warning: {w}")
        for d in report.damaged:
            click.echo(f"damaged: {d}")
        click.echo(report.summary())
    if not report.ok:
        sys.exit(1)


@cli.command(context_settings=CONTEXT)
@click.option("--quick", is_flag=True, help="Small sizes: the same steps in a few seconds.")
@click.option("--cloud/--no-cloud", default=True, help="Run the S3 emulator scenario when moto and the helpers are there.")
@_errors
def bench(quick: bool, cloud: bool) -> None:
    """The seed's parallel I/O benchmark (what `make demo` prints): sequential vs parallel reads
    and writes on a local store, a concurrency sweep, a store with 100 ms per request, and the
    seed's cloud scenario on an S3 emulator (skipped, with the reason, when moto or the source
    checkout's tests/cloud helpers are missing).

    \b
    Examples:
      exzarr bench
      exzarr bench --quick --no-cloud
    """
    from .demo import run

    run(quick=quick, cloud=cloud)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the ``exzarr`` command with ``argv`` (default: ``sys.argv[1:]``); exits the process.

    >>> main(["--version"])
    Traceback (most recent call last):
    SystemExit: 0
    """
    cli.main(args=list(argv) if argv is not None else None, prog_name="exzarr")
