"""Every built-in component of hlynr, registered once (on ``import hlynr``) from this one place.

Read this module to see every name a config can use: algorithms, activations, optimizers,
environments (Gymnasium ids, batched vectorisers, PettingZoo envs), wrappers, callbacks and
scripted baselines. Third-party components register the same way, into
:mod:`hlynr.registries`.
"""

from __future__ import annotations

import importlib.metadata
import warnings
from typing import Any

import gymnasium
import torch
from gymnasium import spaces
from stable_baselines3 import HerReplayBuffer
from stable_baselines3.common.buffers import DictReplayBuffer, ReplayBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.sb2_compat.rmsprop_tf_like import RMSpropTFLike
from stable_baselines3.common.torch_layers import (
    BaseFeaturesExtractor,
    CombinedExtractor,
    FlattenExtractor,
    NatureCNN,
)
from stable_baselines3.common.vec_env import VecEnvWrapper

from hlynr import callbacks as cb
from hlynr.algos import attention
from hlynr.config import components
from hlynr.envs import atc, intercept, swarm, wrappers
from hlynr.envs.atc.mvp import ATC_BASELINES
from hlynr.envs.swarm.baselines import SWARM_BASELINES
from hlynr.guidance import residual
from hlynr.guidance.baselines import INTERCEPT_BASELINES
from hlynr.registries import (
    ACTIVATIONS,
    ALGORITHMS,
    BASELINES,
    BATCHED_ENVS,
    CALLBACKS,
    ENV_PARAMS,
    FEATURES_EXTRACTORS,
    OPTIMIZERS,
    PETTINGZOO_ENVS,
    REPLAY_BUFFERS,
    WRAPPERS,
    AlgorithmEntry,
    CallbackEntry,
    PettingZooEntry,
    WrapperEntry,
)

_ANY_SPACE = (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary)
_ON_POLICY: dict[str, Any] = dict(action_spaces=_ANY_SPACE, entropy_coef=True)
_CONTINUOUS: dict[str, Any] = dict(action_spaces=(spaces.Box,), off_policy=True)
_DISCRETE: dict[str, Any] = dict(action_spaces=(spaces.Discrete,), off_policy=True)

_ALGORITHMS = {
    "PPO": AlgorithmEntry("stable_baselines3:PPO", "MlpPolicy", **_ON_POLICY),
    "A2C": AlgorithmEntry("stable_baselines3:A2C", "MlpPolicy", **_ON_POLICY),
    "TRPO": AlgorithmEntry("sb3_contrib:TRPO", "MlpPolicy", action_spaces=_ANY_SPACE),
    "SAC": AlgorithmEntry("stable_baselines3:SAC", "MlpPolicy", **_CONTINUOUS),
    "TD3": AlgorithmEntry("stable_baselines3:TD3", "MlpPolicy", **_CONTINUOUS),
    "DDPG": AlgorithmEntry("stable_baselines3:DDPG", "MlpPolicy", **_CONTINUOUS),
    "TQC": AlgorithmEntry("sb3_contrib:TQC", "MlpPolicy", **_CONTINUOUS),
    "CrossQ": AlgorithmEntry("sb3_contrib:CrossQ", "MlpPolicy", **_CONTINUOUS),
    "DQN": AlgorithmEntry("stable_baselines3:DQN", "MlpPolicy", **_DISCRETE),
    "QRDQN": AlgorithmEntry("sb3_contrib:QRDQN", "MlpPolicy", **_DISCRETE),
    "MAPPO": AlgorithmEntry("hlynr.algos.centralised:MAPPO", "MlpPolicy", centralised_critic=True,
                            **_ON_POLICY),
    "AsymmetricPPO": AlgorithmEntry("hlynr.algos.centralised:MAPPO", "MlpPolicy",
                                    centralised_critic=True, **_ON_POLICY),
    "RecurrentMAPPO": AlgorithmEntry("hlynr.algos.centralised:RecurrentMAPPO", "MlpLstmPolicy",
                                     recurrent=True, centralised_critic=True, **_ON_POLICY),
    "AsymmetricRecurrentPPO": AlgorithmEntry("hlynr.algos.centralised:RecurrentMAPPO", "MlpLstmPolicy",
                                             recurrent=True, centralised_critic=True, **_ON_POLICY),
    "RecurrentPPO": AlgorithmEntry("hlynr.algos.recurrent_ppo:RecurrentPPO", "MlpLstmPolicy",
                                   recurrent=True, **_ON_POLICY),
    "sb3_contrib.RecurrentPPO": AlgorithmEntry("sb3_contrib:RecurrentPPO", "MlpLstmPolicy",
                                               recurrent=True, **_ON_POLICY),
}

