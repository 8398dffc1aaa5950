"""One writer per run folder: an advisory ``fcntl`` lock on ``<run>/run.lock``.

The training process holds an exclusive ``flock`` on the lock file for the whole run and writes
its PID into it. A second process that tries to train into (or resume) the same folder fails at
once, naming the holder. The kernel releases the lock when its holder dies, so the lock file of a
dead process is simply taken over. Anyone can ask whether a run is alive with :func:`holder`.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path
from types import TracebackType

LOCK_FILE = "run.lock"
ACQUIRE_RETRY_S = 0.5  # a probe (holder()) holds a shared lock for microseconds: retry briefly


class RunLockedError(Exception):
    """The run folder is being written by another live process."""

    def __init__(self, run_dir: Path, pid: int | None) -> None:
        who = f"process {pid}" if pid is not None else "another process"
        super().__init__(f"{run_dir} is in use by {who} (lock {Path(run_dir) / LOCK_FILE}); "
                         "wait for it to end or stop it first")
        self.pid = pid


def _read_pid(path: Path) -> int | None:
    try:
        return int(json.loads(path.read_text())["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


class RunLock:
    """Exclusive lock of a run folder, held from :meth:`acquire` to :meth:`release`."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_FILE
        self._fd: int | None = None
        self.previous_pid: int | None = None
        """PID written by a former holder whose lock was taken over (None for a fresh file)."""

    def acquire(self) -> RunLock:
        """Take the lock or raise :class:`RunLockedError` naming the holder's PID."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        deadline = time.monotonic() + ACQUIRE_RETRY_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise RunLockedError(self.run_dir, _read_pid(self.path)) from None
                time.sleep(0.02)
        self.previous_pid = _read_pid(self.path)
        info = json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                           "since": time.time()}).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, info, 0)
        self._fd = fd
        return self

    def release(self) -> None:
        """Give the lock up (the file stays; its content names the last holder)."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire() if self._fd is None else self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


def holder(run_dir: Path) -> int | None:
    """PID of the live process holding ``run_dir``'s lock, None when nobody holds it."""
    path = Path(run_dir) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_pid(path)
            return pid if pid is not None else -1
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
