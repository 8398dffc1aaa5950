"""hlynr/Intercept-v0: radar-guided interception of a manoeuvring threat (3-DOF, SI units).

:mod:`hlynr.builtins` registers the gymnasium id, its parameter model, its batched vectoriser
and the ``radar_kalman`` wrapper.
"""

from __future__ import annotations

from hlynr.envs.intercept.core import TERMINATION_REASONS, InterceptCore, SensorSettings
from hlynr.envs.intercept.env import InterceptEnv
from hlynr.envs.intercept.observation import OBS_DIM, OBS_FIELDS, OBS_SLICES
from hlynr.envs.intercept.params import SCENARIOS, InterceptParams, RewardParams, ScenarioParams
from hlynr.envs.intercept.radar_kalman import (
    RadarKalmanParams, RadarKalmanVecWrapper, RadarKalmanWrapper,
)
from hlynr.envs.intercept.vec_env import BatchedInterceptVecEnv, make_batched

ENV_ID = "hlynr/Intercept-v0"

__all__ = [
    "ENV_ID", "OBS_DIM", "OBS_FIELDS", "OBS_SLICES", "SCENARIOS", "TERMINATION_REASONS",
    "BatchedInterceptVecEnv", "InterceptCore", "InterceptEnv", "InterceptParams", "RadarKalmanParams",
    "RadarKalmanVecWrapper", "RadarKalmanWrapper", "RewardParams", "ScenarioParams", "SensorSettings",
    "make_batched",
]
