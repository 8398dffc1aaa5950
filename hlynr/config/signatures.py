"""Validation models built from algorithm and policy constructor signatures.

Hyperparameters and ``policy_kwargs`` are validated against the algorithm's and the policy's
constructor signatures, so every key a config sets is a real argument (unknown keys fail with a
suggestion) with the right type. Values stay plain data: numbers, lists, names looked up in
small registries (activations, optimizers, action noise) and schedule specs. Every number is
range-checked by what it means to SB3 (rates > 0 and finite, 0 <= gamma <= 1, counts >= 1, ...);
booleans are never numbers.
"""

from __future__ import annotations

import collections.abc
import inspect
import math
import typing
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, TypeAdapter, create_model
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

from hlynr.config.base import StrictModel
from hlynr.config.imports import import_class, is_path
from hlynr.config.schedules import FloatOrSchedule, Schedule
from hlynr.registries import (
    ACTIVATIONS,
    ALGORITHMS,
    FEATURES_EXTRACTORS,
    OPTIMIZERS,
    REPLAY_BUFFERS,
    Registry,
    UnknownNameError,
    suggest,
)


class ActionNoiseSpec(StrictModel):
    """Gaussian or Ornstein-Uhlenbeck exploration noise for off-policy algorithms."""

    type: Literal["normal", "ornstein_uhlenbeck"] = "normal"
    sigma: float = Field(0.1, gt=0, allow_inf_nan=False)
    theta: float = Field(0.15, gt=0, allow_inf_nan=False, description="Ornstein-Uhlenbeck mean reversion")


Bound = tuple[float | None, bool, float | None, bool]
"""``(low, low_inclusive, high, high_inclusive)``; None: unbounded."""

_POSITIVE: Bound = (0.0, False, None, False)
_NON_NEGATIVE: Bound = (0.0, True, None, False)
_UNIT: Bound = (0.0, True, 1.0, True)
_COUNT: Bound = (1.0, True, None, False)

BOUNDS: dict[str, Bound] = {
    # rates, coefficients and clip ranges
    "learning_rate": _POSITIVE, "clip_range": _POSITIVE, "clip_range_vf": _POSITIVE,
    "ent_coef": _NON_NEGATIVE, "vf_coef": _NON_NEGATIVE, "max_grad_norm": _POSITIVE,
    "target_kl": _POSITIVE, "rms_prop_eps": _POSITIVE, "cg_damping": _NON_NEGATIVE,
    "huber_delta": _POSITIVE,
    "target_policy_noise": _NON_NEGATIVE, "target_noise_clip": _NON_NEGATIVE,
    "line_search_shrinking_factor": (0.0, False, 1.0, False),
    # discounting and averaging factors
    "gamma": _UNIT, "gae_lambda": _UNIT, "tau": (0.0, False, 1.0, True),
    "exploration_fraction": _UNIT, "exploration_initial_eps": _UNIT,
    "exploration_final_eps": _UNIT,
    # counts
    "n_steps": _COUNT, "batch_size": _COUNT, "n_epochs": _COUNT, "buffer_size": _COUNT,
    "learning_starts": _NON_NEGATIVE, "gradient_steps": (-1.0, True, None, False),
    "updates_per_row": (0.0, False, 128.0, True),  # agent_rows.MAX_UPDATES_PER_ROW
    "policy_delay": _COUNT, "target_update_interval": _COUNT, "stats_window_size": _COUNT,
    "n_critic_updates": _COUNT, "cg_max_steps": _COUNT, "line_search_max_iter": _COUNT,
    "sub_sampling_factor": _COUNT, "top_quantiles_to_drop_per_net": _NON_NEGATIVE,
    "sde_sample_freq": (-1.0, True, None, False),
    # policy sizes
    "lstm_hidden_size": _COUNT, "n_lstm_layers": _COUNT, "n_critics": _COUNT,
    "n_quantiles": _COUNT, "log_std_init": (None, False, None, False),
}


def _describe(bound: Bound) -> str:
    lo, lo_in, hi, hi_in = bound
    parts = []
    if lo is not None:
        parts.append(f"{'>=' if lo_in else '>'} {lo:g}")
    if hi is not None:
        parts.append(f"{'<=' if hi_in else '<'} {hi:g}")
    return " and ".join(parts) or "finite"


