"""Parsing the ``seeds:`` and ``grid:`` keys of a config (their cells: :mod:`hlynr.config.grid`).

``seeds`` is a list of integers or a text of items and ranges (``"0-4"``, ``"0-2,7"``, ``"3"``);
a bare number is refused (seed 3, or 3 seeds?). ``grid`` maps config key paths to the values to cross.
"""

from __future__ import annotations

import json
from typing import Any

from hlynr.config.key_paths import split_path

MAX_SEEDS = 1000
MAX_CELLS = 1000
SEED_LIMIT = 2**31
GROUP_KEYS = ("seeds", "grid")
"""Top-level keys that make a config a run group (left out of each run's config)."""
NOT_GRIDDED = {"seed": "the seeds are the group's other dimension: use seeds:",
               "seeds": "the group's seeds", "grid": "the grid itself", "name": "the run name",
               "runs_dir": "where runs go", "tune": "the tune section"}


def parse_seeds(value: Any) -> list[int]:
    """The seeds of a ``seeds:`` value: a list of integers, or a text of items ``A`` and ranges
    ``A-B`` separated by commas; ``ValueError`` says what is wrong."""
    if isinstance(value, int) and not isinstance(value, bool):
        raise ValueError(f"a bare number is ambiguous: write [{value}] for seed {value}, or "
                         f"'0-{max(value - 1, 0)}' for {value} seeds")
    if isinstance(value, str):
        seeds = _seed_text(value)
    elif isinstance(value, list) and all(isinstance(s, int) and not isinstance(s, bool)
                                         for s in value):
        seeds = list(value)
    else:
        raise ValueError("seeds must be a list of seeds such as [0, 1, 2], or a text of seeds "
                         "and ranges such as '0-4' or '0-2,7'")
    if not seeds:
        raise ValueError("seeds is empty: list at least one seed")
    if len(seeds) > MAX_SEEDS:
        raise ValueError(f"{len(seeds)} seeds: at most {MAX_SEEDS} per group")
    bad = [s for s in seeds if not 0 <= s < SEED_LIMIT]
    if bad:
        raise ValueError(f"seed {bad[0]} is out of range: seeds are between 0 and 2**31 - 1")
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        raise ValueError(f"seed {repeated[0]} is listed more than once")
    return seeds


def _seed_text(text: str) -> list[int]:
    seeds: list[int] = []
    for item in text.split(","):
        low, dash, high = item.strip().partition("-")
        try:
            first = int(low)
            last = int(high) if dash else first
        except ValueError:
            raise ValueError(f"'{text}' is not a list of seeds: write '0-4', '0,2,5' or "
                             "'0-2,7'") from None
        if last < first:
            raise ValueError(f"the range '{item.strip()}' is empty: write it low-high")
        if last - first >= MAX_SEEDS:
            raise ValueError(f"the range '{item.strip()}' has {last - first + 1} seeds: at most "
                             f"{MAX_SEEDS} per group")
        seeds += range(first, last + 1)
    return seeds


def _key(value: Any) -> str:
    """A value as a comparable text (``True`` and ``1`` differ)."""
    return json.dumps([type(value).__name__, value], sort_keys=True, default=str)


def parse_grid(value: Any) -> dict[str, list[Any]]:
    """A ``grid:`` mapping, checked: key paths to non-empty lists of distinct values, no key
    inside another, none of :data:`NOT_GRIDDED`, at most :data:`MAX_CELLS` cells. Problems raise
    ``(message, key)`` as a ``ValueError``'s arguments."""
    if not isinstance(value, dict) or not value:
        raise ValueError("must map config key paths to lists of values, e.g. "
                         "{algo.name: [PPO, A2C]}", None)
    cells = 1
    for key, values in value.items():
        if not isinstance(key, str) or not key or any(not p for p in key.split(".")):
            raise ValueError(f"'{key}' is not a key path (write it like algo.hyperparams.gamma)", key)
        head = str(split_path(key)[0])
        if head in NOT_GRIDDED:
            raise ValueError(f"'{head}' cannot be a grid key: {NOT_GRIDDED[head]}", key)
        inside = [k for k in value if k != key and key.startswith(f"{k}.")]
        if inside:
            raise ValueError(f"'{key}' lies inside the grid key '{inside[0]}': cross one of them",
                             key)
        if not isinstance(values, list) or not values:
            raise ValueError("the values to cross must be a non-empty list", key)
        keys = [_key(v) for v in values]
        repeated = next((values[i] for i, k in enumerate(keys) if keys.index(k) != i), None)
        if len(set(keys)) != len(keys):
            raise ValueError(f"the value {repeated!r} is listed twice", key)
        cells *= len(values)
    if cells > MAX_CELLS:
        raise ValueError(f"the grid has {cells} cells: at most {MAX_CELLS}", None)
    return dict(value)


__all__ = ["GROUP_KEYS", "MAX_CELLS", "MAX_SEEDS", "NOT_GRIDDED", "parse_grid", "parse_seeds"]
