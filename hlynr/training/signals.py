"""Ctrl+C and SIGTERM during a run: a flag the training loop polls instead of an exception."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class StopFlag:
    """Set by SIGINT/SIGTERM; a second Ctrl+C aborts at once."""

    def __init__(self) -> None:
        self.signal: int | None = None

    def __call__(self) -> bool:
        return self.signal is not None

    @contextmanager
    def installed(self) -> Iterator[None]:
        def handler(signum: int, frame: Any) -> None:
            if self.signal is not None and signum == signal.SIGINT:
                raise KeyboardInterrupt
            self.signal = signum

        try:
            old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
        except ValueError:  # not in the main thread (e.g. parallel tuning trials)
            yield
            return
        try:
            yield
        finally:
            for s, h in old.items():
                signal.signal(s, h)
