"""Algorithms a config can name, and validation of their hyperparameters and policy kwargs.

Hyperparameters and ``policy_kwargs`` are validated against the algorithm's and the policy's
constructor signatures, so every key a config sets is a real argument (unknown keys fail with a
suggestion) with the right type. Values stay plain data: numbers, lists, names looked up in
small registries (activations, optimizers, action noise) and schedule specs.
"""

from __future__ import annotations

import collections.abc
import importlib
import inspect
import typing
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal, Union

import torch
from gymnasium import spaces
from pydantic import ConfigDict, Field, TypeAdapter, create_model
from pydantic.fields import FieldInfo

from hlynr.config.base import StrictModel
from hlynr.config.schedules import FloatOrSchedule
from hlynr.registry import Registry

DISCRETE_AND_BOX = (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary)


@dataclass(frozen=True)
class AlgorithmEntry:
    """An algorithm class (imported lazily) and what it can act on."""

    import_path: str  # "module:Class"
    default_policy: str
    action_spaces: tuple[type[spaces.Space], ...]
    recurrent: bool = False
    entropy_coef: bool = False  # has a float ``ent_coef`` that a schedule may change each rollout

    def load(self) -> type:
        """Import and return the algorithm class."""
        module, name = self.import_path.split(":")
        return getattr(importlib.import_module(module), name)


ALGORITHMS: Registry[AlgorithmEntry] = Registry("algorithm")
_ON_POLICY = dict(action_spaces=DISCRETE_AND_BOX, entropy_coef=True)
for _name, _path, _kw in [
    ("PPO", "stable_baselines3:PPO", _ON_POLICY),
    ("A2C", "stable_baselines3:A2C", _ON_POLICY),
    ("TRPO", "sb3_contrib:TRPO", dict(action_spaces=DISCRETE_AND_BOX)),
    ("SAC", "stable_baselines3:SAC", dict(action_spaces=(spaces.Box,))),
    ("TD3", "stable_baselines3:TD3", dict(action_spaces=(spaces.Box,))),
    ("DDPG", "stable_baselines3:DDPG", dict(action_spaces=(spaces.Box,))),
    ("TQC", "sb3_contrib:TQC", dict(action_spaces=(spaces.Box,))),
    ("CrossQ", "sb3_contrib:CrossQ", dict(action_spaces=(spaces.Box,))),
    ("DQN", "stable_baselines3:DQN", dict(action_spaces=(spaces.Discrete,))),
    ("QRDQN", "sb3_contrib:QRDQN", dict(action_spaces=(spaces.Discrete,))),
]:
    ALGORITHMS.register(_name, AlgorithmEntry(_path, "MlpPolicy", **_kw))
ALGORITHMS.register(
    "RecurrentPPO",
    AlgorithmEntry("hlynr.algos.recurrent_ppo:RecurrentPPO", "MlpLstmPolicy", recurrent=True,
                   **_ON_POLICY),
)
ALGORITHMS.register(
    "MAPPO", AlgorithmEntry("hlynr.algos.centralised:MAPPO", "MlpPolicy", **_ON_POLICY),
)
ALGORITHMS.register(
    "sb3_contrib.RecurrentPPO",
    AlgorithmEntry("sb3_contrib:RecurrentPPO", "MlpLstmPolicy", recurrent=True, **_ON_POLICY),
)

ACTIVATIONS: Registry[type[torch.nn.Module]] = Registry("activation")
for _name, _cls in [("tanh", torch.nn.Tanh), ("relu", torch.nn.ReLU), ("elu", torch.nn.ELU),
                    ("leaky_relu", torch.nn.LeakyReLU), ("gelu", torch.nn.GELU),
                    ("silu", torch.nn.SiLU), ("selu", torch.nn.SELU), ("mish", torch.nn.Mish)]:
    ACTIVATIONS.register(_name, _cls)

