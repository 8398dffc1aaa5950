"""The typed experiment configuration that a YAML file is validated into.

Data flows one way: YAML -> :class:`ExperimentConfig` (validated here, before anything runs)
-> builders (env, wrappers, algorithm, callbacks) -> a run.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Annotated, Any, Literal, Union

import gymnasium as gym
from pydantic import (
    BaseModel, ConfigDict, Field, ValidationError, field_validator, model_serializer,
    model_validator,
)
from pydantic_core import PydanticCustomError

from hlynr.config.base import StrictModel
from hlynr.registry import Registry, UnknownNameError, suggest
from hlynr.tuning.schema import TuneConfig


def _nested_error(exc: ValidationError, prefix: tuple[Any, ...] = ()) -> PydanticCustomError:
    """Re-raise the first error of a nested validation as one error with its sub-path."""
    from hlynr.config.loader import error_message, user_loc

    errors = exc.errors()
    first = errors[0]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return PydanticCustomError("nested", "{msg}", {"msg": error_message(first) + more,
                                                   "subpath": prefix + user_loc(first)})


class ComponentSpec(BaseModel):
    """One ``name`` / ``{name: params}`` item of a ``wrappers:`` or ``callbacks:`` list."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)
    name: str
    params: Any  # the validated StrictModel of the registry entry

    @model_serializer
    def _dump(self) -> dict[str, Any]:
        return {self.name: self.params.model_dump(mode="json")}


def parse_components(items: Any, registry: Registry[Any], kind: str) -> list[ComponentSpec]:
    """Validate a list of ``name`` / ``{name: params}`` items against a registry."""
    if items is None:
        return []
    if not isinstance(items, list):
        raise PydanticCustomError("type", f"must be a list of {kind}s")
    out = []
    for i, item in enumerate(items):
        if isinstance(item, ComponentSpec):
            out.append(item)
            continue
        if isinstance(item, str):
            name, raw = item, {}
        elif isinstance(item, dict) and len(item) == 1:
            name, raw = next(iter(item.items()))
            raw = {} if raw is None else raw
        else:
            raise PydanticCustomError(
                "nested", "{msg}",
                {"msg": f"each {kind} is a name or a one-key mapping {{name: {{params}}}}",
                 "subpath": (i,)})
        try:
            entry = registry.get(name)
        except UnknownNameError as exc:
            raise PydanticCustomError("nested", "{msg}", {"msg": str(exc), "subpath": (i,)})
        if not isinstance(raw, dict):
            raise PydanticCustomError("nested", "{msg}", {
                "msg": f"parameters of {kind} '{name}' must be a mapping", "subpath": (i, name)})
        try:
            params = entry.params.model_validate(raw)
        except ValidationError as exc:
            raise _nested_error(exc, (i, name)) from None
        out.append(ComponentSpec(name=name, params=params))
    return out


# --- environment -----------------------------------------------------------------------------


def _import_env_module(env_id: str) -> None:
    if ":" in env_id:  # gymnasium's "module:EnvName-v0" form imports the module first
        importlib.import_module(env_id.split(":", 1)[0])


def _validate_gym_kwargs(env_id: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Validate ``env.kwargs`` against the env's parameter model or constructor signature."""
    from hlynr.envs.registries import ENV_PARAMS

    if env_id in ENV_PARAMS:
        try:
            return ENV_PARAMS.get(env_id).model_validate(kwargs).model_dump(exclude_unset=True)
        except ValidationError as exc:
            raise _nested_error(exc, ("kwargs",)) from None
    spec = gym.spec(env_id)
    creator = spec.entry_point
    if isinstance(creator, str):
        creator = gym.envs.registration.load_env_creator(creator)
    params = inspect.signature(creator).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        known = [n for n in params if n not in ("self", "render_mode")]
        for key in kwargs:
            if key not in known:
                raise PydanticCustomError("nested", "{msg}", {
                    "msg": f"unknown keyword for {env_id}{suggest(key, known)}; accepted: "
                           f"{', '.join(known) or '(none)'}",
                    "subpath": ("kwargs", key)})
    return kwargs


class _EnvBase(StrictModel):
    id: str = Field(description="Gymnasium id or registered PettingZoo env name")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="constructor arguments")
    n_envs: int = Field(1, ge=1, le=65536, description="parallel environment copies")
    success_key: str = Field("is_success", description="final-step info key counted as success")


