"""The search space: key paths into the config, sampling with conditions, and validation.

A tuned key path (``algo.hyperparams.learning_rate``, ``wrappers.0.normalize.gamma``) names a
key of the plain-data config; integers index lists. A trial's config is the base config with
each sampled value written at its path, then validated like any config file.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import optuna
from pydantic import ValidationError

from hlynr.config import ConfigError, ExperimentConfig, dump_config
from hlynr.config.loader import ConfigError as _LoaderConfigError
from hlynr.config.loader import apply_override, dotted, error_message, specific_errors
from hlynr.config.tuning import ParamSpec, TuneConfig, condition_values

_PRIMITIVE = (type(None), bool, int, float, str)
_MISSING = object()
Lines = Mapping[tuple[Any, ...], tuple[str, int | None]]


def split_path(path: str) -> list[str | int]:
    """``a.b.0.c`` -> ``["a", "b", 0, "c"]`` (integers index lists)."""
    return [int(p) if p.isdigit() else p for p in path.split(".")]


def get_path(data: Any, path: str) -> Any:
    """The value at ``path`` in plain data, or the ``_MISSING`` sentinel."""
    node = data
    for part in split_path(path):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            return _MISSING
    return node


def set_path(data: dict[str, Any], path: str, value: Any) -> None:
    """Write ``value`` at ``path`` in plain data, creating mappings along the way."""
    try:
        apply_override(data, split_path(path), value)
    except _LoaderConfigError as exc:
        raise ConfigError(str(exc).replace("--set ", "key path ", 1)) from None


def _encoded(spec: ParamSpec) -> bool:
    """Whether a categorical's choices are stored as JSON text (lists, mappings)."""
    return any(not isinstance(c, _PRIMITIVE) for c in spec.choices or [])


def choice_labels(spec: ParamSpec) -> list[Any]:
    """The values Optuna stores for a categorical: the choices, or their JSON text."""
    choices = list(spec.choices or [])
    return [json.dumps(c) for c in choices] if _encoded(spec) else choices


def suggest(trial: optuna.Trial, name: str, spec: ParamSpec) -> Any:
    """Sample one parameter (decoded to its config value)."""
    if spec.type == "float":
        assert spec.low is not None and spec.high is not None
        return trial.suggest_float(name, float(spec.low), float(spec.high), step=spec.step,
                                   log=spec.log)
    if spec.type == "int":
        assert spec.low is not None and spec.high is not None
        return trial.suggest_int(name, int(spec.low), int(spec.high), step=int(spec.step or 1),
                                 log=spec.log)
    value = trial.suggest_categorical(name, choice_labels(spec))
    return json.loads(value) if _encoded(spec) else value


def decode_params(tune: TuneConfig, params: Mapping[str, Any]) -> dict[str, Any]:
    """Config values of a finished trial's Optuna ``params`` (JSON choices decoded)."""
    out = {}
    for name, value in params.items():
        spec = tune.params.get(name)
        out[name] = json.loads(value) if spec is not None and _encoded(spec) and isinstance(
            value, str) else value
    return out


def encode_params(tune: TuneConfig, values: Mapping[str, Any]) -> dict[str, Any]:
    """Optuna ``params`` for config values (list/mapping choices as their JSON text)."""
    return {name: json.dumps(v) if _encoded(tune.params[name]) else v
            for name, v in values.items()}


def _equal(a: Any, b: Any) -> bool:
    return a == b and isinstance(a, bool) == isinstance(b, bool)


def conditions_hold(spec: ParamSpec, sampled: Mapping[str, Any], base: dict[str, Any],
                    tuned: Mapping[str, ParamSpec]) -> bool:
    """Whether every ``when`` condition of ``spec`` holds for this trial."""
    for key, required in spec.when.items():
        if key in tuned:
            if key not in sampled:  # its own condition did not hold
                return False
            actual = sampled[key]
        else:
            actual = get_path(base, key)
        if not any(_equal(actual, v) for v in condition_values(required)):
            return False
    return True


def sample(trial: optuna.Trial, tune: TuneConfig, base: dict[str, Any]) -> dict[str, Any]:
    """Sample every parameter whose conditions hold, in declaration order."""
    values: dict[str, Any] = {}
    for name, spec in tune.params.items():
        if conditions_hold(spec, values, base, tune.params):
            values[name] = suggest(trial, name, spec)
    return values


def base_config(config: ExperimentConfig) -> dict[str, Any]:
    """The plain-data config that trials start from: resolved, without the ``tune`` section.

    When ``algo.name`` is tuned and ``algo.policy`` is the algorithm's default, the policy is
    left out so that each trial gets its own algorithm's default (e.g. MlpLstmPolicy for
    RecurrentPPO).
    """
    raw = dump_config(config)
    tune = raw.pop("tune", None) or {}
    params = tune.get("params", {})
    if "algo.name" in params and "algo.policy" not in params:
        if config.algo.policy == config.algo.entry.default_policy:
            raw["algo"].pop("policy", None)
    return raw