OPTIMIZERS: Registry[type[torch.optim.Optimizer]] = Registry("optimizer")
for _name, _cls in [("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW),
                    ("rmsprop", torch.optim.RMSprop), ("sgd", torch.optim.SGD)]:
    OPTIMIZERS.register(_name, _cls)


class ActionNoiseSpec(StrictModel):
    """Gaussian or Ornstein-Uhlenbeck exploration noise for off-policy algorithms."""

    type: Literal["normal", "ornstein_uhlenbeck"] = "normal"
    sigma: float = Field(0.1, gt=0)
    theta: float = Field(0.15, gt=0, description="Ornstein-Uhlenbeck mean reversion")


# Arguments a config never sets through ``hyperparams``: they come from other config keys.
_CONTROLLED = {"self", "policy", "env", "policy_kwargs", "seed", "device", "verbose",
               "tensorboard_log", "_init_setup_model", "observation_space", "action_space",
               "lr_schedule"}
# Arguments that take Python classes: replaced by a name from a registry, or not configurable.
_NAMED_CLASS_ARGS: dict[str, Any] = {
    "activation_fn": Literal[tuple(ACTIVATIONS.names())],  # type: ignore[misc]
    "optimizer_class": Literal[tuple(OPTIMIZERS.names())],  # type: ignore[misc]
    "action_noise": Union[ActionNoiseSpec, None],
}


def _mentions(annotation: Any, origin: Any) -> bool:
    """Whether ``annotation`` is or contains ``origin`` (e.g. ``Callable`` or ``type``)."""
    if annotation is origin or typing.get_origin(annotation) is origin:
        return True
    return any(_mentions(a, origin) for a in typing.get_args(annotation))


def signature_model(name: str, func: collections.abc.Callable[..., Any]) -> type[StrictModel]:
    """A StrictModel whose fields are ``func``'s configurable keyword arguments.

    Schedules (``Callable`` arguments) become ``float | schedule spec``; class-valued arguments
    take registry names; arguments pydantic cannot validate from plain data are left out, so
    setting them fails as an unknown key.
    """
    fields: dict[str, Any] = {}
    for pname, param in inspect.signature(func).parameters.items():
        if pname in _CONTROLLED or param.kind in (param.VAR_KEYWORD, param.VAR_POSITIONAL):
            continue
        ann = param.annotation
        default = param.default if param.default is not inspect.Parameter.empty else ...
        if pname in _NAMED_CLASS_ARGS:
            fields[pname] = (_NAMED_CLASS_ARGS[pname], None)
            continue
        if _mentions(ann, type):  # a Python class: no plain-data form, not configurable
            continue
        if _mentions(ann, collections.abc.Callable):
            ann = Union[FloatOrSchedule, None]
        elif ann is inspect.Parameter.empty:
            ann = Any
        try:
            TypeAdapter(ann)
        except Exception:  # a class-valued argument with no plain-data form: not configurable
            continue
        fields[pname] = (ann, FieldInfo(default=default) if default is not ... else ...)
    model = create_model(  # type: ignore[call-overload]
        name, __base__=StrictModel, **fields,
    )
    model.model_config = ConfigDict(extra="forbid", frozen=True, validate_default=False,
                                    arbitrary_types_allowed=True)
    model.model_rebuild(force=True)
    return model


@cache
def hyperparams_model(algo_name: str) -> type[StrictModel]:
    """The validation model of ``algo.hyperparams`` for the named algorithm."""
    cls = ALGORITHMS.get(algo_name).load()
    return signature_model(f"{algo_name}Hyperparams", cls.__init__)


def policy_class(algo_name: str, policy: str) -> type:
    """Resolve a policy name (e.g. ``MlpPolicy``) for the named algorithm."""
    cls = ALGORITHMS.get(algo_name).load()
    aliases: dict[str, type] = getattr(cls, "policy_aliases", {})
    if policy not in aliases:
        reg: Registry[type] = Registry(f"policy for {algo_name}")
        for k, v in aliases.items():
            reg.register(k, v)
        reg.get(policy)  # raises with suggestions
    return aliases[policy]


@cache
def policy_kwargs_model(algo_name: str, policy: str) -> type[StrictModel]:
    """The validation model of ``algo.policy_kwargs`` for the named algorithm and policy."""
    return signature_model(f"{algo_name}{policy}Kwargs", policy_class(algo_name, policy).__init__)


def to_python_kwargs(values: dict[str, Any]) -> dict[str, Any]:
    """Turn validated plain-data kwargs into constructor arguments (names -> classes)."""
    out = dict(values)
    if "activation_fn" in out and out["activation_fn"] is not None:
        out["activation_fn"] = ACTIVATIONS.get(out["activation_fn"])
    if "optimizer_class" in out and out["optimizer_class"] is not None:
        out["optimizer_class"] = OPTIMIZERS.get(out["optimizer_class"])
    return {k: v for k, v in out.items() if not (k in _NAMED_CLASS_ARGS and v is None)}
