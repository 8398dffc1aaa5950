"""Per-copy parameters of the batched swarm engine: one array per parameter, addressed by name.

Every env copy has its own validated :class:`~hlynr.envs.swarm.params.SwarmParams` (a curriculum
may move copies to a new stage one by one); the engine reads them as arrays with one entry per
copy (``table.kill_radius`` is ``(n_copies,)``, ``table.start_box`` ``(n_copies, 4)``), so every
constant of the model is a parameter and all copies step in one batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from hlynr.envs.swarm.params import SwarmParams

_SKIPPED = frozenset({"stage", "evasion", "approach_credit", "filter_accel_std"})


def _row(model: SwarmParams) -> dict[str, Any]:
    """The numeric entries of one copy: every field, with literals as numbers and derived values."""
    row = {k: v for k, v in model.model_dump().items() if k not in _SKIPPED}
    row["evasion_level"] = model.evasion_level
    row["team_credit"] = model.approach_credit == "team"
    row["sigma_a"] = model.sigma_a
    return row


class ParamTable:
    """Arrays of every parameter over env copies (``table.<name>``), rebuilt when a copy changes."""

    def __init__(self, models: Sequence[SwarmParams]) -> None:
        if not models:
            raise ValueError("a parameter table needs at least one env copy")
        fixed = {(m.max_agents, m.k_neighbours) for m in models}
        if len(fixed) > 1:
            raise ValueError("every env copy must have the same max_agents and k_neighbours")
        self.models: list[SwarmParams] = list(models)
        self._arrays: dict[str, np.ndarray] = {}
        self._build()

    def _build(self) -> None:
        rows = [_row(m) for m in self.models]
        self._set({k: np.array([r[k] for r in rows]) for k in rows[0]})

    def _set(self, arrays: dict[str, np.ndarray]) -> None:
        self._arrays = arrays
        self.__dict__.update(arrays)  # plain attributes: the engine reads them every step

    def __getattr__(self, name: str) -> np.ndarray:
        raise AttributeError(f"no swarm parameter '{name}'")

    def __len__(self) -> int:
        return len(self.models)

    def set_models(self, idx: Sequence[int], models: Sequence[SwarmParams]) -> None:
        """Replace the parameters of copies ``idx``."""
        for i, m in zip(idx, models):
            self.models[int(i)] = m
        self._build()

    def take(self, idx: np.ndarray) -> ParamTable:
        """The table of copies ``idx`` (a new table sharing nothing with this one)."""
        part = object.__new__(ParamTable)
        part.models = [self.models[int(i)] for i in idx]
        part._set({k: v[idx] for k, v in self._arrays.items()})
        return part

    def __getstate__(self) -> dict[str, Any]:
        return {"models": self.models}

    def __setstate__(self, state: dict[str, Any]) -> None:
        ParamTable.__init__(self, state["models"])
