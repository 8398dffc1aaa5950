"""Registry of scripted baseline policies: evaluation rows, residual guidance and teachers.

A baseline acts like an SB3 model on a VecEnv: ``predict(obs, state=None, episode_start=None,
deterministic=True) -> (actions, state)`` over a batch of observations. It sees the observation
of the environment *with its task wrappers only* (e.g. ``time_limit``), never the vec-level
ones meant for learners (``frame_stack``, ``normalize``), so it acts through the same sensor
path as the agent. ``env_overrides`` lets a baseline change sections of the env's parameters
(e.g. a truth-fed PN sets ``sensor: {mode: truth}``, APN ``sensor: {filter: ca}``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from pydantic import BaseModel

from hlynr.registries.base import Registry


class Policy(Protocol):
    """The part of an SB3 model's interface that evaluation uses."""

    def predict(
        self,
        observation: np.ndarray,
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]: ...


@dataclass(frozen=True)
class BaselineEntry:
    """A named baseline: parameter model, factory, and the envs/wrapper settings it needs."""

    params: type[BaseModel]
    factory: Callable[[Any, Any, Any], Policy]
    """``factory(observation_space, action_space, params) -> Policy``."""
    env_ids: tuple[str, ...]
    """Gymnasium ids / PettingZoo names this baseline can drive."""
    env_overrides: dict[str, Any] = field(default_factory=dict)
    """Entries merged into ``env.kwargs`` when the baseline is scored (a mapping value is merged
    into the section of that name, e.g. ``{"sensor": {"mode": "truth"}}``)."""

    def policy(self, observation_space: Any, action_space: Any,
               params: dict[str, Any] | None = None) -> Policy:
        """The baseline acting on these spaces, with ``params`` validated by its parameter model."""
        return self.factory(observation_space, action_space, self.params.model_validate(params or {}))


BASELINES: Registry[BaselineEntry] = Registry("baseline")
