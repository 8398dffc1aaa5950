"""Guidance baselines registered in :data:`hlynr.registries.BASELINES`.

Each baseline is an SB3-like policy over a batch of raw ``hlynr/Intercept-v0`` observations
(the env's own sensor, no frame stack or normalisation):

* ``pure_pursuit``: turn onto the estimated LOS (radar-fed);
* ``pn``: proportional navigation with configurable N' (on the config's sensor);
* ``apn``: augmented PN fed by the constant-acceleration filter (sets ``sensor: {filter: ca}``);
* ``ogl``: the optimal guidance law against a first-order autopilot lag, fed by the
  constant-acceleration filter (sets ``sensor: {filter: ca}``);
* ``ogl_imm``: the same law on an IMM track (sets ``sensor: {filter: imm}``; the models are the
  config's ``sensor.imm`` or the defaults);
* ``truth_pn``: PN on the true threat state, an upper bound (sets ``sensor: {mode: truth}``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
from pydantic import Field

from hlynr.config.base import StrictModel
from hlynr.envs.intercept import ENV_ID
from hlynr.envs.intercept.observation import OBS_DIM
from hlynr.guidance.laws import augmented_pn, optimal_guidance, proportional_navigation, pure_pursuit
from hlynr.registries import BaselineEntry


class PursuitParams(StrictModel):
    """Pure pursuit: lateral acceleration ``gain * V_M * sin(lead angle)`` (gain in 1/s)."""

    gain: float = Field(5.0, gt=0, le=20)


class PNParams(StrictModel):
    """Proportional navigation with effective navigation ratio ``N`` (typically 3-5)."""

    N: float = Field(4.0, gt=0, le=10)


class OGLParams(StrictModel):
    """Optimal guidance law (:func:`~hlynr.guidance.laws.optimal_guidance`).

    ``N``: navigation ratio at long time-to-go (3: the optimum; the lag-compensated gain is
    scaled by ``N / 3``); ``tau``: the autopilot lag the law assumes (s; 0: none); ``target_tau``:
    time constant of the target's manoeuvre (s; unset: constant over the time-to-go).
    """

    N: float = Field(3.0, gt=0, le=10)
    tau: float = Field(0.1, ge=0, le=5)
    target_tau: float | None = Field(None, gt=0, le=100)


class NoParams(StrictModel):
    """A baseline without parameters."""


class ConstantParams(StrictModel):
    """A fixed command: lateral acceleration per axis of the estimated-LOS frame, in [-1, 1]."""

    command: tuple[float, float] = (1.0, 0.0)


class GuidancePolicy:
    """An SB3-like deterministic policy applying ``law(obs)`` to a batch of observations."""

    def __init__(self, law: Callable[[np.ndarray], np.ndarray], observation_space: gym.Space,
                 action_space: gym.Space) -> None:
        shape = getattr(observation_space, "shape", None)
        if shape != (OBS_DIM,):
            raise ValueError(
                f"guidance baselines need raw {ENV_ID} observations of shape ({OBS_DIM},), got {shape}; "
                "do not put frame_stack/normalize in front of a baseline"
            )
        self.law, self.observation_space, self.action_space = law, observation_space, action_space

    def predict(self, observation: np.ndarray, state: tuple[np.ndarray, ...] | None = None,
                episode_start: np.ndarray | None = None, deterministic: bool = True,
                ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        """Commands for a batch ``(n, OBS_DIM)`` (or one observation), clipped to [-1, 1]."""
        obs = np.asarray(observation, dtype=np.float64)
        single = obs.ndim == 1
        act = np.clip(self.law(obs.reshape(-1, OBS_DIM)), -1.0, 1.0).astype(np.float32)
        return (act[0] if single else act), state


def _factory(law: Callable[[np.ndarray, Any], np.ndarray]) -> Callable[[gym.Space, gym.Space, Any], GuidancePolicy]:
    def make(observation_space: gym.Space, action_space: gym.Space, params: Any) -> GuidancePolicy:
        return GuidancePolicy(lambda obs: law(obs, params), observation_space, action_space)
    return make


INTERCEPT_BASELINES: dict[str, BaselineEntry] = {
    "pure_pursuit": BaselineEntry(
        PursuitParams, _factory(lambda o, p: pure_pursuit(o, p.gain)), (ENV_ID,), {}),
    "pn": BaselineEntry(
        PNParams, _factory(lambda o, p: proportional_navigation(o, p.N)), (ENV_ID,), {}),
    "apn": BaselineEntry(
        PNParams, _factory(lambda o, p: augmented_pn(o, p.N)), (ENV_ID,),
        {"sensor": {"filter": "ca"}}),
    "ogl": BaselineEntry(
        OGLParams, _factory(lambda o, p: optimal_guidance(o, p.N, p.tau, p.target_tau)), (ENV_ID,),
        {"sensor": {"filter": "ca"}}),
    "ogl_imm": BaselineEntry(
        OGLParams, _factory(lambda o, p: optimal_guidance(o, p.N, p.tau, p.target_tau)), (ENV_ID,),
        {"sensor": {"filter": "imm"}}),
    "truth_pn": BaselineEntry(
        PNParams, _factory(lambda o, p: proportional_navigation(o, p.N)), (ENV_ID,),
        {"sensor": {"mode": "truth"}}),
    # No-free-lunch references: a good env gives these (almost) no intercepts.
    "zero": BaselineEntry(
        NoParams, _factory(lambda o, p: np.zeros((len(o), 2))), (ENV_ID,), {}),
    "constant_turn": BaselineEntry(
        ConstantParams, _factory(lambda o, p: np.tile(p.command, (len(o), 1))), (ENV_ID,), {}),
}
