"""Every built-in component of hlynr, registered once (on ``import hlynr``) from this one place.

Read this module to see every name a config can use: algorithms, activations, optimizers,
environments (Gymnasium ids, batched vectorisers, PettingZoo envs), wrappers, callbacks and
scripted baselines. Third-party components register the same way, into
:mod:`hlynr.registries`.

Registration is lazy: each entry names the module and attribute that hold the component
(``"module:attribute"``, or a small loader for entries assembled from several attributes), and
that module, with what it imports (torch, SB3, an env engine), is imported only when the entry
is first looked up: when a config naming it is validated, or a run is built. Gymnasium ids are
registered with ``"module:Class"`` entry points, which Gymnasium imports on ``gymnasium.make``.
So ``import hlynr`` loads this module, :mod:`hlynr.registries` and Gymnasium, and nothing else of
hlynr, torch or SB3 (installed plugins aside: :func:`load_plugins` imports them).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import gymnasium
from gymnasium import spaces

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
    BaselineEntry,
    CallbackEntry,
    PettingZooEntry,
    WrapperEntry,
)
from hlynr.registries.base import Loader, load_object

_ANY_SPACE = (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary)
_ON_POLICY: dict[str, Any] = dict(action_spaces=_ANY_SPACE, entropy_coef=True)
_CONTINUOUS: dict[str, Any] = dict(action_spaces=(spaces.Box,), off_policy=True)
_HLYNR_OFF_POLICY: dict[str, Any] = dict(_CONTINUOUS, agent_rows=True)
_DISCRETE: dict[str, Any] = dict(action_spaces=(spaces.Discrete,), off_policy=True)

# An AlgorithmEntry is itself light: it imports its class only when asked (``entry.load()``).
_ALGORITHMS = {
    "PPO": AlgorithmEntry("hlynr.algos.ppo:PPO", "MlpPolicy", **_ON_POLICY),
    "stable_baselines3.PPO": AlgorithmEntry("stable_baselines3:PPO", "MlpPolicy", **_ON_POLICY),
    "A2C": AlgorithmEntry("stable_baselines3:A2C", "MlpPolicy", **_ON_POLICY),
    "TRPO": AlgorithmEntry("sb3_contrib:TRPO", "MlpPolicy", action_spaces=_ANY_SPACE),
    "SAC": AlgorithmEntry("hlynr.algos.offpolicy:SAC", "MlpPolicy", **_HLYNR_OFF_POLICY),
    "stable_baselines3.SAC": AlgorithmEntry("stable_baselines3:SAC", "MlpPolicy", **_CONTINUOUS),
    "TD3": AlgorithmEntry("hlynr.algos.offpolicy:TD3", "MlpPolicy", **_HLYNR_OFF_POLICY),
    "stable_baselines3.TD3": AlgorithmEntry("stable_baselines3:TD3", "MlpPolicy", **_CONTINUOUS),
    "DDPG": AlgorithmEntry("stable_baselines3:DDPG", "MlpPolicy", **_CONTINUOUS),
    "TQC": AlgorithmEntry("hlynr.algos.offpolicy:TQC", "MlpPolicy", **_HLYNR_OFF_POLICY),
    "sb3_contrib.TQC": AlgorithmEntry("sb3_contrib:TQC", "MlpPolicy", **_CONTINUOUS),
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

_ACTIVATIONS = {"tanh": "torch.nn:Tanh", "relu": "torch.nn:ReLU", "elu": "torch.nn:ELU",
                "leaky_relu": "torch.nn:LeakyReLU", "gelu": "torch.nn:GELU", "silu": "torch.nn:SiLU",
                "selu": "torch.nn:SELU", "mish": "torch.nn:Mish"}
_OPTIMIZERS = {"adam": "torch.optim:Adam", "adamw": "torch.optim:AdamW",
               "rmsprop": "torch.optim:RMSprop", "sgd": "torch.optim:SGD",
               "rmsprop_tf_like": "stable_baselines3.common.sb2_compat.rmsprop_tf_like:RMSpropTFLike"}

_REPLAY_BUFFERS = {"ReplayBuffer": "stable_baselines3.common.buffers:ReplayBuffer",
                   "DictReplayBuffer": "stable_baselines3.common.buffers:DictReplayBuffer",
                   "HerReplayBuffer": "stable_baselines3:HerReplayBuffer",
                   "RowReplayBuffer": "hlynr.algos.offpolicy.row_buffer:RowReplayBuffer"}
_FEATURES_EXTRACTORS = {"FlattenExtractor": "stable_baselines3.common.torch_layers:FlattenExtractor",
                        "NatureCNN": "stable_baselines3.common.torch_layers:NatureCNN",
                        "CombinedExtractor": "stable_baselines3.common.torch_layers:CombinedExtractor",
                        "attention": "hlynr.algos.attention:AttentionExtractor"}


def _wrapper(module: str, params: str, *, env: str | None = None,
             vec: str | None = None) -> Callable[[], WrapperEntry]:
    """The loader of a wrapper entry whose parameter model and apply functions live in ``module``."""
    def load() -> WrapperEntry:
        m = importlib.import_module(module)
        return WrapperEntry(getattr(m, params), env=getattr(m, env) if env else None,
                            vec=getattr(m, vec) if vec else None)

    return load


_WRAPPERS = {
    "time_limit": _wrapper("hlynr.envs.wrappers", "TimeLimitParams", env="time_limit"),
    "mask_observation": _wrapper("hlynr.envs.wrappers", "MaskObservationParams", env="mask_observation"),
    "residual_guidance": _wrapper("hlynr.guidance.residual", "ResidualGuidanceParams", vec="wrap_vec"),
    "frame_stack": _wrapper("hlynr.envs.wrappers", "FrameStackParams", vec="frame_stack"),
    "normalize": _wrapper("hlynr.envs.wrappers", "NormalizeParams", vec="normalize"),
}


def _needs_entropy_coef(algo: AlgorithmEntry) -> str | None:
    return None if algo.entropy_coef else "it has no fixed entropy coefficient to schedule"


def _callback(params: str, build: str, **meta: Any) -> Callable[[], CallbackEntry]:
    """The loader of a callback entry: parameter model and class from :mod:`hlynr.callbacks`."""
    def load() -> CallbackEntry:
        m = importlib.import_module("hlynr.callbacks")
        return CallbackEntry(getattr(m, params), getattr(m, build), **meta)

    return load


_CALLBACKS = {
    "evaluation": _callback("EvaluationParams", "EvaluationCallback"),
    "best_model": _callback("BestModelParams", "BestModelSaver", needs_evaluation=True),
    "checkpoint": _callback("CheckpointParams", "PeriodicCheckpoint"),
    "early_stopping": _callback("EarlyStoppingParams", "EarlyStopping", needs_evaluation=True),
    "success_streak": _callback("SuccessStreakParams", "SuccessStreak", needs_evaluation=True),
    "time_budget": _callback("TimeBudgetParams", "TimeBudget"),
    "entropy_schedule": _callback("EntropyScheduleParams", "EntropySchedule",
                                  applies_to=_needs_entropy_coef),
    "curriculum": _callback("CurriculumParams", "Curriculum"),
    "collapse_guard": _callback("CollapseGuardParams", "CollapseGuard", needs_evaluation=True),
    "replay": _callback("ReplayParams", "ReplayRecorder", needs_evaluation=True),
}

_BASELINE_TABLES: dict[str, tuple[str, ...]] = {
    "hlynr.guidance.baselines:INTERCEPT_BASELINES": ("pure_pursuit", "pn", "apn", "ogl", "ogl_imm", "truth_pn",
                                                    "zero", "constant_turn"),
    "hlynr.envs.swarm.baselines:SWARM_BASELINES": ("swarm_intercept_point",),
    "hlynr.envs.atc.mvp:ATC_BASELINES": ("mvp", "direct"),
}
"""Each module's table of baselines (``name -> BaselineEntry``) and the names it holds."""


