"""Components named by ``module:Class``: user code validated like the built-ins.

A wrapper, vec-env wrapper, callback, replay buffer or features extractor may be named by an
explicit path (``mypkg.wrappers:ClipReward``). The class is imported while the config is
validated; it must be the right kind (a ``gymnasium.Wrapper`` or a ``VecEnvWrapper``, a
``BaseCallback``, a ``ReplayBuffer``, a ``BaseFeaturesExtractor``), and its keyword arguments are
validated against its constructor signature, like the parameters of a built-in. The resolvers
below turn a path into the registry entry the builders use; :mod:`hlynr.builtins` installs them.
Each imports the SB3 base class it checks against when it runs (a config names a user class),
so ``import hlynr.config`` loads neither SB3 nor torch.
"""

from __future__ import annotations

import inspect
from collections.abc import Collection
from functools import cache
from typing import TYPE_CHECKING, Any

import gymnasium as gym

from hlynr.config.base import StrictModel
from hlynr.config.imports import import_class
from hlynr.config.signatures import inherited_init, signature_model
from hlynr.registries import CallbackEntry, RunContext, WrapContext, WrapperEntry

if TYPE_CHECKING:
    from stable_baselines3.common.callbacks import BaseCallback

REPLAY_BUFFER_CONTROLLED = frozenset({
    "self", "buffer_size", "observation_space", "action_space", "device", "n_envs",
    "optimize_memory_usage", "env"})
"""Replay buffer arguments the algorithm passes itself (``env``: for ``HerReplayBuffer``)."""


class UserParams(StrictModel):
    """Keyword arguments of a user class, checked against its constructor signature.

    Only the arguments a config sets are passed on (and written to ``config.yaml``); the others
    keep the class's own defaults.
    """


def values(params: StrictModel) -> dict[str, Any]:
    """The validated arguments a config sets, as keyword arguments."""
    return {k: getattr(params, k) for k in params.model_fields_set}


@cache
def kwargs_model(cls: type, skip: Collection[str] = frozenset({"self"})) -> type[StrictModel]:
    """The validation model of ``cls``'s keyword arguments (``skip``: those passed by hlynr)."""
    return signature_model(f"{cls.__name__}Kwargs", inherited_init(cls), skip=skip, base=UserParams)


def _first_argument(cls: type) -> str:
    """The name of the constructor's first argument after ``self`` (the env a wrapper wraps)."""
    names = [n for n, p in inspect.signature(cls.__init__).parameters.items()
             if n != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
    if not names:
        raise ValueError(f"{cls.__name__} takes no env to wrap")
    return names[0]


def user_wrapper(path: str) -> WrapperEntry:
    """The wrapper entry of a ``gymnasium.Wrapper`` (env level) or ``VecEnvWrapper`` (vec level)."""
    from stable_baselines3.common.vec_env import VecEnvWrapper  # on use: SB3 loads torch

    cls = import_class(path, (gym.Wrapper, VecEnvWrapper), "gymnasium.Wrapper or VecEnvWrapper")
    params = kwargs_model(cls, frozenset({"self", _first_argument(cls)}))

    def apply(env: Any, p: StrictModel, ctx: WrapContext) -> Any:
        return cls(env, **values(p))

    if issubclass(cls, VecEnvWrapper):
        return WrapperEntry(params, vec=apply)
    return WrapperEntry(params, env=apply)


def user_callback(path: str) -> CallbackEntry:
    """The callback entry of a ``BaseCallback`` subclass, built with its configured arguments."""
    from stable_baselines3.common.callbacks import BaseCallback  # on use: SB3 loads torch

    cls = import_class(path, BaseCallback, "stable_baselines3 BaseCallback")

    def build(p: StrictModel, ctx: RunContext[Any]) -> BaseCallback:
        return cls(**values(p))

    return CallbackEntry(kwargs_model(cls), build)


def user_replay_buffer(path: str) -> type:
    """A ``ReplayBuffer`` subclass named by path."""
    from stable_baselines3.common.buffers import ReplayBuffer  # on use: SB3 loads torch

    return import_class(path, ReplayBuffer, "stable_baselines3 ReplayBuffer")


def user_features_extractor(path: str) -> type:
    """A ``BaseFeaturesExtractor`` subclass named by path."""
    from stable_baselines3.common.torch_layers import BaseFeaturesExtractor  # on use: SB3 loads torch

    return import_class(path, BaseFeaturesExtractor, "stable_baselines3 BaseFeaturesExtractor")


def validate_class_kwargs(cls: type, kwargs: Any, skip: Collection[str]) -> dict[str, Any]:
    """Validate a ``*_kwargs`` mapping against ``cls``'s signature; the data as written."""
    model = kwargs_model(cls, frozenset(skip))
    return model.model_validate(kwargs or {}).model_dump(mode="json", exclude_unset=True)


__all__ = ["REPLAY_BUFFER_CONTROLLED", "UserParams", "kwargs_model",
           "user_callback", "user_features_extractor", "user_replay_buffer", "user_wrapper",
           "validate_class_kwargs", "values"]