def _in_bound(x: float, bound: Bound) -> bool:
    lo, lo_in, hi, hi_in = bound
    if not math.isfinite(x):
        return False
    if lo is not None and (x < lo or (x == lo and not lo_in)):
        return False
    return not (hi is not None and (x > hi or (x == hi and not hi_in)))


def _no_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise PydanticCustomError("bool_number", "a boolean is not a number: write a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise PydanticCustomError("finite", "must be a finite number")
    return value


def _bounded(bound: Bound) -> AfterValidator:
    def check(value: Any) -> Any:
        numbers: list[tuple[float, Bound]] = []
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            numbers = [(value, bound)]
        elif isinstance(value, Schedule):
            # A schedule starts in range and may decay onto its lower bound (e.g. linearly to 0).
            numbers = [(value.start, bound), (value.end, (bound[0], True, bound[2], bound[3]))]
        for x, rule in numbers:
            if not _in_bound(float(x), rule):
                raise PydanticCustomError("range", "{value} is out of range: must be {rule}",
                                          {"value": x, "rule": _describe(rule)})
        return value

    return AfterValidator(check)


def _net_arch(value: Any) -> Any:
    if isinstance(value, dict):
        for key in value:
            if key not in ("pi", "vf", "qf"):
                raise PydanticCustomError(
                    "net_arch_key", "unknown net_arch key '{key}'{hint}; allowed: pi, vf, qf",
                    {"key": key, "hint": suggest(str(key), ["pi", "vf", "qf"])})
        layers = [n for v in value.values() for n in (v if isinstance(v, list) else [v])]
    elif isinstance(value, list):
        layers = value
    else:
        return value
    for n in layers:
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise PydanticCustomError("net_arch_size",
                                      "layer sizes must be whole numbers >= 1, got {n}", {"n": n})
    return value


# Arguments a config never sets through ``hyperparams``: they come from other config keys.
_CONTROLLED = {"self", "policy", "env", "policy_kwargs", "seed", "device", "verbose",
               "tensorboard_log", "_init_setup_model", "observation_space", "action_space",
               "lr_schedule"}


def registry_name(registry: Registry[Any]) -> Any:
    """A string field naming an entry of ``registry`` (or a ``module:Class`` path it resolves)."""
    def check(value: Any) -> Any:
        if not isinstance(value, str):
            raise PydanticCustomError("type", "must be a name or a module:Class path")
        try:
            registry.get(value)
        except (UnknownNameError, ValueError) as exc:
            raise PydanticCustomError("unknown_name", "{msg}", {"msg": str(exc)}) from None
        return value

    return Annotated[str, AfterValidator(check)]


_OPTIONAL_SCHEDULE = FloatOrSchedule | None
"""What a schedule-valued (``Callable``) argument accepts."""


def _named_class_args() -> dict[str, Any]:
    """Arguments that take Python classes: a name from a registry instead (read at call time)."""
    return {
        "activation_fn": Literal[tuple(ACTIVATIONS.names())],
        "optimizer_class": Literal[tuple(OPTIMIZERS.names())],
        "action_noise": ActionNoiseSpec | None,
        "replay_buffer_class": registry_name(REPLAY_BUFFERS) | None,
        "features_extractor_class": registry_name(FEATURES_EXTRACTORS) | None,
    }


def _mentions(annotation: Any, origin: Any) -> bool:
    """Whether ``annotation`` is or contains ``origin`` (e.g. ``Callable`` or ``type``)."""
    if annotation is origin or typing.get_origin(annotation) is origin:
        return True
    return any(_mentions(a, origin) for a in typing.get_args(annotation))


def _numeric(annotation: Any) -> bool:
    return _mentions(annotation, int) or _mentions(annotation, float)


def signature_model(
    name: str, func: collections.abc.Callable[..., Any], *,
    skip: collections.abc.Collection[str] = _CONTROLLED, base: type[StrictModel] = StrictModel,
) -> type[StrictModel]:
    """A StrictModel whose fields are ``func``'s configurable keyword arguments.

    Schedules (``Callable`` arguments) become ``float | schedule spec``; class-valued arguments
    take registry names; arguments pydantic cannot validate from plain data are left out, so
    setting them fails as an unknown key. Numbers are range-checked by :data:`BOUNDS`.
    """
    named = _named_class_args()
    fields: dict[str, Any] = {}
    for pname, param in inspect.signature(func).parameters.items():
        if pname in skip or param.kind in (param.VAR_KEYWORD, param.VAR_POSITIONAL):
            continue
        ann = param.annotation
        default = param.default if param.default is not inspect.Parameter.empty else ...
        if pname in named:
            fields[pname] = (named[pname], None)
            continue
        if _mentions(ann, type):  # a Python class: no plain-data form, not configurable
            continue
        if _mentions(ann, collections.abc.Callable):
            ann = _OPTIONAL_SCHEDULE
        elif ann is inspect.Parameter.empty:
            ann = Any
        try:
            TypeAdapter(ann)
        except Exception:  # a class-valued argument with no plain-data form: not configurable
            continue
        validators: list[Any] = []
        if (_numeric(ann) or ann is _OPTIONAL_SCHEDULE) and ann is not bool:
            validators.append(BeforeValidator(_no_bool))
        if pname in BOUNDS:
            validators.append(_bounded(BOUNDS[pname]))
        if pname == "net_arch":
            validators.append(BeforeValidator(_net_arch))
        if validators:
            ann = Annotated[(ann, *validators)]
        fields[pname] = (ann, FieldInfo(default=default) if default is not ... else ...)
    model = create_model(
        name, __base__=base, **fields,
    )
    model.model_config = ConfigDict(extra="forbid", frozen=True, validate_default=False,
                                    arbitrary_types_allowed=True)
    model.model_rebuild(force=True)
    return model


def inherited_init(cls: type) -> collections.abc.Callable[..., Any]:
    """``cls.__init__``, with the arguments its ``**kwargs`` passes on to base classes.

    A subclass that forwards ``**kwargs`` (``def __init__(self, *args, **kwargs)``) accepts its
    bases' keyword arguments too; they are collected along the MRO until an ``__init__``
    without ``**kwargs``.
    """
    params: dict[str, inspect.Parameter] = {}
    for klass in cls.__mro__:
        if "__init__" not in vars(klass):
            continue
        sig = inspect.signature(vars(klass)["__init__"])
        for name, p in sig.parameters.items():
            if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL) and name not in params:
                params[name] = p
        if not any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
            break

    def init(*args: Any, **kwargs: Any) -> None:
        """The merged signature (never called)."""

    ordered = sorted(params.values(), key=lambda p: p.default is not inspect.Parameter.empty)
    init.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in ordered])
    return init


