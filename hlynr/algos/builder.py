"""Build or load the SB3 model a config describes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from gymnasium import spaces
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.noise import NormalActionNoise, OrnsteinUhlenbeckActionNoise
from stable_baselines3.common.vec_env import VecEnv

from hlynr.algos.registry import (
    ALGORITHMS, ActionNoiseSpec, hyperparams_model, policy_kwargs_model, to_python_kwargs,
)
from hlynr.config.schema import ExperimentConfig


class BuildError(Exception):
    """The config is valid but cannot be realised with this env (e.g. SAC on discrete actions)."""


def check_action_space(config: ExperimentConfig, action_space: spaces.Space) -> None:
    """Fail clearly when the algorithm cannot act on the env's action space."""
    entry = ALGORITHMS.get(config.algo.name)
    if not isinstance(action_space, entry.action_spaces):
        supported = ", ".join(s.__name__ for s in entry.action_spaces)
        raise BuildError(
            f"{config.algo.name} cannot act on {config.env.id}: its action space is "
            f"{type(action_space).__name__}, {config.algo.name} supports {supported}")


def algorithm_kwargs(config: ExperimentConfig, action_space: spaces.Space) -> dict[str, Any]:
    """Constructor arguments from the validated hyperparameters and policy kwargs."""
    name, policy = config.algo.name, config.algo.policy or ALGORITHMS.get(config.algo.name).default_policy
    hp = hyperparams_model(name).model_validate(config.algo.hyperparams)
    kwargs = {k: getattr(hp, k) for k in hp.model_fields_set}
    noise = kwargs.pop("action_noise", None)
    if isinstance(noise, ActionNoiseSpec):
        dim = int(np.prod(action_space.shape))
        mean, sigma = np.zeros(dim), noise.sigma * np.ones(dim)
        kwargs["action_noise"] = (NormalActionNoise(mean, sigma) if noise.type == "normal"
                                  else OrnsteinUhlenbeckActionNoise(mean, sigma, theta=noise.theta))
    pk = policy_kwargs_model(name, policy).model_validate(config.algo.policy_kwargs)
    policy_kwargs = to_python_kwargs({k: getattr(pk, k) for k in pk.model_fields_set})
    if policy_kwargs:
        kwargs["policy_kwargs"] = policy_kwargs
    return kwargs


def build_model(
    config: ExperimentConfig, venv: VecEnv, tensorboard_log: Path | None = None,
) -> BaseAlgorithm:
    """A fresh model for ``config`` on ``venv``."""
    check_action_space(config, venv.action_space)
    entry = ALGORITHMS.get(config.algo.name)
    cls = entry.load()
    return cls(
        config.algo.policy or entry.default_policy, venv,
        seed=config.seed, device=config.device, verbose=0,
        tensorboard_log=str(tensorboard_log) if tensorboard_log else None,
        **algorithm_kwargs(config, venv.action_space),
    )


def load_model(
    config: ExperimentConfig, path: Path, venv: VecEnv | None = None, device: str | None = None,
) -> BaseAlgorithm:
    """Load a saved model of ``config``'s algorithm (optionally attached to ``venv``)."""
    cls = ALGORITHMS.get(config.algo.name).load()
    if venv is not None:
        check_action_space(config, venv.action_space)
    return cls.load(str(path), env=venv, device=device or config.device)
