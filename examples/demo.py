"""The seed's parallel I/O benchmark, on a local temporary directory store (``make demo``).

The benchmark lives in the package (:mod:`exzarr.demo`, also run by ``exzarr bench``); this
script runs it from the source checkout, where the cloud scenario finds its helpers
(``tests/cloud/servers.py`` and ``tools/faultproxy.py``). ``--quick`` runs small sizes,
``--no-cloud`` skips the S3 emulator scenario.
"""

from __future__ import annotations

import sys
from pathlib import Path

from exzarr.demo import main

if __name__ == "__main__":
    sys.exit(main(repo=Path(__file__).resolve().parents[1]))