_ACTIVATIONS = {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU, "elu": torch.nn.ELU,
                "leaky_relu": torch.nn.LeakyReLU, "gelu": torch.nn.GELU, "silu": torch.nn.SiLU,
                "selu": torch.nn.SELU, "mish": torch.nn.Mish}
_OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW,
               "rmsprop": torch.optim.RMSprop, "sgd": torch.optim.SGD,
               "rmsprop_tf_like": RMSpropTFLike}

_REPLAY_BUFFERS = {"ReplayBuffer": ReplayBuffer, "DictReplayBuffer": DictReplayBuffer,
                   "HerReplayBuffer": HerReplayBuffer}
_FEATURES_EXTRACTORS = {"FlattenExtractor": FlattenExtractor, "NatureCNN": NatureCNN,
                        "CombinedExtractor": CombinedExtractor,
                        "attention": attention.AttentionExtractor}

_WRAPPERS = {
    "time_limit": WrapperEntry(wrappers.TimeLimitParams, env=wrappers.time_limit),
    "mask_observation": WrapperEntry(wrappers.MaskObservationParams, env=wrappers.mask_observation),
    "residual_guidance": WrapperEntry(residual.ResidualGuidanceParams, vec=residual.wrap_vec),
    "frame_stack": WrapperEntry(wrappers.FrameStackParams, vec=wrappers.frame_stack),
    "normalize": WrapperEntry(wrappers.NormalizeParams, vec=wrappers.normalize),
}


def _needs_entropy_coef(algo: AlgorithmEntry) -> str | None:
    return None if algo.entropy_coef else "it has no fixed entropy coefficient to schedule"


_CALLBACKS = {
    "evaluation": CallbackEntry(cb.EvaluationParams, cb.EvaluationCallback),
    "best_model": CallbackEntry(cb.BestModelParams, cb.BestModelSaver, needs_evaluation=True),
    "checkpoint": CallbackEntry(cb.CheckpointParams, cb.PeriodicCheckpoint),
    "early_stopping": CallbackEntry(cb.EarlyStoppingParams, cb.EarlyStopping, needs_evaluation=True),
    "success_streak": CallbackEntry(cb.SuccessStreakParams, cb.SuccessStreak, needs_evaluation=True),
    "entropy_schedule": CallbackEntry(cb.EntropyScheduleParams, cb.EntropySchedule,
                                      applies_to=_needs_entropy_coef),
    "curriculum": CallbackEntry(cb.CurriculumParams, cb.Curriculum),
    "collapse_guard": CallbackEntry(cb.CollapseGuardParams, cb.CollapseGuard, needs_evaluation=True),
}


def _register_envs() -> None:
    gymnasium.register(intercept.ENV_ID, entry_point="hlynr.envs.intercept.env:InterceptEnv")
    ENV_PARAMS.register(intercept.ENV_ID, intercept.InterceptParams)
    BATCHED_ENVS.register(intercept.ENV_ID, intercept.make_batched)
    PETTINGZOO_ENVS.register(swarm.ENV_ID, PettingZooEntry(swarm.make_swarm_env, swarm.SwarmParams))
    BATCHED_ENVS.register(swarm.ENV_ID, swarm.make_batched_swarm)
    for stage in swarm.STAGES:
        PETTINGZOO_ENVS.register(f"hlynr/Swarm-{stage}-v0",
                                 PettingZooEntry(swarm.stage_factory(stage), swarm.SwarmParams))
        BATCHED_ENVS.register(f"hlynr/Swarm-{stage}-v0", swarm.batched_stage_factory(stage))
    PETTINGZOO_ENVS.register(atc.ENV_ID, PettingZooEntry(atc.make_atc_env, atc.ATCParams))
    BATCHED_ENVS.register(atc.ENV_ID, atc.make_batched_atc)


