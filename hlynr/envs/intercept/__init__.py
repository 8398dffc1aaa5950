"""hlynr/Intercept-v0: radar-guided interception of a manoeuvring threat (3-DOF, SI units).

:mod:`hlynr.builtins` registers the gymnasium id, its parameter model and its batched
vectoriser. The sensor is part of the env's parameters
(``env.kwargs.sensor``, :class:`SensorParams`).
"""

from __future__ import annotations

from hlynr.envs.intercept.core import TERMINATION_REASONS, InterceptCore
from hlynr.envs.intercept.env import InterceptEnv
from hlynr.envs.intercept.observation import OBS_DIM, OBS_FIELDS, OBS_SLICES
from hlynr.envs.intercept.params import (
    SCENARIOS,
    InterceptParams,
    Maneuver,
    RewardParams,
    ScenarioParams,
    SensorParams,
)
from hlynr.envs.intercept.reward import Reason
from hlynr.envs.intercept.vec_env import BatchedInterceptVecEnv, make_batched

ENV_ID = "hlynr/Intercept-v0"

__all__ = [
    "ENV_ID", "OBS_DIM", "OBS_FIELDS", "OBS_SLICES", "SCENARIOS", "TERMINATION_REASONS",
    "BatchedInterceptVecEnv", "InterceptCore", "InterceptEnv", "InterceptParams", "Maneuver", "Reason",
    "RewardParams", "ScenarioParams", "SensorParams", "make_batched",
]
