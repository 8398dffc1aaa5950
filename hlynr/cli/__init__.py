"""``hlynr`` command: ``hlynr train|evaluate|monitor|tune|serve|replay|plot|scenario|worker [ARGS]``
(same as the top-level scripts where there is one; ``worker`` trains the queued seeds of a shared run
group)."""

from __future__ import annotations

import sys
from collections.abc import Callable

from hlynr.cli.common import run_main


def _commands() -> dict[str, Callable[[list[str] | None], int]]:
    # Here, not above: every script imports this package, and needs only its own command.
    from hlynr.cli import evaluate, monitor, plot, replay, scenario, serve, train, tune, worker

    return {"train": train.main, "evaluate": evaluate.main, "monitor": monitor.main,
            "tune": tune.main, "serve": serve.main, "replay": replay.main, "plot": plot.main,
            "scenario": scenario.main, "worker": worker.main}


def main(argv: list[str] | None = None) -> None:
    """Dispatch ``hlynr COMMAND ARGS`` to the command's entry point."""
    args = sys.argv[1:] if argv is None else argv
    commands = _commands()
    if not args or args[0] in ("-h", "--help") or args[0] not in commands:
        print(f"usage: hlynr {{{','.join(commands)}}} [ARGS]  (hlynr COMMAND --help for details)")
        sys.exit(0 if args and args[0] in ("-h", "--help") else 2)
    sys.exit(run_main(commands[args[0]], args[1:], final=True))
