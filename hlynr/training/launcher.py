"""A group's seeds as training processes on this machine, a few at a time.

Each seed trains in its own ``python -m hlynr train`` process (:meth:`Unit.command
<hlynr.training.groups.Unit.command>`), so each is exactly an ordinary run, with its console
output in the group's ``logs/seed_<s>.log``. :class:`Launcher` keeps up to ``jobs`` of them
running, from ``jobs`` slot threads, and reports each as it ends (:class:`UnitResult`).

Signals. Every child starts in a process group of its own, so the terminal's Ctrl+C reaches
the launcher alone (were the children in the launcher's group, each would get the terminal's
SIGINT and the forwarded one: two Ctrl+C, which abort a run without its checkpoint). The
launcher forwards each SIGINT or SIGTERM it gets to every child's process group exactly once,
and to a child started while it handled one; it starts no new seed after the first. A run treats
the first as a request to save a checkpoint and stop, a second Ctrl+C aborts it at once (as a
single run would).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from hlynr.runs.folder import SUMMARY_FILE
from hlynr.runs.group import SeedState, seed_status
from hlynr.training.groups import Unit, child_environment

FORWARDED = (signal.SIGINT, signal.SIGTERM)
OK_STATUSES = ("completed", "stopped")
NOT_STARTED = "not started"


@dataclass(frozen=True)
class UnitResult:
    """How one seed's training process ended."""

    unit: Unit
    status: str
    """``completed``, ``stopped``, ``interrupted``, ``failed`` or ``not started``."""
    reason: str
    returncode: int | None = None
    summary: dict[str, Any] | None = None
    """The run's ``summary.json`` when its session ended (timesteps, wall time, evaluations)."""

    @property
    def ok(self) -> bool:
        return self.status in OK_STATUSES

    @property
    def wall_time(self) -> float:
        return float((self.summary or {}).get("wall_time") or 0.0)


def finished_result(unit: Unit) -> UnitResult:
    """Where the seed's run stands, from its folder, as a result (``running`` while a process
    trains it, ``interrupted`` when it can be continued, ``not started`` without a folder)."""
    status = seed_status(unit.run_dir)
    end = status.end or {}
    reason = str(end.get("reason", ""))
    if status.state in (SeedState.DONE, SeedState.FAILED):
        return UnitResult(unit, str(end.get("status")), reason, summary=_summary(unit))
    if status.state is SeedState.MISSING:
        return UnitResult(unit, NOT_STARTED, "no run folder")
    if status.state is SeedState.RUNNING:
        return UnitResult(unit, "running", f"trained by process {status.pid}")
    return UnitResult(unit, "interrupted", reason or "ended without an end record",
                      summary=_summary(unit))


