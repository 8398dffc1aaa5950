"""The ``tune:`` section of an experiment config: search space, sampler, pruner, budget, objective.

Only the section's own structure is checked here (bounds, choices, option combinations); that
every tuned key path gives a valid experiment config needs the whole config, and is checked with
the other cross-checks whenever a config is validated
(:func:`hlynr.config.search_space_checks.check_search_space`).

A tuned key path (``algo.hyperparams.learning_rate``, ``wrappers.0.normalize.gamma``) names a
key of the plain-data config; integers index lists. A trial's config is the base config with
each sampled value written at its path (:func:`trial_config_data`).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from hlynr.config.base import StrictModel
from hlynr.config.base import nested_error as _err
from hlynr.config.key_paths import set_path

# Metrics every evaluation reports that are better when higher.
HIGHER_IS_BETTER = ("success_rate", "success_ci_low", "success_ci_high", "mean_reward")
# Reported, but not a measure of the policy.
NOT_OBJECTIVES = ("episodes",)

SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
JOURNAL_SUFFIXES = (".log", ".journal", ".jsonl")
RDB_SCHEMES = ("sqlite", "postgresql", "postgres", "mysql", "mariadb", "oracle", "mssql")


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) or (
        isinstance(x, float) and x.is_integer())


class ParamSpec(StrictModel):
    """One tuned key: a distribution (float, int, categorical) and an optional condition.

    ``when`` maps key paths to a required value (or a list of accepted values); the parameter
    is sampled only in trials where every condition holds, e.g. ``when: {algo.name:
    RecurrentPPO}``. A condition key is a tuned key declared earlier or a key of the config.
    """

    type: Literal["float", "int", "categorical"] = Field(
        description="float (uniform, or log-uniform with log: true), int, or categorical")
    low: int | float | None = Field(None, description="lower bound (float, int)")
    high: int | float | None = Field(None, description="upper bound, inclusive (float, int)")
    step: int | float | None = Field(None, description="discretisation step (float, int)")
    log: bool = Field(False, description="sample on a log scale (float, int; low > 0)")
    choices: list[Any] | None = Field(None, description="candidate values (categorical)")
    when: dict[str, Any] = Field(default_factory=dict,
                                 description="key path -> required value or list of values")

    @model_validator(mode="after")
    def _check(self) -> ParamSpec:
        if self.type == "categorical":
            for key in ("low", "high", "step", "log"):
                if key in self.model_fields_set:
                    raise _err(f"'{key}' does not apply to a categorical parameter (use choices)",
                               key)
            if self.choices is None:
                raise _err("a categorical parameter needs 'choices': a non-empty list", "choices")
            if not self.choices:
                raise _err("'choices' is empty: list at least one value", "choices")
            seen: list[Any] = []
            for i, c in enumerate(self.choices):
                if any(c == s and type(c) is type(s) for s in seen):
                    raise _err(f"choice {c!r} is listed twice", "choices", i)
                seen.append(c)
            return self
        if self.choices is not None:
            raise _err(f"'choices' applies to categorical parameters, not {self.type}", "choices")
        for key in ("low", "high"):
            value = getattr(self, key)
            if value is None:
                raise _err(f"a {self.type} parameter needs '{key}'", key)
            if not math.isfinite(value):
                raise _err(f"'{key}' must be a finite number, got {value}", key)
            if self.type == "int" and not _is_int(value):
                raise _err(f"'{key}' of an int parameter must be an integer, got {value}", key)
        assert self.low is not None and self.high is not None
        if self.low > self.high:
            raise _err(f"low ({self.low}) is greater than high ({self.high})", "low")
        if self.log and self.low <= 0:
            raise _err(f"a log-scale parameter needs low > 0, got {self.low}", "low")
        if self.step is not None:
            if not self.step > 0:
                raise _err(f"'step' must be positive, got {self.step}", "step")
            if self.type == "int" and not _is_int(self.step):
                raise _err(f"'step' of an int parameter must be an integer, got {self.step}",
                           "step")
            if self.log:
                raise _err("'step' and 'log: true' cannot be combined", "step")
        if self.type == "int":
            object.__setattr__(self, "low", int(self.low))
            object.__setattr__(self, "high", int(self.high))
            if self.step is not None:
                object.__setattr__(self, "step", int(self.step))
        else:
            object.__setattr__(self, "low", float(self.low))
            object.__setattr__(self, "high", float(self.high))
        return self

    def candidates(self) -> list[Any]:
        """Values that span the space: both bounds, or every choice (for validation)."""
        if self.type == "categorical":
            return list(self.choices or [])
        return [self.low] if self.low == self.high else [self.low, self.high]

    def grid(self) -> list[Any] | None:
        """Every value of the space, or None if it is continuous."""
        if self.type == "categorical":
            return list(self.choices or [])
        assert self.low is not None and self.high is not None
        if self.type == "int":
            return list(range(int(self.low), int(self.high) + 1, int(self.step or 1)))
        if self.step is None:
            return None
        n = int(math.floor((self.high - self.low) / self.step + 1e-9))
        return [round(self.low + i * self.step, 12) for i in range(n + 1)]


def condition_values(required: Any) -> list[Any]:
    """The accepted values of one ``when`` entry (a list means any of its items)."""
    return list(required) if isinstance(required, list) else [required]


class SamplerConfig(StrictModel):
    """Which Optuna sampler proposes trial values."""

    name: Literal["tpe", "random", "cmaes", "grid"] = "tpe"
    seed: int | None = Field(
        None, ge=0, description="sampler seed: the first process of a study uses it as is, each "
                                "later process derives its own from it (default: fresh randomness)")
    n_startup_trials: int = Field(5, ge=0, description="random trials before TPE / CMA-ES model")
    multivariate: bool = Field(False, description="TPE: model parameters jointly")

    @model_validator(mode="after")
    def _check(self) -> SamplerConfig:
        if self.name in ("random", "grid"):
            for key in ("n_startup_trials", "multivariate"):
                if key in self.model_fields_set:
                    raise _err(f"'{key}' does not apply to the {self.name} sampler", key)
        if self.name == "cmaes" and "multivariate" in self.model_fields_set:
            raise _err("'multivariate' applies to the tpe sampler only", "multivariate")
        return self


class PrunerConfig(StrictModel):
    """Stop unpromising trials early from their intermediate evaluations.

    Resources and warm-up are counted in evaluations (``every`` timesteps each).
    """

    name: Literal["median", "successive_halving", "hyperband", "none"] = "median"
    n_startup_trials: int = Field(3, ge=0, description="median: finished trials before pruning")
    n_warmup_evaluations: int = Field(
        1, ge=0, description="median: evaluations a trial always gets before it can be pruned")
    min_resource: int = Field(1, ge=1, description="successive halving / hyperband: evaluations")
    reduction_factor: int = Field(3, ge=2, description="successive halving / hyperband")

    @model_validator(mode="after")
    def _check(self) -> PrunerConfig:
        applies = {"median": ("n_startup_trials", "n_warmup_evaluations"),
                   "successive_halving": ("min_resource", "reduction_factor"),
                   "hyperband": ("min_resource", "reduction_factor"), "none": ()}[self.name]
        for key in self.model_fields_set - {"name"}:
            if key not in applies:
                raise _err(f"'{key}' does not apply to the {self.name} pruner"
                           + (f" (it takes: {', '.join(applies)})" if applies else ""), key)
        return self


class ObjectiveConfig(StrictModel):
    """The value a trial is scored by: one evaluation metric, aggregated over evaluations.

    ``metric`` defaults to ``success_rate`` when the env reports success, else ``mean_reward``.
    Any other evaluation metric or final-info key (its mean) can be named; metrics without a
    natural direction need ``direction``.
    """

    metric: str | None = Field(None, description="evaluation metric (default: success rate, "
                                                 "else mean reward)")
    aggregate: Literal["best", "last", "mean_last_k"] = Field(
        "mean_last_k", description="best evaluation, last one, or mean of the last k")
    k: int | None = Field(None, ge=1, description="mean_last_k: evaluations averaged "
                                                  "(default 3, fewer if a trial has fewer)")
    direction: Literal["maximize", "minimize"] | None = Field(
        None, description="required for metrics without a natural direction")

    @model_validator(mode="after")
    def _check(self) -> ObjectiveConfig:
        if self.k is not None and self.aggregate != "mean_last_k":
            raise _err(f"'k' applies to aggregate: mean_last_k, not {self.aggregate}", "k")
        metric = self.metric
        if metric in NOT_OBJECTIVES:
            raise _err(f"'{metric}' counts evaluation episodes; it does not measure the policy",
                       "metric")
        if (metric is None or metric in HIGHER_IS_BETTER) and self.direction == "minimize":
            raise _err(f"'{metric or 'success_rate / mean_reward'}' is better when higher: "
                       "direction must be maximize (or left out)", "direction")
        if metric is not None and metric not in HIGHER_IS_BETTER and self.direction is None:
            raise _err(f"metric '{metric}' has no natural direction: set direction: maximize "
                       "or minimize", "direction")
        return self

    @property
    def resolved_direction(self) -> Literal["maximize", "minimize"]:
        """The study direction."""
        return self.direction or "maximize"


def storage_kind(storage: str) -> Literal["rdb", "sqlite_file", "journal"]:
    """Classify a ``storage`` string: an RDB URL, a SQLite file path or a journal file path."""
    if "://" in storage:
        return "rdb"
    lower = storage.lower()
    if lower.endswith(SQLITE_SUFFIXES):
        return "sqlite_file"
    if lower.endswith(JOURNAL_SUFFIXES):
        return "journal"
    raise ValueError(
        f"storage '{storage}' is neither a database URL (postgresql://user:password@host/db, "
        f"sqlite:///file.db) nor a file path ending in {', '.join(SQLITE_SUFFIXES)} (SQLite) or "
        f"{', '.join(JOURNAL_SUFFIXES)} (Optuna journal file)")


class TuneConfig(StrictModel):
    """A hyperparameter search over the experiment config it is part of."""

    study: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
                              description="study name (default: the config's name)")
    storage: str | None = Field(
        None, description="database URL, SQLite file or journal file "
                          "(default: <runs_dir>/<name>/tune.db)")
    sampler: SamplerConfig = Field(default_factory=SamplerConfig)
    pruner: PrunerConfig = Field(default_factory=PrunerConfig)
    n_trials: int = Field(20, ge=0, description="trials this process runs (0: report only)")
    timeout: float | None = Field(None, gt=0, description="seconds after which no new trial "
                                                          "starts")
    timesteps: int | None = Field(None, gt=0, description="timesteps per trial and seed "
                                                          "(default: total_timesteps)")
    seeds: int | list[int] = Field(1, description="seeds per trial (a count from the config's "
                                                  "seed, or a list); the objective is averaged")
    n_jobs: int = Field(1, ge=1, le=64, description="trials run in parallel threads")
    objective: ObjectiveConfig = Field(default_factory=ObjectiveConfig)
    params: dict[str, ParamSpec] = Field(description="config key path -> distribution")
    enqueue: list[dict[str, Any]] = Field(
        default_factory=list, description="trials to run first, e.g. the config's current values "
                                          "as a baseline (added when the study is created)")

    @field_validator("sampler", "pruner", mode="before")
    @classmethod
    def _name_shorthand(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value

    @field_validator("storage")
    @classmethod
    def _check_storage(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.strip():
            raise ValueError("storage is empty: leave it out for the default SQLite file")
        if storage_kind(value) == "rdb":
            from sqlalchemy.engine import make_url
            from sqlalchemy.exc import ArgumentError

            try:
                url = make_url(value)
            except ArgumentError as exc:
                raise ValueError(f"storage URL '{value}' cannot be parsed: {exc}") from None
            backend = url.get_backend_name()
            if backend not in RDB_SCHEMES:
                raise ValueError(f"storage URL scheme '{backend}' is not a database Optuna can "
                                 f"use; expected one of: {', '.join(RDB_SCHEMES)}")
        return value

    @field_validator("seeds")
    @classmethod
    def _check_seeds(cls, value: int | list[int]) -> int | list[int]:
        if isinstance(value, int):
            if not 1 <= value <= 100:
                raise ValueError(f"seeds must be between 1 and 100, got {value}")
        else:
            if not value:
                raise ValueError("seeds is an empty list: give a count or at least one seed")
            if len(set(value)) != len(value):
                raise ValueError(f"seeds repeat a value: {value}")
            if any(s < 0 or s >= 2**31 for s in value):
                raise ValueError("seeds must be between 0 and 2**31 - 1")
        return value

    @model_validator(mode="after")
    def _check(self) -> TuneConfig:
        if not self.params:
            raise _err("params is empty: map at least one config key path to a distribution",
                       "params")
        names = list(self.params)
        for i, (name, spec) in enumerate(self.params.items()):
            if not name or any(not part for part in name.split(".")):
                raise _err(f"'{name}' is not a key path (keys joined by dots, e.g. "
                           "algo.hyperparams.learning_rate)", "params", name)
            for key in spec.when:
                if key == name:
                    raise _err("a parameter cannot be conditioned on itself", "params", name,
                               "when", key)
                if key in self.params and names.index(key) > i:
                    raise _err(f"'{key}' is tuned but declared after '{name}': declare the "
                               "parameters a condition depends on first", "params", name,
                               "when", key)
                if key in self.params and self.params[key].type == "float":
                    raise _err(f"'{key}' is a float parameter: conditions need a categorical "
                               "or int parameter", "params", name, "when", key)
        for i, point in enumerate(self.enqueue):
            for name, value in point.items():
                tuned = self.params.get(name)
                if tuned is None:
                    raise _err(f"'{name}' is not a tuned parameter; enqueued trials set tuned "
                               f"parameters only: {', '.join(self.params)}", "enqueue", i, name)
                if tuned.type == "categorical":
                    if not any(value == c and type(value) is type(c) for c in tuned.choices or []):
                        raise _err(f"{value!r} is not one of the choices {tuned.choices}",
                                   "enqueue", i, name)
                elif (not isinstance(value, (int, float)) or isinstance(value, bool)
                      or not tuned.low <= value <= tuned.high  # type: ignore[operator]
                      or (tuned.type == "int" and not _is_int(value))):
                    raise _err(f"{value!r} is outside the {tuned.type} range "
                               f"[{tuned.low}, {tuned.high}]", "enqueue", i, name)
        if self.sampler.name == "grid":
            for name, spec in self.params.items():
                if spec.grid() is None:
                    raise _err("the grid sampler needs a finite set of values: give this float "
                               "parameter a step, or use categorical choices", "params", name)
                if spec.when:
                    raise _err("the grid sampler cannot be combined with conditional "
                               "parameters (when:)", "params", name, "when")
        return self

    def seed_list(self, base_seed: int) -> list[int]:
        """The seeds each trial trains with."""
        if isinstance(self.seeds, list):
            return list(self.seeds)
        return [base_seed + i for i in range(self.seeds)]

    def grid_size(self) -> int:
        """Number of points of the grid (grid sampler)."""
        size = 1
        for spec in self.params.values():
            size *= len(spec.grid() or [])
        return size


def trial_config_data(base: dict[str, Any], values: Mapping[str, Any], *, timesteps: int,
                      seed: int) -> dict[str, Any]:
    """Plain data of one trial run: base config + sampled values, timesteps and seed."""
    raw = copy.deepcopy(base)
    for path, value in values.items():
        set_path(raw, path, copy.deepcopy(value))
    raw["total_timesteps"] = int(timesteps)
    raw["seed"] = int(seed)
    return raw
