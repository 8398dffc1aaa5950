"""Run groups from the command line: ``train.py --seeds``, a config with ``seeds:`` or ``grid:``,
``train.py --resume GROUP``, and ``hlynr worker`` (docs/groups.md).

The parent process writes the group folder, trains the seeds as child processes (``--jobs`` at a
time, or with workers on other machines through an Optuna storage), prints one line per seed as
it ends and a summary per group. Exit code: 1 if a seed failed, else 130 if one was interrupted
or never started (``--resume GROUP`` continues), else 0.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from hlynr.cli.common import EXIT_INTERRUPTED, CliError, make_console

if TYPE_CHECKING:
    from hlynr.config import ExperimentConfig
    from hlynr.training.groups import Plan
    from hlynr.training.launcher import UnitResult

console = make_console()

DEFAULT_HEARTBEAT_S = 60


def add_worker_arguments(p: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """``--jobs``, and the storage options shared by ``train.py`` and ``hlynr worker``."""
    p.add_argument("--jobs", type=int, metavar="N",
                   help="seeds trained at once on this machine (default: one per "
                        "torch_threads cores)")
    p.add_argument("--heartbeat", type=int, metavar="S",
                   help=f"with --storage: seconds between heartbeats of a running seed; a seed "
                        f"silent for twice as long is taken over (default {DEFAULT_HEARTBEAT_S})")


def add_group_arguments(p: argparse.ArgumentParser) -> None:
    """The run-group options of ``train.py``."""
    g = p.add_argument_group("run groups (docs/groups.md)")
    g.add_argument("--seeds", metavar="SEEDS",
                   help="one run per seed, into a run group: '0-4', '0,2,5', '0-2,7', or '3' "
                        "for seed 3 alone (sets seeds:)")
    add_worker_arguments(g)
    g.add_argument("--storage", metavar="URL",
                   help="share the group's seeds with 'hlynr worker' processes on other machines "
                        "through this Optuna storage (postgresql://..., a .db or .log file)")
    g.add_argument("--study", metavar="NAME",
                   help="with --storage: the study's name (default: <name>-<group folder>)")


def seed_overrides(args: argparse.Namespace) -> list[str]:
    """``--seeds X`` as the override ``seeds="X"`` (a text: ``--seeds 3`` is seed 3), validated
    with the config."""
    return [f"seeds={json.dumps(args.seeds)}"] if args.seeds is not None else []


def _check_jobs(args: argparse.Namespace) -> None:
    if args.jobs is not None and args.jobs < 1:
        raise CliError(f"--jobs {args.jobs}: at least one seed must train at a time")


def _jobs(args: argparse.Namespace, config_threads: int, units: int) -> int:
    from hlynr.training.groups import default_jobs

    _check_jobs(args)
    return default_jobs(config_threads, units) if args.jobs is None else int(args.jobs)


def _heartbeat(args: argparse.Namespace) -> int:
    if args.heartbeat is None:
        return DEFAULT_HEARTBEAT_S
    if args.heartbeat < 1:
        raise CliError(f"--heartbeat {args.heartbeat}: give a number of seconds, at least 1")
    return int(args.heartbeat)


def run_group(args: argparse.Namespace, config: ExperimentConfig) -> int | None:
    """Train ``config``'s group or grid (``seeds:``/``grid:``); None when it is a single run."""
    if not config.is_group:
        used = [f"--{k}" for k in ("jobs", "storage", "study", "heartbeat")
                if getattr(args, k) is not None]
        if used:
            raise CliError(f"{', '.join(used)} go with a run group: --seeds, or a config with "
                           "seeds: or grid:")
        return None
    if args.optimize:
        raise CliError("--optimize runs the config's tune: section (seeds per trial: tune.seeds); "
                       "seeds: and grid: make a run group: use one or the other")
    if (args.study or args.heartbeat) and not args.storage:
        raise CliError("--study and --heartbeat go with --storage")
    from hlynr.training.groups import new_group_path, write_layout

    runs = len(config.seeds or [config.seed]) * math.prod(len(v) for v in (config.grid or {}).values())
    jobs = _jobs(args, config.torch_threads, runs)
    heartbeat = _heartbeat(args)
    path = Path(args.run_dir) if args.run_dir else new_group_path(
        config, Path(args.runs_dir) if args.runs_dir else None)
    if path.exists():
        raise CliError(f"{path} already exists; a new group needs a new folder "
                       "(--resume continues one)")
    if args.storage:
        from hlynr.tuning.group_study import check_new_study, create_group_study

        storage = _storage(args.storage)
        study_name = args.study or f"{config.name}-{path.name}"
        check_new_study(storage, study_name, heartbeat)
        plan = write_layout(config, path)
        study = create_group_study(storage, study_name, plan, heartbeat)
        _header(plan, jobs, "")
        join = f"hlynr worker --storage {storage.display} --study {study_name}"
        console.print(f"study {study_name} in {storage.display}: {len(plan.units)} run(s) queued; "
                      f"on other machines: {join}", markup=False)
        return _work(plan, jobs, study=study, again=join, heartbeat=heartbeat)
    plan = write_layout(config, path)
    _header(plan, jobs, "")
    return _work(plan, jobs)


