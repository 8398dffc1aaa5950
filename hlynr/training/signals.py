"""Ctrl+C and SIGTERM: a run stops between steps, its worker processes leave the signal to it.

* :class:`StopFlag`: while installed, the first SIGINT or SIGTERM sets a flag that training polls
  at every step, so the run stops cleanly and saves a checkpoint. A second Ctrl+C raises
  ``KeyboardInterrupt`` once, abandoning the step, update or evaluation in progress; where the
  caller asked for it (``installed(abandon=True)``: training) that ends the block quietly and the
  caller saves its checkpoint at once, elsewhere (pretraining) it ends the command.
* Worker processes (env copies in other processes) never see SIGINT: a terminal sends Ctrl+C to
  its whole process group, and a worker killed by it would take the run down with a broken pipe
  instead of letting the training process stop, save and close it. The env factory starts them
  so (:func:`hlynr.envs.factory.workers_ignore_sigint`, below this layer).
* :func:`command_line`: a command's own SIGINT handling. The first Ctrl+C outside a run raises
  ``KeyboardInterrupt`` as usual; once the command is stopping (after that, or after a run's stop
  flag was set), a further Ctrl+C prints one line and is otherwise ignored, so that what is being
  written (checkpoint, summary, run lock) is finished and the command ends with its exit code,
  never a traceback from a cleanup handler or from interpreter shutdown.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

ABANDON_NOTE = "interrupted again: abandoning the step in progress; saving the checkpoint, then exiting"
STOPPING_NOTE = "already stopping: finishing what is being written, then exiting"

_stopping = False
"""A stop signal reached this process (a stop flag was set, or a command was interrupted)."""
_noted = False
"""One of the notes above was printed (each stop prints at most one)."""


def _note(text: str) -> None:
    """Print ``text`` on stderr once per stop (from a signal handler: no buffered stream)."""
    global _noted
    if _noted:
        return
    _noted = True
    try:
        os.write(2, f"{text}\n".encode())
    except OSError:
        pass


class StopFlag:
    """Set by SIGINT/SIGTERM while installed; a second Ctrl+C abandons the step in progress."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self.abandoned = False
        """A second Ctrl+C raised ``KeyboardInterrupt`` in the installed block."""

    def __call__(self) -> bool:
        return self.signal is not None

    @contextmanager
    def installed(self, *, abandon: bool = False) -> Iterator[None]:
        """Handle SIGINT and SIGTERM inside the block (main thread only; elsewhere a no-op).

        ``abandon``: the ``KeyboardInterrupt`` of a second Ctrl+C ends the block quietly (the
        caller then saves what it has); otherwise it propagates.
        """

        def handler(signum: int, frame: Any) -> None:
            global _stopping
            _stopping = True
            if self.signal is None:
                self.signal = signum
            elif signum == signal.SIGINT and not self.abandoned:
                self.abandoned = True
                if abandon:
                    _note(ABANDON_NOTE)
                raise KeyboardInterrupt

        try:
            old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
        except ValueError:  # not in the main thread (e.g. parallel tuning trials)
            yield
            return
        try:
            yield
        except KeyboardInterrupt:
            if not (abandon and self.abandoned):
                raise
        finally:
            for s, h in old.items():
                signal.signal(s, h)


@contextmanager
def command_line(*, final: bool = False) -> Iterator[None]:
    """SIGINT handling for a command's ``main()`` (see the module docstring).

    ``final``: the process exits right after the block; once it is stopping, SIGINT stays
    ignored until then (a Ctrl+C during interpreter shutdown would otherwise kill it, or print
    a traceback from an exit handler). Otherwise the previous handler is restored.
    """
    global _stopping, _noted
    _stopping = _noted = False

    def handler(signum: int, frame: Any) -> None:
        global _stopping
        if _stopping:
            _note(STOPPING_NOTE)
            return
        _stopping = True
        raise KeyboardInterrupt

    try:
        old = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not in the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN if final and _stopping else old)
