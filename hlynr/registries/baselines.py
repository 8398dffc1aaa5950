"""Registry of scripted baseline policies: evaluation rows, residual guidance and teachers.

A baseline acts like an SB3 model on a VecEnv: ``predict(obs, state=None, episode_start=None,
deterministic=True) -> (actions, state)`` over a batch of observations. It sees the observation
of the environment *with its env-level wrappers only* (e.g. the sensor model), never the
vec-level ones meant for learners (``frame_stack``, ``normalize``), so it acts through the same
sensor path as the agent. ``wrapper_overrides`` lets an upper-bound baseline change a wrapper's
parameters (e.g. a truth-fed PN sets ``radar_kalman: {mode: truth}``).
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
    wrapper_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)

    def policy(self, observation_space: Any, action_space: Any,
               params: dict[str, Any] | None = None) -> Policy:
        """The baseline acting on these spaces, with ``params`` validated by its parameter model."""
        return self.factory(observation_space, action_space, self.params.model_validate(params or {}))


BASELINES: Registry[BaselineEntry] = Registry("baseline")
