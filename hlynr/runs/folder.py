"""A run folder held by one training process: created or opened, locked, and always ended.

:class:`RunFolder` owns what a run writes about itself: ``config.yaml``, ``versions.json``,
``progress.jsonl`` (its :attr:`~RunFolder.log`), the lock ``run.lock`` (:mod:`hlynr.runs.lock`)
and ``summary.json``. A session (a new run, or one resume of it) goes::

    folder = RunFolder.create(path)           # or RunFolder.open(path) to resume; locked
    with folder.held(position):                # released, whatever happens inside
        folder.write_config(...); folder.write_versions(...)
        folder.begin("start", timesteps=0, total_timesteps=N)
        ...                                    # training
        folder.end(status, reason, timesteps, wall_time)   # end event + summary.json

Once :meth:`~RunFolder.begin` has run, the session always ends with an ``end`` event in
``progress.jsonl`` and a ``summary.json``: if anything (an exception, a second Ctrl+C) leaves
:meth:`~RunFolder.held` before :meth:`~RunFolder.end` ran, the folder ends the run itself, as
``failed`` (``crashed: <error>``) or ``interrupted`` (a ``KeyboardInterrupt``), at the timestep
and wall time ``position()`` reports.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from hlynr.registries import RunStatus
from hlynr.runs.artifacts import META_FILE, read_meta
from hlynr.runs.files import write_json, write_text_atomic
from hlynr.runs.lock import RunLock
from hlynr.runs.progress_log import ProgressLog

CONFIG_FILE = "config.yaml"
VERSIONS_FILE = "versions.json"
PROGRESS_FILE = "progress.jsonl"
SUMMARY_FILE = "summary.json"
BEST_DIR = "best"


def new_run_path(parent: Path, prefix: str = "") -> Path:
    """``<parent>/<prefix><timestamp>/``, with a suffix ``-2``, ``-3``, ... when that exists."""
    stamp = prefix + dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    candidate, k = Path(parent) / stamp, 1
    while candidate.exists():
        k += 1
        candidate = Path(parent) / f"{stamp}-{k}"
    return candidate


def aborted_ending(error: BaseException) -> tuple[RunStatus, str]:
    """How a session ends when ``error`` escapes it: ``interrupted`` for a ``KeyboardInterrupt``
    (a second Ctrl+C aborts at once), else ``failed`` with ``crashed: <type>: <message>``."""
    if isinstance(error, KeyboardInterrupt):
        return RunStatus.INTERRUPTED, "aborted (KeyboardInterrupt): no checkpoint saved at the end"
    text = str(error)
    return RunStatus.FAILED, f"crashed: {type(error).__name__}" + (f": {text}" if text else "")


class RunFolder:
    """One run folder, locked by this process from :meth:`create`/:meth:`open` to :meth:`release`."""

    def __init__(self, path: Path, lock: RunLock) -> None:
        self.path = Path(path)
        self.lock = lock
        self.log = ProgressLog(self.path / PROGRESS_FILE)
        self.total_timesteps: int | None = None
        self.began = False
        self.summary: dict[str, Any] | None = None
        """What :meth:`end` wrote to ``summary.json`` in this session (None before)."""

    @classmethod
    def create(cls, path: Path) -> RunFolder:
        """Make the new folder ``path`` and lock it (``FileExistsError`` if it exists,
        :class:`~hlynr.runs.lock.RunLockedError` if another process locked it first)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=False)
        folder = cls(path, RunLock(path).acquire())
        folder.began = True  # a new folder: whatever happens in it from now on is the run's
        return folder

    @classmethod
    def open(cls, path: Path) -> RunFolder:
        """Lock the existing run folder ``path`` (``FileNotFoundError`` without a
        ``config.yaml``, :class:`~hlynr.runs.lock.RunLockedError` while another process holds it)."""
        path = Path(path)
        if not (path / CONFIG_FILE).is_file():
            raise FileNotFoundError(f"{path} is not a run folder (no {CONFIG_FILE})")
        return cls(path, RunLock(path).acquire())

    def release(self) -> None:
        """Give the lock up."""
        self.lock.release()

    @contextmanager
    def held(self, position: Callable[[], tuple[int, float]]) -> Iterator[RunFolder]:
        """Release the lock when the block ends; end a begun session that did not end itself.

        ``position() -> (timesteps, wall_time)`` says where the run is, for that ending.
        """
        try:
            yield self
        except BaseException as exc:
            if self.began and self.summary is None:
                status, reason = aborted_ending(exc)
                timesteps, wall_time = position()
                self.end(status, reason, timesteps, wall_time)
            raise
        finally:
            self.release()

    def write_config(self, data: dict[str, Any]) -> None:
        """Write ``config.yaml`` (the fully resolved config, as data)."""
        write_text_atomic(self.path / CONFIG_FILE, yaml.safe_dump(data, sort_keys=False))

    def write_versions(self, versions: dict[str, str]) -> None:
        """Write ``versions.json``."""
        write_json(self.path / VERSIONS_FILE, versions)

    def begin(self, event: str, timesteps: int, total_timesteps: int, **fields: Any) -> None:
        """Log the session's first event (``start`` or ``resume``); from here on the session
        always ends with an ``end`` event and a ``summary.json``."""
        self.total_timesteps = total_timesteps
        self.log.write("event", timesteps=timesteps, event=event, **fields)
        self.began = True

    def best(self) -> dict[str, Any] | None:
        """The record of ``best/`` (None without a best model)."""
        folder = self.path / BEST_DIR
        try:
            return read_meta(folder) if (folder / META_FILE).is_file() else None
        except (OSError, ValueError):  # unreadable: the summary is written all the same
            return None

    def end(self, status: RunStatus, reason: str, timesteps: int, wall_time: float,
            last_evaluation: dict[str, float] | None = None) -> dict[str, Any]:
        """Write ``summary.json`` and log the ``end`` event (so a reader of the event, e.g. a
        tracker, finds the summary); returns the summary."""
        summary = {"status": status.value, "reason": reason, "timesteps": int(timesteps),
                   "total_timesteps": self.total_timesteps, "wall_time": wall_time,
                   "best": self.best(), "last_evaluation": last_evaluation}
        write_json(self.path / SUMMARY_FILE, summary)
        self.summary = summary
        self.log.write("event", timesteps=int(timesteps), event="end", status=status.value,
                       reason=reason, wall_time=wall_time)
        return summary
