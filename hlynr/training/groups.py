"""Run groups on disk: the layout a config with ``seeds:`` or ``grid:`` writes, and what is left
to run in it.

A new group (or grid) is written in full before any seed starts (:func:`write_layout`):
``group.json`` and ``config.yaml`` (each cell's, for a grid, with ``grid.json``); the seeds'
run folders are then made by their own training processes (:mod:`hlynr.training.launcher`).
Continuing a group (:func:`plan_resume`) looks at each seed's run folder
(:func:`hlynr.runs.group.seed_status`): missing ones are started, interrupted ones resumed from
their checkpoints, those interrupted before their first checkpoint started again, completed and
failed ones left as they are.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml

import hlynr
from hlynr.config import ConfigError, ExperimentConfig
from hlynr.config.grid import grid_cells
from hlynr.config.tracking import with_group
from hlynr.runs.files import write_text_atomic
from hlynr.runs.folder import CONFIG_FILE, new_run_path
from hlynr.runs.group import (
    GRID_FOLDER_PREFIX,
    GROUP_FOLDER_PREFIX,
    Grid,
    GridCell,
    GroupError,
    RunGroup,
    SeedState,
    SeedStatus,
    cell_dir,
    is_grid,
    log_file,
    read_grid,
    read_groups,
    seed_dir,
    seed_status,
)
from hlynr.training.errors import RunError
from hlynr.zoo import load_config

Action = Literal["start", "resume", "restart"]


@dataclass(frozen=True)
class Unit:
    """One seed's run of one group: what to do with it and the command that does it."""

    group: Path
    seed: int
    cell: int | None = None
    """The grid cell of the group (None outside a grid)."""
    action: Action = "start"

    @property
    def run_dir(self) -> Path:
        return seed_dir(self.group, self.seed)

    @property
    def log(self) -> Path:
        return log_file(self.group, self.seed)

    @property
    def label(self) -> str:
        """``seed 3``, or ``cell 1 seed 3`` in a grid."""
        return (f"cell {self.cell} " if self.cell is not None else "") + f"seed {self.seed}"

    def command(self) -> list[str]:
        """The training process: an ordinary ``hlynr train`` of the group's config with its seed,
        into the seed's run folder (or ``--resume`` of that folder)."""
        train = [sys.executable, "-m", "hlynr", "train"]
        if self.action == "resume":
            return [*train, "--resume", str(self.run_dir), "--quiet"]
        return [*train, "--config", str(self.group / CONFIG_FILE), "--set", f"seed={self.seed}",
                "--run-dir", str(self.run_dir), "--quiet"]

    def prepare(self) -> None:
        """Make way for the command: a ``restart`` removes the run folder that never reached a
        checkpoint (there is nothing in it to resume)."""
        if self.action == "restart" and self.run_dir.exists():
            shutil.rmtree(self.run_dir)
        self.log.parent.mkdir(parents=True, exist_ok=True)


@dataclass
class Plan:
    """A group or grid folder, its groups, the units to run and the seeds left as they are."""

    path: Path
    grid: Grid | None
    groups: list[RunGroup]
    units: list[Unit]
    left: list[tuple[Unit, SeedStatus]] = field(default_factory=list)
    """Seeds a resume leaves alone (done or failed), with their status."""
    torch_threads: int = 1
    """The most torch threads one of its runs uses (for the default number of jobs)."""

    @property
    def kind(self) -> str:
        return "grid" if self.grid is not None else "group"

    def all_units(self) -> list[Unit]:
        """Every seed of every group, in order (cell by cell)."""
        return [Unit(g.path, s, _cell_of(self.grid, i)) for i, g in enumerate(self.groups)
                for s in g.seeds]


def _cell_of(grid: Grid | None, index: int) -> int | None:
    return grid.cells[index].index if grid is not None else None


def new_group_path(config: ExperimentConfig, runs_dir: Path | None = None) -> Path:
    """``<runs_dir>/<name>/group-<timestamp>/`` (``grid-`` for a grid), unique."""
    prefix = GRID_FOLDER_PREFIX if config.grid is not None else GROUP_FOLDER_PREFIX
    return new_run_path(Path(runs_dir or config.runs_dir) / config.name, prefix)


