"""What every command-line entry point shares: one clear error message and an exit code."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from rich.console import Console, ConsoleDimensions
from rich.text import Text

from hlynr.config.stages import StageSelector
from hlynr.training.signals import command_line

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

PIPE_WIDTH = 1000
"""Columns of output that is not a terminal (a log file, a pipe): no line of hlynr's is this long."""


class FullWidthConsole(Console):
    """A rich ``Console`` that neither wraps nor cuts lines written to a file or a pipe.

    Off a terminal, rich lays text out for 80 columns (or ``COLUMNS``), so a long line in a log
    breaks mid-field and the progress line drops its figures. This console is then
    :data:`PIPE_WIDTH` columns wide (decided at each print, so a later redirect of ``sys.stdout``
    counts); on a terminal it follows the terminal's width as usual.
    """

    @property
    def size(self) -> ConsoleDimensions:
        size = super().size
        if self._width is not None or self.is_terminal:
            return size
        return ConsoleDimensions(max(size.width, PIPE_WIDTH), size.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)  # type: ignore[attr-defined]


def make_console(stderr: bool = False) -> Console:
    """The console every command prints through (stdout, or stderr), without syntax highlighting."""
    return FullWidthConsole(stderr=stderr, highlight=False)


err_console = make_console(stderr=True)


_INPUT_ERRORS = ("gymnasium.error:Error", "hlynr.algos.builder:BuildError", "hlynr.config.loader:ConfigError",
                 "hlynr.config.stages:StageError", "hlynr.evaluation.scoring:LoadError",
                 "hlynr.evaluation.targets:TargetError", "hlynr.registries.base:UnknownNameError",
                 "hlynr.training.errors:RunError")
"""Errors of hlynr's layers (``module:Class``) that mean bad input."""


def expected_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean bad input, reported as one message (never a traceback).

    Only the error classes of modules already loaded are looked up: a module that is not loaded
    cannot have raised its error, and importing it here would load torch on any exit (``--help``).
    """
    classes = (getattr(sys.modules.get(module), name, None)
               for module, _, name in (path.partition(":") for path in _INPUT_ERRORS))
    return (CliError, FileNotFoundError, NotADirectoryError, PermissionError,
            *(c for c in classes if c is not None))


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


def stage_selector(text: str) -> StageSelector:
    """``--stage`` other than ``all``: ``final``, ``none`` or a stage index."""
    if text == "final":
        return "final"
    if text == "none":
        return "none"
    try:
        return int(text)
    except ValueError:
        raise CliError(f"--stage must be final, none or a stage index, not {text!r}") from None
