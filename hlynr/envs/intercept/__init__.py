"""hlynr/Intercept-v0: radar-guided interception of a manoeuvring threat (3-DOF, SI units).

Importing this package registers the gymnasium id, its parameter model (``ENV_PARAMS``) and its
batched vectoriser (``BATCHED_ENVS``). The sensor is part of the env's parameters
(``env.kwargs.sensor``, :class:`SensorParams`).
"""

from __future__ import annotations

import gymnasium

from hlynr.envs.intercept.core import TERMINATION_REASONS, InterceptCore
from hlynr.envs.intercept.env import InterceptEnv
from hlynr.envs.intercept.observation import OBS_DIM, OBS_FIELDS, OBS_SLICES
from hlynr.envs.intercept.params import (
    SCENARIOS, InterceptParams, Maneuver, RewardParams, ScenarioParams, SensorParams,
)
from hlynr.envs.intercept.reward import Reason
from hlynr.envs.intercept.vec_env import BatchedInterceptVecEnv, make_batched
from hlynr.envs.registries import BATCHED_ENVS, ENV_PARAMS
from hlynr.envs.wrappers import WRAPPERS

ENV_ID = "hlynr/Intercept-v0"

if ENV_ID not in gymnasium.registry:
    gymnasium.register(ENV_ID, entry_point="hlynr.envs.intercept.env:InterceptEnv")
if ENV_ID not in ENV_PARAMS:
    ENV_PARAMS.register(ENV_ID, InterceptParams)
if ENV_ID not in BATCHED_ENVS:
    BATCHED_ENVS.register(ENV_ID, make_batched)
WRAPPERS.retire("radar_kalman", "the sensor is part of the env: remove 'radar_kalman' from "
                "wrappers and write its settings under env.kwargs.sensor, e.g. "
                "sensor: {mode: radar, filter: ca}")

__all__ = [
    "ENV_ID", "OBS_DIM", "OBS_FIELDS", "OBS_SLICES", "SCENARIOS", "TERMINATION_REASONS",
    "BatchedInterceptVecEnv", "InterceptCore", "InterceptEnv", "InterceptParams", "Maneuver", "Reason",
    "RewardParams", "ScenarioParams", "SensorParams", "make_batched",
]
