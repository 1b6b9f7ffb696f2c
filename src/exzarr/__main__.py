"""``python -m exzarr``: the ``exzarr`` command (see :mod:`exzarr.cli`)."""

from __future__ import annotations

from .cli import main

if __name__ == "__main__":
    main()
