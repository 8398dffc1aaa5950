"""Lazy registry entries, and the built-in components :mod:`hlynr.builtins` registers with them."""

from __future__ import annotations

import inspect

import pytest
import torch
from pydantic import BaseModel
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

from hlynr import builtins
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
    BaselineEntry,
    CallbackEntry,
    PettingZooEntry,
    Registry,
    UnknownNameError,
    WrapperEntry,
)
from hlynr.registries.base import load_object


def test_a_lazy_entry_is_known_at_once_and_loaded_on_first_lookup() -> None:
    calls = []
    reg: Registry[int] = Registry("number")
    reg.register_lazy("one", lambda: calls.append(1) or 1)
    reg.register_lazy("pi", "math:pi")
    assert reg.names() == ["one", "pi"] and "one" in reg and not reg.is_loaded("one")
    assert calls == []
    assert reg.get("one") == 1 and reg.get("one") == 1 and calls == [1]  # loaded once, then kept
    assert reg.is_loaded("one") and abs(reg.get("pi") - 3.14159) < 1e-5
    with pytest.raises(UnknownNameError, match="did you mean 'one'"):
        reg.get("onee")
    with pytest.raises(ValueError, match="already registered"):
        reg.register_lazy("one", "math:e")


def test_a_resolver_named_by_path_is_imported_on_first_use() -> None:
    reg: Registry[object] = Registry("thing")
    reg.set_resolver("hlynr.registries.base:load_object")
    assert reg.get("math:tau") == pytest.approx(6.2831853)
    assert reg.is_loaded("math:tau")


BUILTIN_KINDS = [
    (ACTIVATIONS, builtins._ACTIVATIONS, lambda x: issubclass(x, torch.nn.Module)),
    (OPTIMIZERS, builtins._OPTIMIZERS, lambda x: issubclass(x, torch.optim.Optimizer)),
    (REPLAY_BUFFERS, builtins._REPLAY_BUFFERS, lambda x: issubclass(x, ReplayBuffer)),
    (FEATURES_EXTRACTORS, builtins._FEATURES_EXTRACTORS, lambda x: issubclass(x, BaseFeaturesExtractor)),
    (WRAPPERS, builtins._WRAPPERS, lambda x: isinstance(x, WrapperEntry)),
    (CALLBACKS, builtins._CALLBACKS, lambda x: isinstance(x, CallbackEntry)),
    (BASELINES, {n: None for names in builtins._BASELINE_TABLES.values() for n in names},
     lambda x: isinstance(x, BaselineEntry)),
]


@pytest.mark.parametrize(("registry", "table", "kind"), BUILTIN_KINDS, ids=lambda x: getattr(x, "kind", ""))
def test_every_lazy_builtin_loads_the_right_kind(registry: Registry, table: dict, kind: object) -> None:
    for name in table:
        assert kind(registry.get(name)), f"{registry.kind} '{name}': {registry.get(name)!r}"  # type: ignore[operator]


def test_every_builtin_algorithm_and_env_loads() -> None:
    for name in builtins._ALGORITHMS:
        assert inspect.isclass(ALGORITHMS.get(name).load())
    for env_id in ENV_PARAMS.names():
        assert issubclass(ENV_PARAMS.get(env_id), BaseModel)
    for env_id in PETTINGZOO_ENVS.names():
        assert isinstance(PETTINGZOO_ENVS.get(env_id), PettingZooEntry)
    for env_id in BATCHED_ENVS.names():
        assert callable(BATCHED_ENVS.get(env_id))


def test_the_names_builtins_lists_are_those_of_the_modules() -> None:
    """What :mod:`hlynr.builtins` writes down to stay lazy (ids, stages, baseline names) is true."""
    from hlynr.envs import atc, intercept, swarm

    assert (builtins.INTERCEPT_ID, builtins.SWARM_ID, builtins.ATC_ID) == (intercept.ENV_ID, swarm.ENV_ID,
                                                                           atc.ENV_ID)
    assert builtins.SWARM_STAGES == tuple(swarm.STAGES)
    for table, names in builtins._BASELINE_TABLES.items():
        assert tuple(load_object(table)) == names, table
    assert PETTINGZOO_ENVS.get("hlynr/Swarm-basic-v0").factory().params.stage == "basic"
