"""Suite-wide: every read output starts as a marker pattern, not uninitialised memory, so a fast
path that allocates an output and leaves part of it unwritten fails loudly instead of returning
whatever the allocator happened to hand back (which is how 0-d reads "worked" in one process).
The tests folder is importable (helpers such as ``isolate``)."""

from __future__ import annotations

import sys
from pathlib import Path

from exzarr.engine.core import poison_outputs

sys.path.insert(0, str(Path(__file__).parent))
poison_outputs(True)
