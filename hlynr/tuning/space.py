"""The search space: sampling with conditions, and Optuna's encoding of choices.

A tuned key path (``algo.hyperparams.learning_rate``, ``wrappers.0.normalize.gamma``) names a
key of the plain-data config; integers index lists. A trial's config is the base config with
each sampled value written at its path, then validated like any config file. The key-path
helpers and the search-space check live with the config (:mod:`hlynr.config.tuning`,
:mod:`hlynr.config.search_space_checks`), which validates a ``tune:`` section whenever a config
is loaded.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import optuna

from hlynr.config.key_paths import MISSING, get_path, same_value, set_path, split_path
from hlynr.config.search_space_checks import Lines, base_config, check_search_space
from hlynr.config.tuning import ParamSpec, TuneConfig, condition_values, trial_config_data

_PRIMITIVE = (type(None), bool, int, float, str)


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
        if not any(same_value(actual, v) for v in condition_values(required)):
            return False
    return True


def sample(trial: optuna.Trial, tune: TuneConfig, base: dict[str, Any]) -> dict[str, Any]:
    """Sample every parameter whose conditions hold, in declaration order."""
    values: dict[str, Any] = {}
    for name, spec in tune.params.items():
        if conditions_hold(spec, values, base, tune.params):
            values[name] = suggest(trial, name, spec)
    return values


__all__ = ["Lines", "MISSING", "base_config", "check_search_space", "choice_labels",
           "conditions_hold", "decode_params", "encode_params", "get_path", "sample", "set_path",
           "split_path", "suggest", "trial_config_data"]
