"""hlynr/Intercept-v0: radar-guided interception of a manoeuvring threat (3-DOF, SI units).

Importing this package registers the gymnasium id, its parameter model (``ENV_PARAMS``), its
batched vectoriser (``BATCHED_ENVS``) and the ``radar_kalman`` wrapper.
"""

from __future__ import annotations

import gymnasium

from hlynr.envs.intercept.core import TERMINATION_REASONS, InterceptCore, SensorSettings
from hlynr.envs.intercept.env import InterceptEnv
from hlynr.envs.intercept.observation import OBS_DIM, OBS_FIELDS, OBS_SLICES
from hlynr.envs.intercept.params import SCENARIOS, InterceptParams, RewardParams, ScenarioParams
from hlynr.envs.intercept.radar_kalman import (
    RadarKalmanParams, RadarKalmanVecWrapper, RadarKalmanWrapper, register as _register_wrapper,
)
from hlynr.envs.intercept.vec_env import BatchedInterceptVecEnv, make_batched
from hlynr.envs.registries import BATCHED_ENVS, ENV_PARAMS

ENV_ID = "hlynr/Intercept-v0"

if ENV_ID not in gymnasium.registry:
    gymnasium.register(ENV_ID, entry_point="hlynr.envs.intercept.env:InterceptEnv")
if ENV_ID not in ENV_PARAMS:
    ENV_PARAMS.register(ENV_ID, InterceptParams)
if ENV_ID not in BATCHED_ENVS:
    BATCHED_ENVS.register(ENV_ID, make_batched)
_register_wrapper()

__all__ = [
    "ENV_ID", "OBS_DIM", "OBS_FIELDS", "OBS_SLICES", "SCENARIOS", "TERMINATION_REASONS",
    "BatchedInterceptVecEnv", "InterceptCore", "InterceptEnv", "InterceptParams", "RadarKalmanParams",
    "RadarKalmanVecWrapper", "RadarKalmanWrapper", "RewardParams", "ScenarioParams", "SensorSettings",
    "make_batched",
]
