"""A run group: ordinary run folders of one config, one per training seed, under one folder.

Layout::

    <group>/
      group.json          {"kind": "group", "name", "env_id", "algo", "seeds": [...], "cell": {...}}
      config.yaml         the group's resolved config (each seed's run sets ``seed`` only)
      seed_<s>/           an ordinary run folder (config.yaml, progress.jsonl, best/, final/, ...)

      logs/seed_<s>.log   the console output of each seed's training process

A grid is a folder of groups, one per cell (``grid.json`` lists the cells and the values each
sets; ``cell_<k>/`` is a group). A run inside a group is an ordinary run: monitor, evaluate,
resume and the dashboard work on it unchanged. New groups are ``<runs_dir>/<name>/group-<time>/``
and new grids ``<runs_dir>/<name>/grid-<time>/``. This module describes and reads the layout, and
says where each seed's run stands (:func:`seed_status`); :mod:`hlynr.training.groups` writes it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from hlynr.runs.checkpoints import list_checkpoints
from hlynr.runs.files import write_json
from hlynr.runs.folder import PROGRESS_FILE
from hlynr.runs.lock import holder

GROUP_FILE = "group.json"
GRID_FILE = "grid.json"
SEED_PREFIX = "seed_"
CELL_PREFIX = "cell_"
LOG_DIR = "logs"
GROUP_FOLDER_PREFIX = "group-"
GRID_FOLDER_PREFIX = "grid-"


class GroupError(Exception):
    """A folder that is not a run group (or grid), or a damaged one; ``str()`` says which."""


def seed_dir(group: Path, seed: int) -> Path:
    """The run folder of ``seed`` inside ``group``."""
    return Path(group) / f"{SEED_PREFIX}{int(seed)}"


def cell_dir(grid: Path, index: int) -> Path:
    """The group folder of cell ``index`` inside ``grid``."""
    return Path(grid) / f"{CELL_PREFIX}{int(index)}"


def log_file(group: Path, seed: int) -> Path:
    """The console output of ``seed``'s training process(es) in ``group`` (appended on resume)."""
    return Path(group) / LOG_DIR / f"{SEED_PREFIX}{int(seed)}.log"


def is_group(path: Path) -> bool:
    """Whether ``path`` is a run group folder."""
    return (Path(path) / GROUP_FILE).is_file()


def is_grid(path: Path) -> bool:
    """Whether ``path`` is a grid folder (a folder of run groups)."""
    return (Path(path) / GRID_FILE).is_file()


@dataclass(frozen=True)
class RunGroup:
    """What ``group.json`` says of a group, and where its seeds' run folders are."""

    path: Path
    name: str
    env_id: str
    algo: str
    seeds: tuple[int, ...]
    cell: dict[str, Any] = field(default_factory=dict)
    """The grid values this group's config sets (empty outside a grid)."""

    @property
    def config_path(self) -> Path:
        return self.path / "config.yaml"

    def run_dir(self, seed: int) -> Path:
        """The run folder of ``seed`` (it may not exist yet)."""
        return seed_dir(self.path, seed)

    def run_dirs(self) -> dict[int, Path]:
        """Every seed's run folder, by seed, in the order of :attr:`seeds`."""
        return {s: self.run_dir(s) for s in self.seeds}

    def write(self) -> None:
        """Write ``group.json`` atomically (the config is written by the caller)."""
        write_json(self.path / GROUP_FILE, {"kind": "group", "name": self.name, "env_id": self.env_id,
                                            "algo": self.algo, "seeds": list(self.seeds),
                                            "cell": self.cell})


def _read(path: Path, name: str, kind: str, what: str) -> dict[str, Any]:
    """The JSON object in ``path/name`` whose ``kind`` is ``kind``; :class:`GroupError` if the
    file is missing (``path`` is not a ``what``), unreadable or of another kind."""
    file = Path(path) / name
    if not file.is_file():
        raise GroupError(f"{path} is not a {what} (no {name})")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or data.get("kind") != kind:
            raise ValueError(f"'kind' is not '{kind}'")
    except (OSError, ValueError) as exc:
        raise GroupError(f"{file} is damaged: {exc}") from None
    return data


def read_group(path: Path) -> RunGroup:
    """The group in ``path``; :class:`GroupError` if it is not one or ``group.json`` is damaged."""
    path = Path(path)
    file = path / GROUP_FILE
    data = _read(path, GROUP_FILE, "group", "run group")
    try:
        seeds = tuple(int(s) for s in data["seeds"])
        if not seeds or len(set(seeds)) != len(seeds):
            raise ValueError("'seeds' must be a non-empty list of distinct integers")
        return RunGroup(path=path, name=str(data["name"]), env_id=str(data["env_id"]),
                        algo=str(data["algo"]), seeds=seeds, cell=dict(data.get("cell") or {}))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise GroupError(f"{file} is damaged: {exc}") from None


