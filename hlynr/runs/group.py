"""A run group: ordinary run folders of one config, one per training seed, under one folder.

Layout::

    <group>/
      group.json          {"kind": "group", "name", "env_id", "algo", "seeds": [...], "cell": {...}}
      config.yaml         the group's resolved config (each seed's run sets ``seed`` only)
      seed_<s>/           an ordinary run folder (config.yaml, progress.jsonl, best/, final/, ...)

A grid is a folder of groups, one per cell (``grid.json`` lists the cells and the values each
sets; ``cell_<k>/`` is a group). A run inside a group is an ordinary run: monitor, evaluate,
resume and the dashboard work on it unchanged. This module only describes and reads the layout;
training writes it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hlynr.runs.files import write_json

GROUP_FILE = "group.json"
GRID_FILE = "grid.json"
SEED_PREFIX = "seed_"
CELL_PREFIX = "cell_"


class GroupError(Exception):
    """A folder that is not a run group (or grid), or a damaged one; ``str()`` says which."""


def seed_dir(group: Path, seed: int) -> Path:
    """The run folder of ``seed`` inside ``group``."""
    return Path(group) / f"{SEED_PREFIX}{int(seed)}"


def cell_dir(grid: Path, index: int) -> Path:
    """The group folder of cell ``index`` inside ``grid``."""
    return Path(grid) / f"{CELL_PREFIX}{int(index)}"


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


def read_group(path: Path) -> RunGroup:
    """The group in ``path``; :class:`GroupError` if it is not one or ``group.json`` is damaged."""
    path = Path(path)
    file = path / GROUP_FILE
    if not file.is_file():
        raise GroupError(f"{path} is not a run group (no {GROUP_FILE})")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
        if data.get("kind") != "group":
            raise ValueError("'kind' is not 'group'")
        seeds = tuple(int(s) for s in data["seeds"])
        if not seeds or len(set(seeds)) != len(seeds):
            raise ValueError("'seeds' must be a non-empty list of distinct integers")
        return RunGroup(path=path, name=str(data["name"]), env_id=str(data["env_id"]),
                        algo=str(data["algo"]), seeds=seeds, cell=dict(data.get("cell") or {}))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise GroupError(f"{file} is damaged: {exc}") from None
