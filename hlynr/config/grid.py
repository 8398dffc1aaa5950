"""The cells of a ``grid:``: configs crossed key by key, each checked before anything runs.

A config with ``seeds:`` is a run group: one ordinary run per seed (:mod:`hlynr.config.seeds`).
``grid`` maps config key paths to the values to cross, e.g. ``{algo.name: [PPO, A2C]}``; each
combination (a *cell*) is the config with those values written at their paths, and each cell is
a run group of the seeds. A grid is valid only if every cell is a valid config:
:func:`check_grid` validates them all (each section, then the checks across sections) when the
config is loaded, before anything runs.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hlynr.config.checks import validation_lines
from hlynr.config.key_paths import set_path
from hlynr.config.loader import ConfigError, dotted, where_written
from hlynr.config.schema import ExperimentConfig, dump_config
from hlynr.config.seeds import GROUP_KEYS


@dataclass(frozen=True)
class Cell:
    """One combination of a grid: its index, the values it sets, and its config as plain data
    (without ``seeds`` and ``grid``)."""

    index: int
    values: dict[str, Any]
    data: dict[str, Any]

    def label(self) -> str:
        """``algo.name = 'A2C', env.kwargs.stage = 'advanced'``."""
        return ", ".join(f"{k} = {v!r}" for k, v in self.values.items())


def group_config_data(config: ExperimentConfig) -> dict[str, Any]:
    """The config of each run of a group, as plain data: the resolved config without the keys
    that make it a group (a run sets ``seed`` only)."""
    data = dump_config(config)
    for key in GROUP_KEYS:
        data.pop(key, None)
    return data


def grid_cells(config: ExperimentConfig) -> list[Cell]:
    """Every cell of ``config``'s grid, in order (the last key changes fastest); one cell, the
    config itself, without a grid. The data is not validated here (:func:`check_grid` does);
    :class:`ConfigError` if a key path cannot be written into the config."""
    return [_cell(config, i, values) for i, values in enumerate(_combinations(config))]


def _combinations(config: ExperimentConfig) -> list[dict[str, Any]]:
    grid = config.grid or {}
    return [dict(zip(grid, combo)) for combo in itertools.product(*grid.values())]


def _cell(config: ExperimentConfig, index: int, values: dict[str, Any]) -> Cell:
    data = group_config_data(config)
    if "algo.name" in values and "algo.policy" not in values \
            and config.algo.policy == config.algo.entry.default_policy:
        data["algo"].pop("policy", None)  # each algorithm gets its own default policy
    for key, value in values.items():
        set_path(data, key, copy.deepcopy(value))
    return Cell(index, values, data)


def check_grid(config: ExperimentConfig, source: str = "<config>",
               origins: Mapping[tuple[Any, ...], tuple[str, int | None]] | None = None) -> None:
    """Validate every cell of ``config``'s grid as a config; raise one :class:`ConfigError`
    naming each invalid cell, its values and the keys that are wrong in it."""
    if config.grid is None:
        return
    combinations = _combinations(config)
    where = where_written(("grid",), dict(origins or {}), source)
    problems = []
    for index, values in enumerate(combinations):
        try:
            errors = validation_lines(_cell(config, index, values).data)
        except ConfigError as exc:  # a key path that cannot be written into this config
            errors = [str(exc)]
        if errors:
            label = Cell(index, values, {}).label()
            problems.append(f"  {where}: {dotted(('grid',))}: cell {index} ({label}) gives an "
                            "invalid config:\n      " + "\n      ".join(errors))
    if problems:
        raise ConfigError(f"invalid grid in {source} ({len(problems)} of {len(combinations)} "
                          "cells invalid; nothing was run):\n" + "\n".join(problems))


__all__ = ["Cell", "check_grid", "grid_cells", "group_config_data"]
