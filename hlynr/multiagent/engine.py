"""The protocol of a batched multi-agent engine behind :class:`~hlynr.multiagent.rows.AgentRowsVecEnv`.

An engine steps ``n_copies`` copies of a team task with ``rows_per_copy`` agent slots each, all
as NumPy arrays. Every slot stays in the episode until its copy's team episode ends (black death
inside the engine: inactive or lost slots get zero observations and rewards), so a copy is a
fixed block of rows and all its rows end together. The engine never resets a copy on its own:
the VecEnv resets finished copies after reading their final observations.

A *global state* for a centralised critic is optional: an engine that offers one has a
``critic_observation_space`` (one Box per agent row) and returns rows from
:meth:`AgentRowsEngine.critic_observations`; otherwise ``critic_observation_space`` is ``None``.
Critic rows may carry privileged information (true states of every agent and of the opponent);
only a critic reads them, never the acting policy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
from gymnasium import spaces

from hlynr.registries import EntityLayout


@dataclass
class RowsStep:
    """One step of every copy: per-row ``obs`` (N, R, *obs) and ``reward`` (N, R); per-copy
    ``terminated``/``truncated`` (N,), ``team_reward`` (N,) (the team's return increment) and
    ``stats`` (N, len(end_keys)) (end-of-episode values, read for finished copies only);
    per-row ``active`` (N, R): the row has a live agent after the step (inactive slots and lost
    agents are False: their observations are zeros and their actions change nothing).

    An observation row (``obs`` here, and the rows ``reset`` returns) is all zeros exactly when it
    has no live agent: a live agent's row is never all zeros (its own block carries an active
    flag). :class:`~hlynr.multiagent.rows.AgentRowsVecEnv` reads which rows carry an agent from
    this, also for the rows of a finished copy (its terminal observations)."""

    obs: np.ndarray
    reward: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    team_reward: np.ndarray
    stats: np.ndarray
    active: np.ndarray


@runtime_checkable
class AgentRowsEngine(Protocol):
    """What :class:`~hlynr.multiagent.rows.AgentRowsVecEnv` needs from a batched team engine."""

    n_copies: int
    rows_per_copy: int
    observation_space: spaces.Box
    action_space: spaces.Box
    critic_observation_space: spaces.Box | None
    entity_layout: EntityLayout | None
    """Own block and entity slots of an observation row (for attention extractors), or None."""
    end_keys: tuple[str, ...]
    """Names of the ``stats`` columns; a key ``is_success`` is reported as a bool."""

    def seed(self, idx: np.ndarray, seeds: Sequence[int]) -> None:
        """Seed copies ``idx``: their next episodes follow from ``seeds`` alone."""

    def reset(self, idx: np.ndarray) -> np.ndarray:
        """Start new episodes in copies ``idx``; their observations (len(idx), R, *obs)."""

    def step(self, actions: np.ndarray) -> RowsStep:
        """Step every copy with ``actions`` (N, R, *act); finished copies are not reset."""

    def critic_observations(self, idx: np.ndarray | None = None) -> np.ndarray:
        """Critic rows (len(idx) or N, R, *critic) of the current state (only if offered)."""

    def check_params(self, idx: np.ndarray, params: dict[str, Any]) -> None:
        """Raise ``ValueError`` if copies ``idx`` cannot take ``params``."""

    def apply_params(self, idx: np.ndarray, params: dict[str, Any]) -> None:
        """Give copies ``idx`` the parameter changes ``params`` from their next reset."""

    def models(self, idx: np.ndarray) -> list[Any]:
        """The parameter models of copies ``idx``."""


class PendingParams:
    """Per-copy parameter models for an engine; a change takes effect at the copy's next reset.

    Gives an engine the ``check_params``/``apply_params``/``models`` part of
    :class:`AgentRowsEngine`; the engine calls :meth:`_init_params` once and
    :meth:`_take_pending` when it resets copies. Parameter models have ``updated(**changes)``
    (a validated copy with the changes, ``ValueError`` naming a bad key or value).
    """

    _models: list[Any]
    _pending: dict[int, Any]

    def _init_params(self, models: Sequence[Any]) -> None:
        self._models = list(models)
        self._pending = {}

    def _updated(self, i: int, params: dict[str, Any]) -> Any:
        return self._pending.get(i, self._models[i]).updated(**params)

    def check_params(self, idx: np.ndarray, params: dict[str, Any]) -> None:
        """Validate ``params`` for copies ``idx`` (``ValueError`` naming a bad key or value)."""
        for i in np.asarray(idx, dtype=int):
            self._updated(int(i), params)

    def apply_params(self, idx: np.ndarray, params: dict[str, Any]) -> None:
        """Copies ``idx`` take ``params`` at their next reset (validated first, all or none)."""
        new = {int(i): self._updated(int(i), params) for i in np.asarray(idx, dtype=int)}
        self._pending.update(new)

    def models(self, idx: np.ndarray) -> list[Any]:
        """The parameters of copies ``idx`` in effect (pending changes not included)."""
        return [self._models[int(i)] for i in idx]

    def _take_pending(self, idx: np.ndarray) -> list[int]:
        """Put the pending changes of copies ``idx`` in effect; the copies that changed."""
        changed = [int(i) for i in np.asarray(idx, dtype=int) if int(i) in self._pending]
        for i in changed:
            self._models[i] = self._pending.pop(i)
        return changed