def _table_item(table: str, name: str) -> Callable[[], BaselineEntry]:
    """The loader of entry ``name`` of the ``"module:TABLE"`` dict."""
    return lambda: load_object(table)[name]


INTERCEPT_ID = "hlynr/Intercept-v0"
SWARM_ID = "hlynr/Swarm-v0"
SWARM_STAGES = ("basic", "intermediate", "advanced")
"""The stage presets of :data:`hlynr.envs.swarm.STAGES`, each an id ``hlynr/Swarm-{stage}-v0``."""
ATC_ID = "hlynr/ATC-v0"


def _pettingzoo(factory: str, params: str, stage: str | None = None) -> Callable[[], PettingZooEntry]:
    """The loader of a PettingZoo entry (a swarm ``stage``: that stage preset's factory)."""
    def load() -> PettingZooEntry:
        make = load_object(factory)
        if stage is not None:
            make = make(stage)
        return PettingZooEntry(make, load_object(params))

    return load


def _swarm_stage_batched(stage: str) -> Callable[[], Any]:
    return lambda: load_object("hlynr.envs.swarm:batched_stage_factory")(stage)


def _register_envs() -> None:
    gymnasium.register(INTERCEPT_ID, entry_point="hlynr.envs.intercept.env:InterceptEnv")
    ENV_PARAMS.register_lazy(INTERCEPT_ID, "hlynr.envs.intercept.params:InterceptParams")
    BATCHED_ENVS.register_lazy(INTERCEPT_ID, "hlynr.envs.intercept.vec_env:make_batched")
    PETTINGZOO_ENVS.register_lazy(SWARM_ID, _pettingzoo("hlynr.envs.swarm:make_swarm_env",
                                                        "hlynr.envs.swarm.params:SwarmParams"))
    BATCHED_ENVS.register_lazy(SWARM_ID, "hlynr.envs.swarm.vec_env:make_batched_swarm")
    for stage in SWARM_STAGES:
        PETTINGZOO_ENVS.register_lazy(f"hlynr/Swarm-{stage}-v0", _pettingzoo(
            "hlynr.envs.swarm:stage_factory", "hlynr.envs.swarm.params:SwarmParams", stage))
        BATCHED_ENVS.register_lazy(f"hlynr/Swarm-{stage}-v0", _swarm_stage_batched(stage))
    PETTINGZOO_ENVS.register_lazy(ATC_ID, _pettingzoo("hlynr.envs.atc.env:make_atc_env",
                                                      "hlynr.envs.atc.params:ATCParams"))
    BATCHED_ENVS.register_lazy(ATC_ID, "hlynr.envs.atc.rows:make_batched_atc")


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
    # Imported here, not on ``import hlynr``: only a plugin class needs SB3's base classes.
    from stable_baselines3.common.buffers import ReplayBuffer
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
    from stable_baselines3.common.vec_env import VecEnvWrapper

    from hlynr.config import components

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
    """Fill the registries with hlynr's own components (runs once, on ``import hlynr``).

    Every entry but the algorithms' (themselves lazy) is registered with
    :meth:`~hlynr.registries.Registry.register_lazy`: its module is imported on first lookup.
    """
    for name, algo in _ALGORITHMS.items():
        ALGORITHMS.register(name, algo)
    tables: list[tuple[Mapping[str, Loader[Any]], Any]] = [
        (_ACTIVATIONS, ACTIVATIONS), (_OPTIMIZERS, OPTIMIZERS), (_WRAPPERS, WRAPPERS),
        (_CALLBACKS, CALLBACKS), (_REPLAY_BUFFERS, REPLAY_BUFFERS),
        (_FEATURES_EXTRACTORS, FEATURES_EXTRACTORS),
        ({name: _table_item(table, name) for table, names in _BASELINE_TABLES.items() for name in names},
         BASELINES),
    ]
    for table, registry in tables:
        for name, loader in table.items():
            registry.register_lazy(name, loader)
    for name, hint in _RETIRED_WRAPPERS.items():
        WRAPPERS.retire(name, hint)
    for registry, resolver in ((WRAPPERS, "user_wrapper"), (CALLBACKS, "user_callback"),
                               (REPLAY_BUFFERS, "user_replay_buffer"),
                               (FEATURES_EXTRACTORS, "user_features_extractor")):
        registry.set_resolver(f"hlynr.config.components:{resolver}")
    _register_envs()


register_builtins()
load_plugins()