def resume_group(args: argparse.Namespace) -> int | None:
    """``--resume GROUP`` (or grid): continue its unfinished seeds; None for a run folder."""
    # the run folder's modules load SB3: not for --help
    from hlynr.runs.folder import CONFIG_FILE
    from hlynr.runs.group import is_grid, is_group

    path = Path(args.resume)
    if not (is_group(path) or is_grid(path)):
        if not (path / CONFIG_FILE).is_file():
            raise CliError(f"{path} is not a run folder (no {CONFIG_FILE}) or a run group "
                           "(no group.json or grid.json)")
        if any(getattr(args, k) is not None for k in ("seeds", "jobs", "storage", "study", "heartbeat")):
            raise CliError("--seeds, --jobs and --storage do not apply to one run's --resume")
        return None
    if (args.check or args.optimize or args.config or args.preset or args.zoo or args.run_dir
            or args.overrides or any(getattr(args, k) is not None
                                     for k in ("seeds", "storage", "study", "heartbeat"))):
        raise CliError("--resume GROUP continues the group's seeds with its own config; it takes "
                       "only --jobs and --quiet")
    from hlynr.training.groups import plan_resume

    _check_jobs(args)
    plan = plan_resume(path)
    jobs = _jobs(args, plan.torch_threads, max(len(plan.units), 1))
    counts = {a: sum(u.action == a for u in plan.units) for a in ("resume", "restart", "start")}
    _header(plan, jobs, f"continuing: {counts['resume']} resumed from a checkpoint, "
                        f"{counts['restart'] + counts['start']} started, "
                        f"{len(plan.left)} left as they ended")
    return _work(plan, jobs)


def worker_main(args: argparse.Namespace) -> int:
    """``hlynr worker --storage URL --study NAME``: train queued seeds of a shared group."""
    from hlynr.tuning.group_study import join_group_study

    _check_jobs(args)
    heartbeat = _heartbeat(args)
    study, plan = join_group_study(_storage(args.storage), args.study, heartbeat)
    jobs = _jobs(args, plan.torch_threads, max(len(plan.all_units()), 1))
    _header(plan, jobs, f"worker of study {args.study}")
    return _work(plan, jobs, study=study, heartbeat=heartbeat,
                 again=f"hlynr worker --storage {args.storage} --study {args.study}")


def _storage(text: str):
    from hlynr.config.tuning import storage_kind
    from hlynr.tuning.storage import resolve_storage

    try:
        storage_kind(text)
    except ValueError as exc:
        raise CliError(f"--storage: {exc}") from None
    return resolve_storage(text, Path("."), "")


def _header(plan: Plan, jobs: int, note: str) -> None:
    seeds = plan.groups[0].seeds
    what = (f"{len(plan.groups)} cell(s) x {len(seeds)} seed(s)" if plan.grid is not None
            else f"{len(seeds)} seed(s)")
    logs = plan.path / ("cell_<k>/logs" if plan.grid is not None else "logs")
    console.print(f"{plan.kind} {plan.path}: {what}, {jobs} at a time on this machine"
                  + (f"; {note}" if note else "") + f"; logs in {logs}/", markup=False)


