"""Small files written atomically (temporary file + rename); light: no SB3 or torch import.

Run folders, groups, the control channel and tuning reports write their JSON and text through
these, so reading or writing them never loads a learning library.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_text_atomic(path: Path, text: str) -> None:
    """Write a text file atomically (temporary file + rename)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:  # e.g. a second Ctrl+C: no temporary file left behind
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (temporary file + rename)."""
    write_text_atomic(path, json.dumps(data, indent=2, default=float))
