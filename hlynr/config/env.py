"""The ``env:`` section: a Gymnasium env (SB3 or hlynr vectorisers) or a PettingZoo env."""

from __future__ import annotations

import importlib
import inspect
from typing import Annotated, Any, Literal

import gymnasium as gym
from pydantic import Field, ValidationError, model_validator

from hlynr.config.base import StrictModel, nested_error, reraise_nested
from hlynr.config.components import kwargs_model
from hlynr.config.imports import import_object, is_path
from hlynr.registries import BATCHED_ENVS, ENV_PARAMS, PETTINGZOO_ENVS, UnknownNameError, suggest

_MONITOR_CONTROLLED = frozenset({"self", "env", "filename"})


def merged_kwargs(kwargs: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` with ``overrides`` applied: a mapping merged into a mapping of the same key,
    anything else replacing the value (e.g. ``{"sensor": {"mode": "truth"}}``)."""
    out = dict(kwargs)
    for key, value in overrides.items():
        old = out.get(key)
        out[key] = {**old, **value} if isinstance(old, dict) and isinstance(value, dict) else value
    return out


def _import_env_module(env_id: str) -> None:
    if ":" in env_id:  # gymnasium's "module:EnvName-v0" form imports the module first
        importlib.import_module(env_id.split(":", 1)[0])


def env_class(env_id: str) -> type | None:
    """The ``gymnasium.Env`` subclass a ``module:Class`` id names, or None for a registered id.

    ``module:EnvName-v0`` stays Gymnasium's form (import the module, then make a registered id);
    it is a class path when the module has a ``gymnasium.Env`` subclass of that name.
    """
    attr = env_id.partition(":")[2]
    if not is_path(env_id) or not all(part.isidentifier() for part in attr.split(".")):
        return None  # not a class name (e.g. "EnvName-v0")
    try:
        obj = import_object(env_id)
    except ValueError:
        return None
    return obj if isinstance(obj, type) and issubclass(obj, gym.Env) else None


def env_spec(env_id: str) -> gym.envs.registration.EnvSpec:
    """The Gymnasium spec of a registered id, or an unregistered one for a class path."""
    if env_class(env_id) is not None:
        return gym.envs.registration.EnvSpec(id=env_id, entry_point=env_id)
    if ":" in env_id:  # Gymnasium's "module:EnvName-v0": the module registers the id
        module, _, env_id = env_id.partition(":")
        importlib.import_module(module)
    return gym.spec(env_id)


def _validate_gym_kwargs(env_id: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Validate ``env.kwargs`` against the env's parameter model or constructor signature."""
    if env_id in ENV_PARAMS:
        try:
            return ENV_PARAMS.get(env_id).model_validate(kwargs).model_dump(exclude_unset=True)
        except ValidationError as exc:
            raise reraise_nested(exc, kwargs, "kwargs") from None
    spec = env_spec(env_id)
    entry_point = spec.entry_point
    creator = (gym.envs.registration.load_env_creator(entry_point) if isinstance(entry_point, str)
               else entry_point)
    if creator is None:
        raise nested_error(f"env '{env_id}' has no entry point", "id")
    params = inspect.signature(creator).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        known = [n for n in params if n not in ("self", "render_mode")]
        for key in kwargs:
            if key not in known:
                raise nested_error(f"unknown keyword for {env_id}{suggest(key, known)}; accepted: "
                                   f"{', '.join(known) or '(none)'}", "kwargs", key)
    return kwargs


class _EnvBase(StrictModel):
    id: str = Field(description="Gymnasium id or registered PettingZoo env name")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="constructor arguments")
    n_envs: int = Field(1, ge=1, le=65536, strict=True, description="parallel environment copies")
    success_key: str = Field("is_success", description="final-step info key counted as success")


class GymEnvConfig(_EnvBase):
    """A Gymnasium environment vectorised by SB3 (``dummy``/``subproc``) or hlynr (``batched``)."""

    type: Literal["gymnasium"] = "gymnasium"
    vectoriser: Literal["dummy", "subproc", "batched"] = "dummy"
    workers: int = Field(1, ge=1, le=64, strict=True,
                         description="batched vectoriser only: processes stepping the envs (1: all "
                         "in the training process; k: it and k-1 worker processes, each stepping a "
                         "contiguous share of the envs as one batch)")
    monitor_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="SB3 Monitor arguments (e.g. info_keywords: final-step "
        "info keys recorded with each episode's statistics)")

    @model_validator(mode="after")
    def _check_id(self) -> GymEnvConfig:
        try:
            _import_env_module(self.id)
        except Exception as exc:  # user code: missing, or failing while it is imported
            reason = str(exc) if isinstance(exc, ImportError) else f"{type(exc).__name__}: {exc}"
            raise nested_error(f"cannot import the module of env '{self.id}': {reason}", "id") from None
        registered = self.id.partition(":")[2] if ":" in self.id else self.id
        if registered not in gym.registry and env_class(self.id) is None:
            raise nested_error(f"unknown Gymnasium env id '{self.id}'"
                               f"{suggest(self.id, list(gym.registry))}", "id")
        if self.vectoriser == "batched" and self.id not in BATCHED_ENVS:
            raise nested_error(f"env '{self.id}' has no batched implementation; batched envs: "
                               f"{', '.join(BATCHED_ENVS.names()) or '(none)'}; use dummy or subproc",
                               "vectoriser")
        if self.workers > 1:
            if self.vectoriser != "batched":
                raise nested_error(f"workers applies to the batched vectoriser only (this config "
                                   f"uses '{self.vectoriser}'; subproc already runs one process "
                                   "per env)", "workers")
            factory = BATCHED_ENVS.get(self.id)
            if "workers" not in inspect.signature(factory).parameters:
                raise nested_error(f"the batched implementation of '{self.id}' runs in one "
                                   "process; remove workers or set it to 1", "workers")
        object.__setattr__(self, "kwargs", _validate_gym_kwargs(self.id, self.kwargs))
        from stable_baselines3.common.monitor import Monitor  # SB3 and torch: on validation, not on import

        try:
            kwargs_model(Monitor, _MONITOR_CONTROLLED).model_validate(self.monitor_kwargs)
        except ValidationError as exc:
            raise reraise_nested(exc, self.monitor_kwargs, "monitor_kwargs") from None
        other = sorted(set(self.monitor_kwargs) - {"info_keywords"})
        if self.vectoriser == "batched" and other:
            raise nested_error("the batched vectoriser records episodes with VecMonitor, which "
                               "takes info_keywords only", "monitor_kwargs", other[0])
        return self

    def make_single(self) -> gym.Env:
        """One instance of the env (e.g. to read its spaces); a class path needs no registration."""
        return gym.make(env_spec(self.id), **self.kwargs)


class PettingZooEnvConfig(_EnvBase):
    """A PettingZoo parallel env trained with one shared policy (SuperSuit parameter sharing)."""

    type: Literal["pettingzoo"]
    vectoriser: Literal["supersuit", "batched"] = Field(
        "supersuit", description="supersuit: ParallelEnv copies through SuperSuit; batched: the "
        "env's batched engine, all copies and agents as arrays (same trajectories)")
    num_cpus: int = Field(0, ge=0, le=64, strict=True,
                          description="SuperSuit worker processes (0: in-process)")
    workers: int = Field(1, ge=1, le=64, strict=True,
                         description="batched vectoriser only: processes stepping the env copies "
                         "(1: all in the training process)")

    @model_validator(mode="after")
    def _check_id(self) -> PettingZooEnvConfig:
        try:
            entry = PETTINGZOO_ENVS.get(self.id)
        except UnknownNameError as exc:
            raise nested_error(str(exc), "id") from None
        try:
            kw = entry.params.model_validate(self.kwargs).model_dump(exclude_unset=True)
        except ValidationError as exc:
            raise reraise_nested(exc, self.kwargs, "kwargs") from None
        if self.vectoriser == "batched" and self.id not in BATCHED_ENVS:
            raise nested_error(f"PettingZoo env '{self.id}' has no batched engine; use "
                               "vectoriser supersuit", "vectoriser")
        if self.vectoriser == "batched" and self.num_cpus > 0:
            raise nested_error("num_cpus sets SuperSuit worker processes; the batched engine "
                               "takes workers instead", "num_cpus")
        if self.workers > 1 and self.vectoriser != "batched":
            raise nested_error("workers applies to the batched vectoriser only (SuperSuit takes "
                               "num_cpus)", "workers")
        object.__setattr__(self, "kwargs", kw)
        return self

    def make_single(self) -> Any:
        """One instance of the parallel env (e.g. to read an agent's spaces)."""
        return PETTINGZOO_ENVS.get(self.id).factory(**self.kwargs)


EnvConfig = Annotated[GymEnvConfig | PettingZooEnvConfig, Field(discriminator="type")]