def _work(plan: Plan, jobs: int, study=None, again: str = "",
          heartbeat: int = DEFAULT_HEARTBEAT_S) -> int:
    """Train the plan's units (locally, or as a worker of ``study``), report, return the exit
    code. ``again``: the command that continues (default: ``train.py --resume`` of the group)."""
    from hlynr.training.launcher import Launcher, finished_result

    launcher = Launcher(jobs, on_done=_print_result)
    if study is None:  # the group's seeds left as they ended (a resume) count as well
        results = [*(finished_result(unit) for unit, _ in plan.left), *launcher.run(plan.units)]
        _summaries(plan, results)
    else:  # this process trained a share: the summary is the group's, from its folders
        from hlynr.tuning.group_study import StudyWorker, idle_poll, queue_counts

        results = StudyWorker(study, plan, launcher, idle_poll(heartbeat)).run()
        counts = queue_counts(study)
        console.print("study: " + ", ".join(f"{n} {k}" for k, n in counts.items()), markup=False)
        _summaries(plan, [finished_result(u) for u in plan.all_units()])
    if any(r.status == "failed" for r in results):
        return 1
    if launcher.stopping or any(not r.ok for r in results):
        console.print(f"continue with: {again or f'python train.py --resume {plan.path}'}",
                      markup=False)
        return EXIT_INTERRUPTED
    return 0


def _print_result(result: UnitResult) -> None:
    summary = result.summary or {}
    where = f" -> {result.unit.run_dir}"
    if result.ok or result.status == "interrupted":
        line = (f"{result.unit.label} {result.status}: {result.reason}; "
                f"{int(summary.get('timesteps') or 0):,} timesteps in {result.wall_time:.0f} s")
        metric = _metric(summary)
        if metric is not None:
            line += f"; last evaluation {metric[0]} {metric[1]:.4g}"
        console.print(line + where, markup=False)
    else:
        console.print(f"{result.unit.label} {result.status}: {result.reason}{where}", markup=False)


def _metric(summary: dict) -> tuple[str, float] | None:
    """The headline of a run's last evaluation: success rate if measured, else mean reward."""
    last = summary.get("last_evaluation") or {}
    for key in ("success_rate", "mean_reward"):
        if isinstance(last.get(key), int | float):
            return key, float(last[key])
    return None


def _summaries(plan: Plan, results: Iterable[UnitResult]) -> None:
    """One line per group: its seeds by ending, and the mean ± sd of the completed seeds'
    last evaluation (failed, interrupted and unstarted seeds are not averaged in)."""
    by_group: dict[Path, list[UnitResult]] = {}
    for r in results:
        by_group.setdefault(r.unit.group, []).append(r)
    for i, group in enumerate(plan.groups):
        rs = by_group.get(group.path, [])
        counts: dict[str, list[int]] = {}
        for r in rs:
            counts.setdefault(r.status, []).append(r.unit.seed)
        order = ["completed", "stopped", "running", "interrupted", "not started", "failed"]
        parts = [f"{len(seeds)} {status}" + (f" (seed {', '.join(map(str, seeds))})"
                                             if status != "completed" else "")
                 for status, seeds in sorted(counts.items(), key=lambda kv: order.index(kv[0]))]
        head = (f"cell {plan.grid.cells[i].index} ({', '.join(f'{k} = {v!r}' for k, v in group.cell.items())})"
                if plan.grid is not None else f"group {group.path}")
        line = f"{head}: {len(group.seeds)} seed(s): " + (", ".join(parts) or "none ran here")
        metrics = [m for m in (_metric(r.summary or {}) for r in rs if r.ok) if m is not None]
        names = {name for name, _ in metrics}
        if metrics and len(names) == 1:
            values = [v for _, v in metrics]
            sd = statistics.stdev(values) if len(values) > 1 else 0.0
            line += (f"; last evaluation {names.pop()} {statistics.fmean(values):.4g} ± {sd:.2g} "
                     f"(mean ± sd of {len(values)} seed(s))")
        console.print(line, markup=False)