_RETIRED_WRAPPERS = {
    "radar_kalman": "the sensor is part of the env: remove 'radar_kalman' from wrappers and write "
                    "its settings under env.kwargs.sensor, e.g. sensor: {mode: radar, filter: ca}",
}


PLUGIN_GROUP = "hlynr.components"
"""Entry point group through which an installed package adds named components."""

PLUGINS: dict[str, str] = {}
"""Components registered from installed plugins: name -> ``distribution: module:attribute``."""


def register_plugin(name: str, obj: Any, value: str) -> None:
    """Register one ``hlynr.components`` entry point under its name.

    A class is registered by its kind (wrapper, vec-env wrapper, callback, replay buffer,
    features extractor, Gymnasium env id); any other callable is a ``register()`` function,
    called once to fill the registries itself.
    """
    if isinstance(obj, type):
        if issubclass(obj, (gymnasium.Wrapper, VecEnvWrapper)):
            WRAPPERS.register(name, components.user_wrapper(value))
        elif issubclass(obj, BaseCallback):
            CALLBACKS.register(name, components.user_callback(value))
        elif issubclass(obj, ReplayBuffer):
            REPLAY_BUFFERS.register(name, obj)
        elif issubclass(obj, BaseFeaturesExtractor):
            FEATURES_EXTRACTORS.register(name, obj)
        elif issubclass(obj, gymnasium.Env):
            gymnasium.register(name, entry_point=value)
        else:
            raise ValueError(f"{value} is not a component class hlynr knows how to register")
    elif callable(obj):
        obj()
    else:
        raise ValueError(f"{value} is neither a component class nor a register() function")


def load_plugins() -> None:
    """Register the components of every installed ``hlynr.components`` entry point.

    A plugin that fails to load is reported as a warning and skipped: configs naming its
    components then fail as unknown names.
    """
    for ep in importlib.metadata.entry_points(group=PLUGIN_GROUP):
        try:
            register_plugin(ep.name, ep.load(), ep.value)
            PLUGINS[ep.name] = f"{ep.dist.name if ep.dist else '?'}: {ep.value}"
        except Exception as exc:  # a broken plugin must not break hlynr itself
            warnings.warn(f"hlynr plugin '{ep.name}' ({ep.value}) was not loaded: "
                          f"{type(exc).__name__}: {exc}", stacklevel=2)


def register_builtins() -> None:
    """Fill the registries with hlynr's own components (runs once, on ``import hlynr``)."""
    for table, registry in ((_ALGORITHMS, ALGORITHMS), (_ACTIVATIONS, ACTIVATIONS),
                            (_OPTIMIZERS, OPTIMIZERS), (_WRAPPERS, WRAPPERS),
                            (_CALLBACKS, CALLBACKS), (INTERCEPT_BASELINES, BASELINES),
                            (SWARM_BASELINES, BASELINES), (ATC_BASELINES, BASELINES),
                            (_REPLAY_BUFFERS, REPLAY_BUFFERS),
                            (_FEATURES_EXTRACTORS, FEATURES_EXTRACTORS)):
        for name, item in table.items():
            registry.register(name, item)
    for name, hint in _RETIRED_WRAPPERS.items():
        WRAPPERS.retire(name, hint)
    for registry, resolver in ((WRAPPERS, components.user_wrapper),
                               (CALLBACKS, components.user_callback),
                               (REPLAY_BUFFERS, components.user_replay_buffer),
                               (FEATURES_EXTRACTORS, components.user_features_extractor)):
        registry.set_resolver(resolver)
    _register_envs()


register_builtins()
load_plugins()
