"""``progress.jsonl``: one JSON object per rollout and per evaluation, appended as training runs."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hlynr.runs.files import write_text_atomic


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):
        return _clean(value.item())
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


class ProgressLog:
    """Appends records to ``progress.jsonl``; each line is flushed so a monitor can poll it.

    :attr:`listeners` get every record as it was written (plain JSON data), right after it was
    written: a run's trackers follow it this way (:mod:`hlynr.trackers`). A listener must not
    raise, and must not write to this log.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.listeners: list[Callable[[dict[str, Any]], None]] = []

    def write(self, kind: str, **fields: Any) -> None:
        """Append one record of type ``kind`` (``rollout``, ``eval``, ``event``)."""
        record = _clean({"type": kind, **fields})
        line = json.dumps(record, separators=(",", ":"))
        with self.path.open("a") as fh:
            fh.write(line + "\n")
            fh.flush()
        for listener in self.listeners:
            listener(record)

    def truncate_after(self, timesteps: int) -> None:
        """Drop records beyond ``timesteps`` (used on resume: the log matches the checkpoint)."""
        if not self.path.exists():
            return
        keep = [line for line, rec in _records(self.path) if rec.get("timesteps", 0) <= timesteps]
        write_text_atomic(self.path, "".join(k + "\n" for k in keep))


def _records(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """``(line, record)`` of every complete record; lines cut short by a hard kill, damaged or
    not UTF-8 are skipped."""
    out = []
    for raw in path.read_bytes().splitlines():
        try:
            line = raw.decode("utf-8").strip()
            rec = json.loads(line) if line else None
        except (UnicodeDecodeError, json.JSONDecodeError):
            continue
        if isinstance(rec, dict):
            out.append((line, rec))
    return out


def read_progress(path: Path) -> list[dict[str, Any]]:
    """All complete records of a ``progress.jsonl`` (damaged lines are skipped)."""
    return [rec for _, rec in _records(path)] if path.exists() else []
