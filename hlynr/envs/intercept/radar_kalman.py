"""The ``radar_kalman`` wrapper: the policy sees only its own state and a radar/Kalman track.

Two forms with identical observations for the same seeds (both install the same batched
pipeline into the engine, :class:`~hlynr.envs.intercept.core.InterceptCore`):

* :class:`RadarKalmanWrapper`, a gymnasium wrapper for a single ``InterceptEnv``;
* :class:`RadarKalmanVecWrapper`, an SB3 ``VecEnvWrapper`` for ``BatchedInterceptVecEnv``.

``mode: radar`` (default): seeker radar (range, field of view, range-dependent detection
probability, range/angle noise, update rate, delay; parameters from the scenario) feeding a
CV or CA Kalman filter that predicts every step and updates on each detection; observations and
the action frame come from the estimate only. ``mode: truth``: the true threat state in the same
layout (debugging and the truth-fed upper-bound baseline). Apply it before the first reset.
"""

from __future__ import annotations

from typing import Any, Literal

import gymnasium as gym
import numpy as np
from pydantic import Field
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper
from stable_baselines3.common.vec_env.base_vec_env import VecEnvStepReturn

from hlynr.config.base import StrictModel
from hlynr.envs.intercept.core import SensorSettings
from hlynr.envs.intercept.env import InterceptEnv
from hlynr.envs.intercept.vec_env import BatchedInterceptVecEnv
from hlynr.registries import WrapContext


class RadarKalmanParams(StrictModel):
    """Radar + Kalman observation: ``mode`` radar|truth, ``filter`` cv|ca, optional ``process_noise``.

    ``process_noise`` (m/s^2): CV acceleration 1-sigma, or CA per-step acceleration change
    1-sigma; default 0.75 x (CV) / 0.3 x (CA) the scenario's threat manoeuvre level.
    """

    mode: Literal["radar", "truth"] = "radar"
    filter: Literal["cv", "ca"] = "cv"
    process_noise: float | None = Field(None, gt=0)

    def settings(self) -> SensorSettings:
        """The engine's sensor settings."""
        return SensorSettings(mode=self.mode, filter=self.filter, process_noise=self.process_noise)


class RadarKalmanWrapper(gym.Wrapper[np.ndarray, np.ndarray, np.ndarray, np.ndarray]):
    """Gymnasium form of ``radar_kalman`` for one ``InterceptEnv``."""

    def __init__(self, env: gym.Env, params: RadarKalmanParams | None = None) -> None:
        super().__init__(env)
        base = env.unwrapped
        if not isinstance(base, InterceptEnv):
            raise TypeError(f"radar_kalman needs hlynr/Intercept-v0, got {type(base).__name__}")
        self.params = params or RadarKalmanParams()
        base.set_sensor(self.params.settings())


class RadarKalmanVecWrapper(VecEnvWrapper):
    """VecEnv form of ``radar_kalman`` for ``BatchedInterceptVecEnv``."""

    def __init__(self, venv: VecEnv, params: RadarKalmanParams | None = None) -> None:
        super().__init__(venv)
        base = venv.unwrapped
        if not isinstance(base, BatchedInterceptVecEnv):
            raise TypeError(
                "radar_kalman (vec form) needs the batched hlynr/Intercept-v0 VecEnv as the first "
                f"vec-level wrapper's input, got {type(base).__name__}"
            )
        self.params = params or RadarKalmanParams()
        base.set_sensor(self.params.settings())

    def reset(self) -> np.ndarray:
        """Reset the wrapped envs."""
        return self.venv.reset()

    def step_wait(self) -> VecEnvStepReturn:
        """Step the wrapped envs."""
        return self.venv.step_wait()


def wrap_env(env: gym.Env, p: RadarKalmanParams, ctx: WrapContext) -> gym.Env:
    return RadarKalmanWrapper(env, p)


def wrap_vec(venv: VecEnv, p: RadarKalmanParams, ctx: WrapContext) -> VecEnv:
    return RadarKalmanVecWrapper(venv, p)


__all__: list[Any] = ["RadarKalmanParams", "RadarKalmanVecWrapper", "RadarKalmanWrapper", "wrap_env", "wrap_vec"]