@cache
def hyperparams_model(algo_name: str) -> type[StrictModel]:
    """The validation model of ``algo.hyperparams`` for the named algorithm."""
    cls = ALGORITHMS.get(algo_name).load()
    return signature_model(f"{algo_name}Hyperparams", cls.__init__)


def policy_family(algo_name: str) -> type:
    """The most derived class every built-in policy of the algorithm subclasses."""
    aliases: dict[str, type] = getattr(ALGORITHMS.get(algo_name).load(), "policy_aliases", {})
    first, *others = aliases.values()
    return next(c for c in first.__mro__ if all(issubclass(o, c) for o in others))


def policy_class(algo_name: str, policy: str) -> type:
    """Resolve a policy name (e.g. ``MlpPolicy``) or ``module:Class`` path for the algorithm.

    A path must name a subclass of the algorithm's policy family (e.g. ``ActorCriticPolicy``
    for PPO), else ``ValueError``.
    """
    cls = ALGORITHMS.get(algo_name).load()
    if is_path(policy):
        family = policy_family(algo_name)
        return import_class(policy, family, f"{family.__name__} (a policy for {algo_name})")
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
    cls = policy_class(algo_name, policy)
    return signature_model(f"{algo_name}{policy.replace(':', '_')}Kwargs", inherited_init(cls))
