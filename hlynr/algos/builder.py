"""Build or load the SB3 model a config describes."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium import spaces
from stable_baselines3 import HerReplayBuffer
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.noise import NormalActionNoise, OrnsteinUhlenbeckActionNoise
from stable_baselines3.common.vec_env import VecEnv

from hlynr.config.imports import is_path
from hlynr.config.schema import ExperimentConfig
from hlynr.config.signatures import ActionNoiseSpec, policy_class
from hlynr.registries import (
    ACTIVATIONS,
    ALGORITHMS,
    FEATURES_EXTRACTORS,
    OPTIMIZERS,
    REPLAY_BUFFERS,
    entity_layout_of,
)


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


GOAL_KEYS = ("observation", "achieved_goal", "desired_goal")


def check_goal_env(config: ExperimentConfig, venv: VecEnv) -> None:
    """``HerReplayBuffer`` needs a goal-conditioned env: dict observations with goal keys."""
    name = config.algo.hyperparams.get("replay_buffer_class")
    if name is None or not issubclass(REPLAY_BUFFERS.get(name), HerReplayBuffer):
        return
    space = venv.observation_space
    keys = list(space.spaces) if isinstance(space, spaces.Dict) else []
    if not set(GOAL_KEYS) <= set(keys):
        raise BuildError(f"{name} needs a goal-conditioned env whose observations are a Dict "
                         f"with keys {', '.join(GOAL_KEYS)}; {config.env.id} observes "
                         f"{keys or type(space).__name__}")
    try:
        venv.get_attr("compute_reward", [0])
    except AttributeError:
        raise BuildError(f"{name} needs compute_reward(achieved_goal, desired_goal, info) on "
                         f"{config.env.id}") from None


def algorithm_kwargs(config: ExperimentConfig, action_space: spaces.Space) -> dict[str, Any]:
    """Constructor arguments from the validated hyperparameters and policy kwargs."""
    kwargs = config.algo.hyperparam_values()
    noise = kwargs.pop("action_noise", None)
    if isinstance(noise, ActionNoiseSpec):
        assert action_space.shape is not None, "action noise needs a fixed-shape action space"
        dim = int(np.prod(action_space.shape))
        mean, sigma = np.zeros(dim), noise.sigma * np.ones(dim)
        kwargs["action_noise"] = (NormalActionNoise(mean, sigma) if noise.type == "normal"
                                  else OrnsteinUhlenbeckActionNoise(mean, sigma, theta=noise.theta))
    if kwargs.get("replay_buffer_class") is not None:
        kwargs["replay_buffer_class"] = REPLAY_BUFFERS.get(kwargs["replay_buffer_class"])
    policy_kwargs = to_python_kwargs(config.algo.policy_kwarg_values())
    if policy_kwargs:
        kwargs["policy_kwargs"] = policy_kwargs
    return kwargs


def to_python_kwargs(values: dict[str, Any]) -> dict[str, Any]:
    """Policy kwargs as constructor arguments: registry names become the classes they name."""
    out = dict(values)
    for key, registry in (("activation_fn", ACTIVATIONS), ("optimizer_class", OPTIMIZERS),
                          ("features_extractor_class", FEATURES_EXTRACTORS)):
        if out.get(key) is not None:
            out[key] = registry.get(out[key])
        else:
            out.pop(key, None)
    return out


def _with_layout(kwargs: dict[str, Any], venv: VecEnv, config: ExperimentConfig) -> dict[str, Any]:
    """Give an extractor that reads entity slots the env's declared layout (unless configured)."""
    policy_kwargs = kwargs.get("policy_kwargs", {})
    name = config.algo.policy_kwargs.get("features_extractor_class")
    if name is None or "layout" not in inspect.signature(FEATURES_EXTRACTORS.get(name)).parameters:
        return kwargs
    fe_kwargs = policy_kwargs.setdefault("features_extractor_kwargs", {})
    if "layout" not in fe_kwargs:
        layout = entity_layout_of(venv)
        if layout is None:
            raise BuildError(f"features extractor '{name}' needs an entity layout: {config.env.id} "
                             "declares no entity_layout")
        fe_kwargs["layout"] = {"own_size": layout.own_size, "slot_size": layout.slot_size,
                               "slots": layout.slots, "valid_index": layout.valid_index}
    return kwargs


def _algorithm_class(name: str) -> type[BaseAlgorithm]:
    """The SB3 algorithm class registered as ``name``."""
    cls = ALGORITHMS.get(name).load()
    if not issubclass(cls, BaseAlgorithm):
        raise BuildError(f"algorithm {name} is registered as {cls!r}, not an SB3 algorithm class")
    return cls


def build_model(
    config: ExperimentConfig, venv: VecEnv, tensorboard_log: Path | None = None,
) -> BaseAlgorithm:
    """A fresh model for ``config`` on ``venv``."""
    check_action_space(config, venv.action_space)
    check_goal_env(config, venv)
    cls = _algorithm_class(config.algo.name)
    name = config.algo.policy or ALGORITHMS.get(config.algo.name).default_policy
    policy: str | type = policy_class(config.algo.name, name) if is_path(name) else name
    return cls(
        policy, venv,
        seed=config.seed, device=config.device, verbose=0,
        tensorboard_log=str(tensorboard_log) if tensorboard_log else None,
        **_with_layout(algorithm_kwargs(config, venv.action_space), venv, config),
    )


def load_model(
    config: ExperimentConfig, path: Path, venv: VecEnv | None = None, device: str | None = None,
) -> BaseAlgorithm:
    """Load a saved model of ``config``'s algorithm (optionally attached to ``venv``)."""
    cls = _algorithm_class(config.algo.name)
    if venv is not None:
        check_action_space(config, venv.action_space)
    return cls.load(str(path), env=venv, device=device or config.device)