class GymEnvConfig(_EnvBase):
    """A Gymnasium environment vectorised by SB3 (``dummy``/``subproc``) or hlynr (``batched``)."""

    type: Literal["gymnasium"] = "gymnasium"
    vectoriser: Literal["dummy", "subproc", "batched"] = "dummy"
    workers: int = Field(1, ge=1, le=64, description="batched vectoriser only: processes stepping the "
                         "envs (1: all in the training process; k: it and k-1 worker processes, "
                         "each stepping a contiguous share of the envs as one batch)")

    @model_validator(mode="after")
    def _check_id(self) -> GymEnvConfig:
        try:
            _import_env_module(self.id)
        except ImportError as exc:
            raise PydanticCustomError("nested", "{msg}", {
                "msg": f"cannot import the module of env '{self.id}': {exc}", "subpath": ("id",)})
        if self.id not in gym.registry:
            raise PydanticCustomError("nested", "{msg}", {
                "msg": f"unknown Gymnasium env id '{self.id}'{suggest(self.id, list(gym.registry))}",
                "subpath": ("id",)})
        from hlynr.envs.registries import BATCHED_ENVS

        if self.vectoriser == "batched" and self.id not in BATCHED_ENVS:
            raise PydanticCustomError("nested", "{msg}", {
                "msg": f"env '{self.id}' has no batched implementation; batched envs: "
                       f"{', '.join(BATCHED_ENVS.names()) or '(none)'}; use dummy or subproc",
                "subpath": ("vectoriser",)})
        if self.workers > 1:
            if self.vectoriser != "batched":
                raise PydanticCustomError("nested", "{msg}", {
                    "msg": f"workers applies to the batched vectoriser only (this config uses "
                           f"'{self.vectoriser}'; subproc already runs one process per env)",
                    "subpath": ("workers",)})
            factory = BATCHED_ENVS.get(self.id)
            if "workers" not in inspect.signature(factory).parameters:
                raise PydanticCustomError("nested", "{msg}", {
                    "msg": f"the batched implementation of '{self.id}' runs in one process; "
                           "remove workers or set it to 1", "subpath": ("workers",)})
        object.__setattr__(self, "kwargs", _validate_gym_kwargs(self.id, self.kwargs))
        return self


class PettingZooEnvConfig(_EnvBase):
    """A PettingZoo parallel env trained with one shared policy (SuperSuit parameter sharing)."""

    type: Literal["pettingzoo"]
    vectoriser: Literal["supersuit", "batched"] = Field(
        "supersuit", description="supersuit: ParallelEnv copies through SuperSuit; batched: the "
        "env's batched engine, all copies and agents as arrays (same trajectories)")
    num_cpus: int = Field(0, ge=0, le=64, description="SuperSuit worker processes (0: in-process)")
    workers: int = Field(1, ge=1, le=64, description="batched vectoriser only: processes stepping "
                         "the env copies (1: all in the training process)")

    @model_validator(mode="after")
    def _check_id(self) -> PettingZooEnvConfig:
        from hlynr.envs.registries import PETTINGZOO_ENVS

        try:
            entry = PETTINGZOO_ENVS.get(self.id)
        except UnknownNameError as exc:
            raise PydanticCustomError("nested", "{msg}", {"msg": str(exc), "subpath": ("id",)})
        try:
            kw = entry.params.model_validate(self.kwargs).model_dump(exclude_unset=True)
        except ValidationError as exc:
            raise _nested_error(exc, ("kwargs",)) from None
        from hlynr.envs.registries import BATCHED_ENVS

        if self.vectoriser == "batched" and self.id not in BATCHED_ENVS:
            raise PydanticCustomError("nested", "{msg}", {
                "msg": f"PettingZoo env '{self.id}' has no batched engine; use vectoriser supersuit",
                "subpath": ("vectoriser",)})
        if self.vectoriser == "batched" and self.num_cpus > 0:
            raise PydanticCustomError("nested", "{msg}", {
                "msg": "num_cpus sets SuperSuit worker processes; the batched engine takes "
                       "workers instead", "subpath": ("num_cpus",)})
        if self.workers > 1 and self.vectoriser != "batched":
            raise PydanticCustomError("nested", "{msg}", {
                "msg": "workers applies to the batched vectoriser only (SuperSuit takes num_cpus)",
                "subpath": ("workers",)})
        object.__setattr__(self, "kwargs", kw)
        return self