def trial_config_data(base: dict[str, Any], values: Mapping[str, Any], *, timesteps: int,
                      seed: int) -> dict[str, Any]:
    """Plain data of one trial run: base config + sampled values, timesteps and seed."""
    raw = copy.deepcopy(base)
    for path, value in values.items():
        set_path(raw, path, copy.deepcopy(value))
    raw["total_timesteps"] = int(timesteps)
    raw["seed"] = int(seed)
    return raw


def _validation_lines(data: dict[str, Any]) -> list[str]:
    """The problems of plain config data, one ``key.path: message`` line each (none if valid)."""
    try:
        ExperimentConfig.model_validate(data)
    except ValidationError as exc:
        lines = []
        for loc, error in specific_errors(exc, data):
            line = f"{dotted(loc) or '(top level)'}: {error_message(error)}"
            if line not in lines:
                lines.append(line)
        return lines
    return []


def _where(lines: Lines, source: str, *path: Any) -> str:
    for n in range(len(path), 0, -1):
        if path[:n] in lines:
            file, line = lines[path[:n]]
            return f"{file}:{line}" if line else file
    return source


def check_search_space(config: ExperimentConfig, source: str = "<config>",
                       lines: Lines | None = None) -> None:
    """Check a config's ``tune`` section against the config; raise one :class:`ConfigError`.

    Every candidate value of every tuned key (both bounds, every choice) is written into the
    config, together with the values its conditions require, and the result validated like a
    config file, so misspelt keys and out-of-range values are named before any trial runs.
    """
    tune = config.tune
    if tune is None:
        raise ConfigError(f"{source}: no 'tune:' section: add one with the search space "
                          "(see docs/tuning.md)")
    lines = lines or {}
    problems: list[str] = []

    def problem(msg: str, *path: Any) -> None:
        loc = ("tune",) + path
        problems.append(f"  {_where(lines, source, *loc)}: {dotted(loc)}: {msg}")

    evaluation = config.callback("evaluation")
    timesteps = tune.timesteps or config.total_timesteps
    if evaluation is None:
        problem("the objective is computed from evaluations: add an 'evaluation' callback "
                "(e.g. '- evaluation: {every: 10000, episodes: 10}')")
    else:
        n_evals = timesteps // evaluation.every
        if n_evals == 0:
            problem(f"no evaluation would run: a trial trains {timesteps} timesteps and "
                    f"evaluation.every is {evaluation.every}; lower 'every' or raise "
                    "tune.timesteps", "timesteps")
        elif tune.objective.k is not None and tune.objective.k > n_evals:
            problem(f"k = {tune.objective.k} but a trial evaluates only {n_evals} time(s) "
                    f"({timesteps} timesteps / every {evaluation.every})", "objective", "k")

    base = base_config(config)
    for name, spec in tune.params.items():
        head = split_path(name)[0]
        if head in ("tune", "seed", "total_timesteps", "name", "runs_dir"):
            what = {"tune": "the tune section itself", "seed": "set by tune.seeds",
                    "total_timesteps": "set by tune.timesteps", "name": "the run name",
                    "runs_dir": "where runs go"}[str(head)]
            problem(f"'{head}' cannot be tuned ({what})", "params", name)
            continue
        required: dict[str, Any] = {}
        before = len(problems)
        for key, want in spec.when.items():
            accepted = condition_values(want)
            if not accepted:
                problem("an empty list accepts no value: the parameter would never be sampled",
                        "params", name, "when", key)
                continue
            if key in tune.params:
                values = tune.params[key].candidates()
                if not any(_equal(a, v) for a in accepted for v in values):
                    problem(f"'{key}' is tuned over {values}, none of which is "
                            f"{accepted if len(accepted) > 1 else accepted[0]!r}: the parameter "
                            "would never be sampled", "params", name, "when", key)
                    continue
                required[key] = next(a for a in accepted if any(_equal(a, v) for v in values))
                continue
            actual = get_path(base, key)
            if actual is _MISSING:
                problem(f"'{key}' is neither a key of the config nor a tuned parameter",
                        "params", name, "when", key)
            elif not any(_equal(actual, v) for v in accepted):
                problem(f"'{key}' is {actual!r} in the config and is not tuned, so this "
                        "condition never holds and the parameter would never be sampled",
                        "params", name, "when", key)
        if len(problems) > before:
            continue
        for value in spec.candidates():
            data = copy.deepcopy(base)
            try:
                for key, want in required.items():
                    set_path(data, key, want)
                data = trial_config_data(data, {name: value}, timesteps=timesteps,
                                         seed=config.seed)
            except ConfigError as exc:
                problem(str(exc), "params", name)
                break
            errors = _validation_lines(data)
            if errors:
                cond = "".join(f", {k} = {v!r}" for k, v in required.items())
                problem(f"the value {value!r}{cond} gives an invalid config:\n      "
                        + "\n      ".join(errors), "params", name)
                break
    if problems:
        n = len(problems)
        raise ConfigError(f"invalid search space in {source} ({n} error{'s' if n > 1 else ''}; "
                          "no trial was run):\n" + "\n".join(problems))


def source_lines(path: str | Path | None) -> dict[tuple[Any, ...], tuple[str, int | None]]:
    """Where each key of a config file was written (for error messages); empty if unreadable."""
    if path is None:
        return {}
    from hlynr.config.loader import load_raw

    try:
        return load_raw(path)[1]
    except ConfigError:
        return {}
