"""``hlynr worker --storage URL --study NAME``: train the queued seeds of a shared run group.

A group started with ``train.py --config FILE --seeds ... --storage URL`` queues each of its
(cell, seed) runs as a trial of an Optuna study; a worker on any machine that sees the group
folder (a shared filesystem, mounted at the same path) takes queued runs, trains them into that
folder and reports back, until none is left ([docs/groups.md](../../docs/groups.md)).
"""

from __future__ import annotations

import argparse

from hlynr.cli.common import entry
from hlynr.cli.groups import add_worker_arguments, worker_main


def build_parser() -> argparse.ArgumentParser:
    """The ``hlynr worker`` argument parser."""
    p = argparse.ArgumentParser(prog="hlynr worker", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--storage", required=True, metavar="URL",
                   help="the Optuna storage of the group's study (postgresql://..., a .db or "
                        ".log file)")
    p.add_argument("--study", required=True, metavar="NAME", help="the group's study name")
    add_worker_arguments(p)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``hlynr worker``."""
    return worker_main(build_parser().parse_args(argv))


if __name__ == "__main__":
    entry(main)
