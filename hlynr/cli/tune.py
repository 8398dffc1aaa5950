"""``hlynr tune``: run a config's ``tune:`` study (the same as ``train.py --config F --optimize``).

    hlynr tune --config configs/tuning/pendulum_ppo_tune.yaml
    hlynr tune -c FILE --storage postgresql://user:pass@db-host/optuna   # one study, many machines
    hlynr tune -c FILE --n-trials 0                                        # report + export only
    hlynr tune -c FILE --check                                             # validate only
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from hlynr.cli.common import CliError, add_config_arguments, entry
from hlynr.cli.study import check_only, run_study_from_config
from hlynr.presets import preset_path
from hlynr.zoo import load_config


def build_parser() -> argparse.ArgumentParser:
    """The ``hlynr tune`` argument parser."""
    p = argparse.ArgumentParser(prog="hlynr tune", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_arguments(p, "YAML config file with a tune: section", "tune.n_trials=50")
    p.add_argument("--study", help="study name (tune.study)")
    p.add_argument("--storage", help="database URL, SQLite file or journal file (tune.storage)")
    p.add_argument("--n-trials", type=int, help="trials this process runs (tune.n_trials)")
    p.add_argument("--timeout", type=float, metavar="SECONDS", help="tune.timeout")
    p.add_argument("--n-jobs", type=int, help="parallel trials in this process (tune.n_jobs)")
    p.add_argument("--check", action="store_true", help="validate the search space and exit")
    p.add_argument("--quiet", "-q", action="store_true", help="only the final summary")
    return p


def _shortcut_overrides(args: argparse.Namespace) -> list[str]:
    """``--study X`` etc. as ``--set tune.study=X`` (JSON-quoted, so any text is kept as is)."""
    out = []
    pairs: list[tuple[str, Any]] = [("study", args.study), ("storage", args.storage),
                                    ("n_trials", args.n_trials), ("timeout", args.timeout),
                                    ("n_jobs", args.n_jobs)]
    for key, value in pairs:
        if value is not None:
            out.append(f"tune.{key}={json.dumps(value)}")
    return out


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``hlynr tune``; returns the exit code."""
    args = build_parser().parse_args(argv)
    if not args.config and not args.preset:
        raise CliError("hlynr tune needs --config FILE (a config with a tune: section)")
    path = Path(args.config) if args.config else preset_path(args.preset)
    config = load_config(path, [*args.overrides, *_shortcut_overrides(args)]).config
    if config.tune is None:
        raise CliError(f"{path} has no 'tune:' section: add the search space (see docs/tuning.md)")
    if args.check:
        return check_only(config, path)
    return run_study_from_config(config, path, runs_dir=args.runs_dir, quiet=args.quiet)


if __name__ == "__main__":
    entry(main)