EnvConfig = Annotated[Union[GymEnvConfig, PettingZooEnvConfig], Field(discriminator="type")]


# --- algorithm -------------------------------------------------------------------------------


class AlgoConfig(StrictModel):
    """The SB3 / sb3-contrib / hlynr algorithm, its hyperparameters and policy kwargs."""

    name: str = Field(description="e.g. PPO, A2C, SAC, TD3, TQC, RecurrentPPO")
    policy: str | None = Field(None, description="policy name; default per algorithm")
    hyperparams: dict[str, Any] = Field(default_factory=dict)
    policy_kwargs: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _validate(self) -> AlgoConfig:
        from hlynr.algos.registry import (
            ALGORITHMS, hyperparams_model, policy_class, policy_kwargs_model,
        )

        try:
            entry = ALGORITHMS.get(self.name)
        except UnknownNameError as exc:
            raise PydanticCustomError("nested", "{msg}", {"msg": str(exc), "subpath": ("name",)})
        policy = self.policy or entry.default_policy
        try:
            policy_class(self.name, policy)
        except UnknownNameError as exc:
            raise PydanticCustomError("nested", "{msg}", {"msg": str(exc), "subpath": ("policy",)})
        checked = {}
        for key, model in (("hyperparams", hyperparams_model(self.name)),
                           ("policy_kwargs", policy_kwargs_model(self.name, policy))):
            try:
                m = model.model_validate(getattr(self, key))
            except ValidationError as exc:
                raise _nested_error(exc, (key,)) from None
            checked[key] = m.model_dump(mode="json", exclude_unset=True)
        object.__setattr__(self, "policy", policy)
        object.__setattr__(self, "hyperparams", checked["hyperparams"])
        object.__setattr__(self, "policy_kwargs", checked["policy_kwargs"])
        return self


# --- experiment ------------------------------------------------------------------------------


