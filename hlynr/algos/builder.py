"""Build or load the SB3 model a config describes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from gymnasium import spaces
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.noise import NormalActionNoise, OrnsteinUhlenbeckActionNoise
from stable_baselines3.common.vec_env import VecEnv

from hlynr.config.schema import ExperimentConfig
from hlynr.config.signatures import ActionNoiseSpec
from hlynr.algos.attention import entity_layout_of
from hlynr.registries import ACTIVATIONS, ALGORITHMS, FEATURES_EXTRACTORS, OPTIMIZERS


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
    kwargs = config.algo.hyperparam_values()
    noise = kwargs.pop("action_noise", None)
    if isinstance(noise, ActionNoiseSpec):
        dim = int(np.prod(action_space.shape))
        mean, sigma = np.zeros(dim), noise.sigma * np.ones(dim)
        kwargs["action_noise"] = (NormalActionNoise(mean, sigma) if noise.type == "normal"
                                  else OrnsteinUhlenbeckActionNoise(mean, sigma, theta=noise.theta))
    policy_kwargs = to_python_kwargs(config.algo.policy_kwarg_values())
    if policy_kwargs:
        kwargs["policy_kwargs"] = policy_kwargs
    return kwargs


def to_python_kwargs(values: dict[str, Any]) -> dict[str, Any]:
    """Policy kwargs as constructor arguments: registry names become the classes they name."""
    out = dict(values)
    for key, registry in (("activation_fn", ACTIVATIONS), ("optimizer_class", OPTIMIZERS)):
        if out.get(key) is not None:
            out[key] = registry.get(out[key])
        else:
            out.pop(key, None)
    name = out.get("features_extractor_class")
    if name is not None:
        entry = FEATURES_EXTRACTORS.get(name)
        out["features_extractor_class"] = entry.cls
        params = entry.params.model_validate(out.get("features_extractor_kwargs") or {})
        out["features_extractor_kwargs"] = params.model_dump(exclude_none=True)
    else:
        out.pop("features_extractor_class", None)
    return out


def _with_layout(kwargs: dict[str, Any], venv: VecEnv, config: ExperimentConfig) -> dict[str, Any]:
    """Give an extractor that reads entity slots the env's declared layout (unless configured)."""
    policy_kwargs = kwargs.get("policy_kwargs", {})
    name = config.algo.policy_kwargs.get("features_extractor_class")
    if name is None or not FEATURES_EXTRACTORS.get(name).needs_layout:
        return kwargs
    fe_kwargs = policy_kwargs["features_extractor_kwargs"]
    if "layout" not in fe_kwargs:
        layout = entity_layout_of(venv)
        if layout is None:
            raise BuildError(f"features extractor '{name}' needs an entity layout: {config.env.id} "
                             "declares no entity_layout; set features_extractor_kwargs.layout")
        fe_kwargs["layout"] = {"own_size": layout.own_size, "slot_size": layout.slot_size,
                               "slots": layout.slots, "valid_index": layout.valid_index}
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
        **_with_layout(algorithm_kwargs(config, venv.action_space), venv, config),
    )


def load_model(
    config: ExperimentConfig, path: Path, venv: VecEnv | None = None, device: str | None = None,
) -> BaseAlgorithm:
    """Load a saved model of ``config``'s algorithm (optionally attached to ``venv``)."""
    cls = ALGORITHMS.get(config.algo.name).load()
    if venv is not None:
        check_action_space(config, venv.action_space)
    return cls.load(str(path), env=venv, device=device or config.device)
