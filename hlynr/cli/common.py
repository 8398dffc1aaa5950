"""What every command-line entry point shares: one clear error message and an exit code."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from rich.console import Console
from rich.text import Text

from hlynr.training.signals import command_line

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

err_console = Console(stderr=True, highlight=False)


def expected_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean bad input, reported as one message (never a traceback)."""
    from gymnasium.error import Error as GymError

    from hlynr.algos.builder import BuildError
    from hlynr.config import ConfigError
    from hlynr.config.stages import StageError
    from hlynr.evaluation.scoring import LoadError
    from hlynr.evaluation.targets import TargetError
    from hlynr.registries import UnknownNameError
    from hlynr.training.runner import RunError

    return (ConfigError, RunError, BuildError, UnknownNameError, GymError, FileNotFoundError,
            NotADirectoryError, PermissionError, CliError, TargetError, LoadError, StageError)


class CliError(Exception):
    """A command-line usage problem; ``str()`` is the user-facing message."""


def add_config_arguments(
    parser: argparse.ArgumentParser, config_help: str, set_example: str,
) -> argparse._MutuallyExclusiveGroup:
    """``--config``/``--preset`` (returned group, for more sources), ``--set``, ``--runs-dir``."""
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--config", "-c", type=_config_path, help=config_help)
    source.add_argument("--preset", help="name of an embedded config (e.g. default, pendulum_ppo)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE",
                        help=f"override a config key, e.g. --set {set_example} (repeatable)")
    parser.add_argument("--runs-dir", help="parent folder for run folders (overrides runs_dir)")
    return source


def _config_path(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path: name a YAML config file")
    return text


def run_main(main: Callable[[list[str] | None], int], argv: list[str] | None = None, *,
             final: bool = False) -> int:
    """Run ``main``, turning expected errors into ``error: ...`` on stderr and exit code 2.

    Once interrupted, a further Ctrl+C prints one line and lets ``main`` finish what it writes
    (:func:`hlynr.training.signals.command_line`); ``final``: the process exits right after.
    """
    with command_line(final=final):
        try:
            return main(argv)
        except expected_errors() as exc:
            text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
            # User input is printed as plain text: no rich markup is interpreted in it.
            err_console.print(Text.assemble(("error:", "bold red"), " ", text), soft_wrap=True)
            return EXIT_USAGE
        except KeyboardInterrupt:
            err_console.print("interrupted")
            return EXIT_INTERRUPTED


def entry(main: Callable[[list[str] | None], int]) -> None:
    """``sys.exit(run_main(main))`` for scripts."""
    sys.exit(run_main(main, final=True))
