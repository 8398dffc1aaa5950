"""Every built-in component of hlynr, registered once (on ``import hlynr``) from this one place.

Read this module to see every name a config can use: algorithms, activations, optimizers,
environments (Gymnasium ids, batched vectorisers, PettingZoo envs), wrappers, callbacks and
scripted baselines. Third-party components register the same way, into
:mod:`hlynr.registries`.
"""

from __future__ import annotations

from typing import Any

import gymnasium
import torch
from gymnasium import spaces

from hlynr import callbacks as cb
from hlynr.algos import attention
from hlynr.envs import intercept, swarm, wrappers
from hlynr.envs.intercept import radar_kalman
from hlynr.envs.swarm.baselines import SWARM_BASELINES
from hlynr.guidance import residual
from hlynr.guidance.baselines import INTERCEPT_BASELINES
from hlynr.registries import (
    ACTIVATIONS, ALGORITHMS, BASELINES, BATCHED_ENVS, CALLBACKS, ENV_PARAMS, FEATURES_EXTRACTORS,
    OPTIMIZERS, PETTINGZOO_ENVS, WRAPPERS, AlgorithmEntry, CallbackEntry, FeaturesExtractorEntry,
    PettingZooEntry, WrapperEntry,
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
    "RecurrentPPO": AlgorithmEntry("hlynr.algos.recurrent_ppo:RecurrentPPO", "MlpLstmPolicy",
                                   recurrent=True, **_ON_POLICY),
    "sb3_contrib.RecurrentPPO": AlgorithmEntry("sb3_contrib:RecurrentPPO", "MlpLstmPolicy",
                                               recurrent=True, **_ON_POLICY),
}

_ACTIVATIONS = {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU, "elu": torch.nn.ELU,
                "leaky_relu": torch.nn.LeakyReLU, "gelu": torch.nn.GELU, "silu": torch.nn.SiLU,
                "selu": torch.nn.SELU, "mish": torch.nn.Mish}
_FEATURES_EXTRACTORS = {
    "attention": FeaturesExtractorEntry(attention.AttentionExtractor, attention.AttentionParams,
                                        needs_layout=True),
}
_OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW,
               "rmsprop": torch.optim.RMSprop, "sgd": torch.optim.SGD}

_WRAPPERS = {
    "time_limit": WrapperEntry(wrappers.TimeLimitParams, env=wrappers.time_limit),
    "mask_observation": WrapperEntry(wrappers.MaskObservationParams, env=wrappers.mask_observation),
    "radar_kalman": WrapperEntry(radar_kalman.RadarKalmanParams, env=radar_kalman.wrap_env,
                                 vec=radar_kalman.wrap_vec),
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
    for stage in swarm.STAGES:
        PETTINGZOO_ENVS.register(f"hlynr/Swarm-{stage}-v0",
                                 PettingZooEntry(swarm.stage_factory(stage), swarm.SwarmParams))


def register_builtins() -> None:
    """Fill the registries with hlynr's own components (runs once, on ``import hlynr``)."""
    for table, registry in ((_ALGORITHMS, ALGORITHMS), (_ACTIVATIONS, ACTIVATIONS),
                            (_OPTIMIZERS, OPTIMIZERS), (_WRAPPERS, WRAPPERS),
                            (_FEATURES_EXTRACTORS, FEATURES_EXTRACTORS),
                            (_CALLBACKS, CALLBACKS), (INTERCEPT_BASELINES, BASELINES),
                            (SWARM_BASELINES, BASELINES)):
        for name, item in table.items():
            registry.register(name, item)
    _register_envs()


register_builtins()
