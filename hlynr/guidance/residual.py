"""The ``residual_guidance`` wrapper: the policy learns a correction on top of a guidance law.

Residual policy learning: at every step the env receives ``clip(baseline(obs) + scale * action,
-1, 1)``, where ``baseline`` is a registered guidance baseline (:data:`BASELINES`, e.g. ``pn``)
evaluated on the same observation the policy sees. A policy whose mean action is zero therefore
flies the baseline exactly, and training starts from the baseline's performance instead of
from scratch. ``correction_cost`` takes ``correction_cost * mean(action**2)`` (the mean over the
action's components, in the policy's units) off every row's reward: a pull toward the baseline,
so the learner keeps a correction only where it pays more than it costs. It changes the reward the
learner sees (and the episode return the run's evaluations report), never the env's metrics.
The baseline sees only what the policy sees (the sensor path of the config), so no privileged
information reaches the commands::

    env:
      id: hlynr/Intercept-v0
      kwargs: {scenario: manoeuvring, sensor: {filter: ca}}
    wrappers:
      - residual_guidance: {baseline: pn, params: {N: 6}}
      - frame_stack: {n_stack: 4}
      - normalize: {}

It must come before learner preprocessing (``frame_stack``, ``normalize``), because the
baseline needs the raw observation. It is a learner wrapper: baselines scored by
``evaluate.py`` never see it. A baseline that changes the env's parameters when scored
(``apn`` needs ``sensor: {filter: ca}``, ``truth_pn`` needs ``sensor: {mode: truth}``) is only
accepted if the config's own ``env.kwargs`` already have those settings, so a residual policy
can never be fed the true target state through its baseline.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field, ValidationInfo, field_validator
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper
from stable_baselines3.common.vec_env.base_vec_env import VecEnvObs, VecEnvStepReturn

from hlynr.config.base import StrictModel
from hlynr.config.env_params_checks import baseline_env_problem
from hlynr.registries import (
    BASELINES,
    WRAPPERS,
    ChecksChain,
    Policy,
    UnknownNameError,
    WrapContext,
)

NAME = "residual_guidance"


class ResidualGuidanceParams(StrictModel, ChecksChain):
    """Residual policy: the env receives ``clip(baseline(obs) + scale * action, -1, 1)``.

    ``baseline``: a registered guidance baseline (e.g. ``pn``); ``params``: its parameters
    (e.g. ``{N: 6}``); ``scale``: the authority of the learned correction (1 = the full action range);
    ``correction_cost``: reward taken off per step per unit of the mean squared correction.
    """

    baseline: str
    params: dict[str, Any] = Field(default_factory=dict)
    scale: float = Field(1.0, gt=0, le=2)
    correction_cost: float = Field(0.0, ge=0, le=10)

    @field_validator("baseline")
    @classmethod
    def _known_baseline(cls, name: str) -> str:
        try:
            BASELINES.get(name)
        except UnknownNameError as exc:  # a KeyError: pydantic reports only ValueErrors
            raise ValueError(str(exc)) from None
        return name

    @field_validator("params")
    @classmethod
    def _baseline_params(cls, params: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        name = info.data.get("baseline")
        if name is None:  # the baseline name itself failed; that error is reported
            return params
        return BASELINES.get(name).params.model_validate(params).model_dump()

    def check_in_chain(self, config: Any, index: int) -> tuple[tuple[Any, ...], str] | None:
        """Problem with this wrapper's place in ``config.wrappers`` (``(key path, message)``), or None."""
        entry = BASELINES.get(self.baseline)
        if config.env.id not in entry.env_ids:
            return ("baseline",), (f"baseline '{self.baseline}' drives {', '.join(entry.env_ids)}, "
                                   f"not {config.env.id}")
        before = config.wrappers[:index]
        for spec in before:
            if WRAPPERS.get(spec.name).env is None:
                return (), (f"{NAME} needs the raw observation: put it before '{spec.name}' "
                            "(before the learner preprocessing)")
        problem = baseline_env_problem(entry, config)
        if problem:
            return ("baseline",), (f"baseline '{self.baseline}' {problem}; a residual policy "
                                   "acts through the config's own sensor path")
        return None


def _array_obs(obs: VecEnvObs) -> np.ndarray:
    """``obs`` if it is one array (the baselines read Box observations), else ``TypeError``."""
    if not isinstance(obs, np.ndarray):
        raise TypeError(f"{NAME} needs array observations, got {type(obs).__name__}")
    return obs


class ResidualGuidanceVecWrapper(VecEnvWrapper):
    """Adds ``baseline(last observation)`` to the policy's actions (VecEnv form)."""

    def __init__(self, venv: VecEnv, baseline: Policy, scale: float = 1.0,
                 correction_cost: float = 0.0) -> None:
        super().__init__(venv)
        self.baseline, self.scale, self.correction_cost = baseline, float(scale), float(correction_cost)
        self._obs: np.ndarray | None = None
        self._cost: np.ndarray | float = 0.0

    def reset(self) -> np.ndarray:
        """Reset and remember the observation the first commands are computed from."""
        self._obs = _array_obs(self.venv.reset())
        return self._obs

    def step_async(self, actions: np.ndarray) -> None:
        """Send ``clip(baseline(obs) + scale * actions, -1, 1)`` to the wrapped envs."""
        if self._obs is None:
            raise RuntimeError(f"{NAME}: reset the environment before stepping it")
        base, _ = self.baseline.predict(self._obs, deterministic=True)
        correction = np.asarray(actions, dtype=np.float64).reshape(base.shape)
        command = np.clip(base + self.scale * correction, -1.0, 1.0)
        if self.correction_cost > 0.0:
            squares = np.square(correction).reshape(len(correction), -1)
            self._cost = self.correction_cost * squares.mean(axis=1)
        self.venv.step_async(command.astype(np.float32))

    def step_wait(self) -> VecEnvStepReturn:
        """Step; the returned observations (after automatic resets) drive the next commands."""
        obs, rewards, dones, infos = self.venv.step_wait()
        self._obs = _array_obs(obs)
        if self.correction_cost > 0.0:
            rewards = (rewards - self._cost).astype(rewards.dtype, copy=False)
        return obs, rewards, dones, infos


def wrap_vec(venv: VecEnv, p: ResidualGuidanceParams, ctx: WrapContext) -> VecEnv:
    policy = BASELINES.get(p.baseline).policy(venv.observation_space, venv.action_space, p.params)
    return ResidualGuidanceVecWrapper(venv, policy, p.scale, p.correction_cost)
