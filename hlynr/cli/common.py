"""What every command-line entry point shares: one clear error message and an exit code."""

from __future__ import annotations

import sys
from collections.abc import Callable

from rich.console import Console

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

err_console = Console(stderr=True, highlight=False)


def expected_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean bad input, reported as one message (never a traceback)."""
    from gymnasium.error import Error as GymError

    from hlynr.algos.builder import BuildError
    from hlynr.config import ConfigError
    from hlynr.registry import UnknownNameError
    from hlynr.evaluation.scoring import LoadError
    from hlynr.evaluation.targets import TargetError
    from hlynr.training.runner import RunError

    return (ConfigError, RunError, BuildError, UnknownNameError, GymError, FileNotFoundError,
            NotADirectoryError, PermissionError, CliError, TargetError, LoadError)


class CliError(Exception):
    """A command-line usage problem; ``str()`` is the user-facing message."""


def run_main(main: Callable[[list[str] | None], int], argv: list[str] | None = None) -> int:
    """Run ``main``, turning expected errors into ``error: ...`` on stderr and exit code 2."""
    try:
        return main(argv)
    except expected_errors() as exc:
        text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        err_console.print(f"[bold red]error:[/] {text}", markup=True, soft_wrap=True)
        return EXIT_USAGE
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return EXIT_INTERRUPTED


def entry(main: Callable[[list[str] | None], int]) -> None:
    """``sys.exit(run_main(main))`` for scripts."""
    sys.exit(run_main(main))
