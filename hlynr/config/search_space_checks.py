"""The ``tune:`` search space against the config: every candidate value gives a valid config.

:func:`check_search_space` writes every candidate value of every tuned key (both bounds, every
choice) into the config, with the values its conditions require, and validates the result like
a config file (:func:`~hlynr.config.checks.validation_lines`); it reports all the problems, not
just the first. :func:`base_config` is the plain-data config that trials start from;
:mod:`hlynr.tuning` samples trials from it.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from hlynr.config.checks import validation_lines
from hlynr.config.key_paths import MISSING, get_path, same_value, set_path, split_path
from hlynr.config.loader import ConfigError, Origin, dotted, where_written
from hlynr.config.schema import ExperimentConfig, dump_config
from hlynr.config.tuning import condition_values, trial_config_data

Lines = Mapping[tuple[Any, ...], Origin]
"""Where each key path was written: ``(file or "--set", line)``."""


def base_config(config: ExperimentConfig) -> dict[str, Any]:
    """The plain-data config that trials start from: resolved, without the ``tune`` section.

    When ``algo.name`` is tuned and ``algo.policy`` is the algorithm's default, the policy is
    left out so that each trial gets its own algorithm's default (e.g. MlpLstmPolicy for
    RecurrentPPO).
    """
    raw = dump_config(config)
    for key in ("seeds", "grid"):  # a trial is one run per tune seed
        raw.pop(key, None)
    tune = raw.pop("tune", None) or {}
    params = tune.get("params", {})
    if "algo.name" in params and "algo.policy" not in params:
        if config.algo.policy == config.algo.entry.default_policy:
            raw["algo"].pop("policy", None)
    return raw


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
    origins = dict(lines or {})
    problems: list[str] = []

    def problem(msg: str, *path: Any) -> None:
        loc = ("tune",) + path
        problems.append(f"  {where_written(loc, origins, source)}: {dotted(loc)}: {msg}")

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
        if head in ("tune", "seed", "seeds", "grid", "total_timesteps", "name", "runs_dir"):
            what = {"tune": "the tune section itself", "seed": "set by tune.seeds",
                    "seeds": "set by tune.seeds", "grid": "a grid is not a search space",
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
                if not any(same_value(a, v) for a in accepted for v in values):
                    problem(f"'{key}' is tuned over {values}, none of which is "
                            f"{accepted if len(accepted) > 1 else accepted[0]!r}: the parameter "
                            "would never be sampled", "params", name, "when", key)
                    continue
                required[key] = next(a for a in accepted if any(same_value(a, v) for v in values))
                continue
            actual = get_path(base, key)
            if actual is MISSING:
                problem(f"'{key}' is neither a key of the config nor a tuned parameter",
                        "params", name, "when", key)
            elif not any(same_value(actual, v) for v in accepted):
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
            errors = validation_lines(data)
            if errors:
                cond = "".join(f", {k} = {v!r}" for k, v in required.items())
                problem(f"the value {value!r}{cond} gives an invalid config:\n      "
                        + "\n      ".join(errors), "params", name)
                break
    if problems:
        n = len(problems)
        raise ConfigError(f"invalid search space in {source} ({n} error{'s' if n > 1 else ''}; "
                          "no trial was run):\n" + "\n".join(problems))


__all__ = ["Lines", "base_config", "check_search_space"]