@dataclass(frozen=True)
class GridCell:
    """One cell of a grid: its index and the config values it sets."""

    index: int
    values: dict[str, Any]


@dataclass(frozen=True)
class Grid:
    """What ``grid.json`` says of a grid: its keys, seeds and cells (each a group ``cell_<k>/``)."""

    path: Path
    name: str
    keys: tuple[str, ...]
    seeds: tuple[int, ...]
    cells: tuple[GridCell, ...]

    def cell_dir(self, index: int) -> Path:
        """The group folder of cell ``index``."""
        return cell_dir(self.path, index)

    def groups(self) -> list[RunGroup]:
        """Every cell's group, in cell order (:class:`GroupError` if one is missing or damaged)."""
        return [read_group(self.cell_dir(c.index)) for c in self.cells]

    def write(self) -> None:
        """Write ``grid.json`` atomically (each cell's group is written by the caller)."""
        write_json(self.path / GRID_FILE, {
            "kind": "grid", "name": self.name, "keys": list(self.keys), "seeds": list(self.seeds),
            "cells": [{"index": c.index, "values": c.values, "folder": self.cell_dir(c.index).name}
                      for c in self.cells]})


def read_grid(path: Path) -> Grid:
    """The grid in ``path``; :class:`GroupError` if it is not one or ``grid.json`` is damaged."""
    path = Path(path)
    file = path / GRID_FILE
    data = _read(path, GRID_FILE, "grid", "grid")
    try:
        cells = tuple(GridCell(int(c["index"]), dict(c["values"])) for c in data["cells"])
        if not cells or [c.index for c in cells] != list(range(len(cells))):
            raise ValueError("'cells' must list cells 0, 1, 2, ... in order")
        return Grid(path=path, name=str(data["name"]), keys=tuple(str(k) for k in data["keys"]),
                    seeds=tuple(int(s) for s in data["seeds"]), cells=cells)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise GroupError(f"{file} is damaged: {exc}") from None


def read_groups(path: Path) -> list[RunGroup]:
    """The groups in ``path``: a grid's cells, or the group itself (:class:`GroupError` else)."""
    if is_grid(path):
        return read_grid(path).groups()
    if is_group(path):
        return [read_group(path)]
    raise GroupError(f"{path} is neither a run group nor a grid (no {GROUP_FILE} or {GRID_FILE})")


class SeedState(str, Enum):
    """Where one seed's run of a group stands, and so what continuing the group does with it."""

    MISSING = "missing"
    """No run folder: start it."""
    DONE = "done"
    """Its last session ended ``completed`` or ``stopped``: leave it."""
    FAILED = "failed"
    """Its last session ended ``failed``: leave it (delete the folder to train it again)."""
    RESUMABLE = "resumable"
    """Interrupted or killed, with a checkpoint: resume it."""
    RESTART = "restart"
    """Interrupted or killed before its first checkpoint: nothing to resume, start it again."""
    RUNNING = "running"
    """A live process holds its lock."""


@dataclass(frozen=True)
class SeedStatus:
    """:class:`SeedState`, with the last session's ``end`` record (None if it has none) and the
    PID of the process holding the run (``RUNNING``)."""

    state: SeedState
    end: dict[str, Any] | None = None
    pid: int | None = None


def seed_status(run_dir: Path) -> SeedStatus:
    """Where the seed run in ``run_dir`` stands, from its lock, its progress log's last record
    (a session that ended wrote an ``end`` event last) and its checkpoints."""
    run_dir = Path(run_dir)
    if not run_dir.exists():
        return SeedStatus(SeedState.MISSING)
    pid = holder(run_dir)
    if pid is not None:
        return SeedStatus(SeedState.RUNNING, pid=pid)
    end = _last_end(run_dir / PROGRESS_FILE)
    status = end.get("status") if end else None
    if status in ("completed", "stopped"):
        return SeedStatus(SeedState.DONE, end)
    if status == "failed":
        return SeedStatus(SeedState.FAILED, end)
    state = SeedState.RESUMABLE if list_checkpoints(run_dir) else SeedState.RESTART
    return SeedStatus(state, end)


TAIL_BYTES = 65536


def _last_end(path: Path) -> dict[str, Any] | None:
    """The last record of a progress log if it is an ``end`` event, else None."""
    try:
        with path.open("rb") as fh:
            size = fh.seek(0, 2)
            fh.seek(max(0, size - TAIL_BYTES))
            lines = [ln for ln in fh.read().splitlines() if ln.strip()]
        record = json.loads(lines[-1]) if lines else None
    except (OSError, ValueError):
        return None
    if isinstance(record, dict) and record.get("type") == "event" and record.get("event") == "end":
        return record
    return None