class ExperimentConfig(StrictModel):
    """A whole experiment: what to train, how, for how long, and what to watch."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
                      description="run name: runs go to <runs_dir>/<name>/<timestamp>/")
    seed: int = Field(0, ge=0, lt=2**31)
    total_timesteps: int = Field(gt=0, description="environment timesteps to train for")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    torch_threads: int = Field(1, ge=1, le=256, description="torch intra-op threads")
    runs_dir: str = Field("runs", description="parent folder of run folders")
    env: EnvConfig
    wrappers: list[ComponentSpec] = Field(default_factory=list)
    algo: AlgoConfig
    callbacks: list[ComponentSpec] = Field(default_factory=list)
    tune: TuneConfig | None = Field(None, description="hyperparameter search (--optimize)")

    @model_validator(mode="before")
    @classmethod
    def _default_env_type(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("env"), dict):
            if "type" not in data["env"]:
                data = {**data, "env": {"type": "gymnasium", **data["env"]}}
        return data

    @field_validator("wrappers", mode="before")
    @classmethod
    def _wrappers(cls, value: Any) -> list[ComponentSpec]:
        from hlynr.envs.wrappers import WRAPPERS

        return parse_components(value, WRAPPERS, "wrapper")

    @field_validator("callbacks", mode="before")
    @classmethod
    def _callbacks(cls, value: Any) -> list[ComponentSpec]:
        import hlynr.callbacks  # noqa: F401  (registers the built-in callbacks)
        from hlynr.callbacks.registry import CALLBACKS

        return parse_components(value, CALLBACKS, "callback")

    @model_validator(mode="after")
    def _cross_checks(self) -> ExperimentConfig:
        from hlynr.algos.registry import ALGORITHMS
        from hlynr.callbacks.registry import CALLBACKS
        from hlynr.envs.wrappers import WRAPPERS

        vec_seen = False
        for i, spec in enumerate(self.wrappers):
            entry = WRAPPERS.get(spec.name)
            level = entry.level_for(self._vectoriser)
            if level == "vec" and entry.vec is None:
                raise PydanticCustomError("nested", "{msg}", {
                    "msg": f"wrapper '{spec.name}' has no form for the vectorised env this "
                           f"config builds ({self._vectoriser}); use vectoriser dummy or subproc",
                    "subpath": ("wrappers", i)})
            check = getattr(spec.params, "check_in_chain", None)
            problem = check(self, i) if check is not None else None
            if problem:
                path, msg = problem
                raise PydanticCustomError("nested", "{msg}", {
                    "msg": msg, "subpath": ("wrappers", i, spec.name, *path)})
            if level == "vec":
                vec_seen = True
            elif vec_seen:
                raise PydanticCustomError("nested", "{msg}", {
                    "msg": f"'{spec.name}' wraps single envs and must come before the "
                           "vectorised-env wrappers (frame_stack, normalize, ...)",
                    "subpath": ("wrappers", i)})
        if self.algo.name == "MAPPO":
            from hlynr.multiagent.global_state import global_state_problem

            problem = global_state_problem(self.env)
            if problem:
                raise PydanticCustomError("nested", "{msg}", {
                    "msg": f"MAPPO's centralised critic needs a global state: {problem}",
                    "subpath": ("algo", "name")})
        names = [c.name for c in self.callbacks]
        algo = ALGORITHMS.get(self.algo.name)
        for i, spec in enumerate(self.callbacks):
            entry = CALLBACKS.get(spec.name)
            if names.count(spec.name) > 1:
                raise PydanticCustomError("nested", "{msg}", {
                    "msg": f"callback '{spec.name}' is listed more than once",
                    "subpath": ("callbacks", i)})
            if entry.needs_evaluation and "evaluation" not in names:
                raise PydanticCustomError("nested", "{msg}", {
                    "msg": f"'{spec.name}' acts on evaluation results: add an 'evaluation' "
                           "callback", "subpath": ("callbacks", i)})
            reason = entry.applies_to(algo) if entry.applies_to else None
            if reason:
                raise PydanticCustomError("nested", "{msg}", {
                    "msg": f"'{spec.name}' cannot be used with {self.algo.name}: {reason}",
                    "subpath": ("callbacks", i)})
            check = getattr(spec.params, "check_against", None)
            if check is not None:
                problem = check(self)
                if problem:
                    path, msg = problem
                    raise PydanticCustomError("nested", "{msg}", {
                        "msg": msg, "subpath": ("callbacks", i, spec.name, *path)})
        return self

    @property
    def _vectoriser(self) -> str:
        if self.env.type == "pettingzoo":
            return "batched"  # every wrapper applies to the parameter-shared VecEnv
        return self.env.vectoriser

    def callback(self, name: str) -> Any | None:
        """The validated parameters of the named callback, or None if not configured."""
        return next((c.params for c in self.callbacks if c.name == name), None)