def write_layout(config: ExperimentConfig, path: Path) -> Plan:
    """Create the group (or grid) folder ``path`` and write every file that describes it, before
    any seed runs; the plan starts every seed. :class:`RunError` if ``path`` exists."""
    path = Path(path)
    seeds = tuple(config.seeds if config.seeds is not None else [config.seed])
    try:
        path.mkdir(parents=True, exist_ok=False)
    except FileExistsError:
        raise RunError(f"{path} already exists; a new group needs a new folder "
                       "(--resume continues one)") from None
    grid = None
    groups = []
    cells = grid_cells(config)
    for cell in cells:
        folder = cell_dir(path, cell.index) if config.grid is not None else path
        folder.mkdir(exist_ok=config.grid is None)
        label = f"{config.name}/{path.name}" + (f"/{folder.name}" if config.grid is not None else "")
        data = with_group(cell.data, label)  # trackers show the group's seeds as one group
        write_text_atomic(folder / CONFIG_FILE, yaml.safe_dump(data, sort_keys=False))
        group = RunGroup(path=folder, name=config.name, env_id=str(cell.data["env"]["id"]),
                         algo=str(cell.data["algo"]["name"]), seeds=seeds, cell=cell.values)
        group.write()
        groups.append(group)
    if config.grid is not None:
        grid = Grid(path=path, name=config.name, keys=tuple(config.grid), seeds=seeds,
                    cells=tuple(GridCell(c.index, c.values) for c in cells))
        grid.write()
    plan = Plan(path, grid, groups, [], torch_threads=config.torch_threads)
    plan.units = plan.all_units()
    return plan


def read_plan(path: Path) -> Plan:
    """The group or grid in ``path`` with every seed (nothing decided yet);
    :class:`RunError` if it is not one or is damaged."""
    path = Path(path)
    try:
        grid = read_grid(path) if is_grid(path) else None
        groups = read_groups(path)
    except GroupError as exc:
        raise RunError(str(exc)) from None
    return Plan(path, grid, groups, [], torch_threads=max(_threads(g) for g in groups))


def _threads(group: RunGroup) -> int:
    """``torch_threads`` of a group's config (1 if it cannot be read: the config is checked
    where it is used)."""
    try:
        value = yaml.safe_load(group.config_path.read_text(encoding="utf-8")).get("torch_threads", 1)
    except (OSError, AttributeError, yaml.YAMLError):
        return 1
    return value if isinstance(value, int) and value > 0 else 1


def plan_resume(path: Path) -> Plan:
    """What continuing the group (or grid) in ``path`` runs: each seed by its status.

    Raises :class:`RunError` (nothing is changed) when ``path`` is not a group or grid, a seed is
    being trained by a live process, or a group's ``config.yaml`` no longer validates.
    """
    plan = read_plan(path)
    for group in plan.groups:
        try:
            load_config(group.config_path)
        except ConfigError as exc:
            raise RunError(f"{group.path}: its config no longer validates: {exc}") from None
    actions: dict[SeedState, Action] = {SeedState.MISSING: "start", SeedState.RESUMABLE: "resume",
                                        SeedState.RESTART: "restart"}
    for unit in plan.all_units():
        status = seed_status(unit.run_dir)
        if status.state is SeedState.RUNNING:
            raise RunError(f"{unit.run_dir} is being trained by process {status.pid}; wait for it "
                           "to end or stop it first")
        action = actions.get(status.state)
        if action is None:
            plan.left.append((unit, status))
        else:
            plan.units.append(Unit(unit.group, unit.seed, unit.cell, action))
    return plan


def unit_for(plan: Plan, cell: int | None, seed: int) -> Unit:
    """The unit of ``seed`` in ``cell`` (None: the group itself), with the action its run folder
    calls for now (``start`` when it is done or failed: the caller checks the status first)."""
    group = plan.groups[cell or 0]
    if seed not in group.seeds:
        raise RunError(f"{group.path} has no seed {seed}")
    status = seed_status(seed_dir(group.path, seed))
    actions: dict[SeedState, Action] = {SeedState.RESUMABLE: "resume", SeedState.RESTART: "restart"}
    return Unit(group.path, seed, cell, actions.get(status.state, "start"))


def default_jobs(config_threads: int, units: int) -> int:
    """Seeds trained at once by default: one per ``torch_threads`` cores, at most ``units``."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(units, cores // max(1, config_threads)))


def child_environment() -> dict[str, str]:
    """The environment of a seed's training process: this one, with this hlynr first on the
    path, so the child trains with the same code as its parent."""
    env = dict(os.environ)
    root = str(Path(hlynr.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env
