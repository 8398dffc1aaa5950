"""How a run folder's last session ended, read from its ``summary.json``."""

from __future__ import annotations

import json
from pathlib import Path

from hlynr.runs.folder import SUMMARY_FILE


def ended_status(run_dir: Path) -> tuple[str, str] | None:
    """``(status, reason)`` of the run's ``summary.json``; None before its first ending, or
    when the file is unreadable."""
    try:
        data = json.loads((Path(run_dir) / SUMMARY_FILE).read_text())
        return str(data["status"]), str(data.get("reason", ""))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
