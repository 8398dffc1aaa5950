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
    ``stats`` (N, len(end_keys)) (end-of-episode values, read for finished copies only)."""

    obs: np.ndarray
    reward: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    team_reward: np.ndarray
    stats: np.ndarray


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