def _summary(unit: Unit) -> dict[str, Any] | None:
    try:
        data = json.loads((unit.run_dir / SUMMARY_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _error_line(unit: Unit) -> str:
    """The last ``error:`` line of the seed's log (else its last line): why a process failed."""
    try:
        with unit.log.open("rb") as fh:
            fh.seek(max(0, fh.seek(0, 2) - 16384))
            lines = [ln.strip() for ln in fh.read().decode("utf-8", "replace").splitlines()]
    except OSError:
        return ""
    lines = [ln for ln in lines if ln]
    errors = [ln for ln in lines if ln.startswith("error:")]
    return (errors or lines or [""])[-1]


def read_result(unit: Unit, returncode: int) -> UnitResult:
    """How ``unit``'s process ended, from its exit code (docs/runs.md), its run folder's last
    ``end`` record and its log."""
    end = seed_status(unit.run_dir).end or {}
    status, reason = str(end.get("status", "")), str(end.get("reason", ""))
    if returncode == 0 and status in OK_STATUSES:
        return UnitResult(unit, status, reason, returncode, _summary(unit))
    if returncode == 130:
        reason = reason if status == "interrupted" else "interrupted before training began"
        return UnitResult(unit, "interrupted", reason, returncode, _summary(unit))
    if returncode == 1 and status == "failed":
        return UnitResult(unit, "failed", reason, returncode, _summary(unit))
    if returncode < 0:
        why = f"killed by {signal.Signals(-returncode).name}"
    else:
        why = f"exit code {returncode}: {_error_line(unit) or 'no output'}"
    return UnitResult(unit, "failed", f"{why} (log: {unit.log})", returncode)


class Launcher:
    """Runs units as child training processes, up to ``jobs`` at a time; ``on_done`` hears of
    each as it ends (called from a slot thread, one call at a time)."""

    def __init__(self, jobs: int, on_done: Callable[[UnitResult], None] | None = None) -> None:
        if jobs < 1:
            raise ValueError(f"jobs must be at least 1, got {jobs}")
        self.jobs = jobs
        self.on_done = on_done
        self.signals: list[int] = []
        """The signals received so far (each forwarded to every child once)."""
        self._lock = threading.RLock()  # reentrant: the signal handler runs in the main thread
        self._report_lock = threading.Lock()
        self._live: dict[int, subprocess.Popen[bytes]] = {}
        self._sent: dict[int, int] = {}
        self._woken = threading.Event()

    @property
    def stopping(self) -> bool:
        """Whether a signal asked the launcher to stop (no new seed starts)."""
        return bool(self.signals)

    def wait(self, seconds: float) -> None:
        """Sleep ``seconds``, or until a signal arrives."""
        self._woken.wait(seconds)

    def report(self, result: UnitResult) -> UnitResult:
        """Hand ``result`` to ``on_done`` (one at a time); returns it."""
        if self.on_done is not None:
            with self._report_lock:
                self.on_done(result)
        return result

    def run(self, units: Iterable[Unit]) -> list[UnitResult]:
        """Run every unit (``jobs`` at a time); after a signal, the rest are ``not started``."""
        pending = deque(units)
        results: list[UnitResult] = []

        def work() -> bool:
            try:
                unit = pending.popleft()
            except IndexError:
                return False
            results.append(self.run_unit(unit))
            return True

        self.serve(work)
        return results

    def serve(self, work: Callable[[], bool]) -> None:
        """Call ``work()`` again and again from each of ``jobs`` threads until it returns False
        there; signals are forwarded meanwhile. An exception in a slot is raised here."""
        errors: list[BaseException] = []

        def slot() -> None:
            try:
                while work():
                    pass
            except BaseException as exc:  # shown by the main thread
                errors.append(exc)

        threads = [threading.Thread(target=slot, name=f"hlynr-slot-{i}", daemon=True)
                   for i in range(self.jobs)]
        with self._forwarding():
            for t in threads:
                t.start()
            while any(t.is_alive() for t in threads):
                for t in threads:
                    t.join(0.2)
        if errors:
            raise errors[0]

    def run_unit(self, unit: Unit) -> UnitResult:
        """Train ``unit`` in a child process and wait for it (``not started`` after a signal)."""
        if self.stopping:
            return self.report(UnitResult(unit, NOT_STARTED, "interrupted before it started"))
        unit.prepare()
        command = unit.command()
        with unit.log.open("ab") as log:
            log.write(f"$ {' '.join(command)}\n".encode())
            log.flush()
            with self._lock:
                proc = None if self.stopping else subprocess.Popen(
                    command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    env=child_environment(), process_group=0)
                if proc is not None:
                    self._live[proc.pid] = proc
                    self._forward(proc)
        if proc is None:
            return self.report(UnitResult(unit, NOT_STARTED, "interrupted before it started"))
        returncode = proc.wait()
        with self._lock:
            self._live.pop(proc.pid, None)
            self._sent.pop(proc.pid, None)
        return self.report(read_result(unit, returncode))

    def _forward(self, proc: subprocess.Popen[bytes]) -> None:
        """Send ``proc``'s process group the signals it has not had yet (under the lock)."""
        while self._sent.get(proc.pid, 0) < len(self.signals):
            k = self._sent.get(proc.pid, 0)
            self._sent[proc.pid] = k + 1
            try:
                os.killpg(proc.pid, self.signals[k])
            except ProcessLookupError:  # it has just ended
                pass

    def _on_signal(self, signum: int, frame: Any) -> None:
        self.signals.append(signum)
        self._woken.set()
        with self._lock:
            for proc in list(self._live.values()):
                self._forward(proc)

    @contextmanager
    def _forwarding(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield  # signals reach the main thread only: its owner forwards them
            return
        old = {s: signal.signal(s, self._on_signal) for s in FORWARDED}
        try:
            yield
        finally:
            for s, handler in old.items():
                signal.signal(s, handler)
