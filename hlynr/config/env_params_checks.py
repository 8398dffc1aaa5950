"""Env parameters against what a component needs: the helpers of the components' own checks.

:func:`stage_params_problem` checks curriculum stages (env parameters) against the env's
parameter model; :func:`baseline_env_problem` checks that the config's env gives a baseline
the parameters it needs (a residual-guidance baseline, a pretraining teacher). Components call
them from their own checks (``ChecksConfig``, ``ChecksChain``), and the ``pretrain:`` checks use
them too (:mod:`hlynr.config.pretrain_checks`).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from hlynr.config.env import merged_kwargs
from hlynr.config.loader import error_message, user_loc
from hlynr.config.probe import Problem
from hlynr.config.schema import ExperimentConfig
from hlynr.registries import ENV_PARAMS, PETTINGZOO_ENVS


def stage_params_problem(config: Any, stages: list[dict[str, Any]]) -> Problem:
    """The first of ``stages`` (env parameters) that the env's parameter model rejects, as
    ``((index, *key path), message)``, or None. Envs without a registered parameter model are
    checked when the parameters are applied (unknown attributes fail there)."""
    env = config.env
    model = None
    if env.type == "pettingzoo":
        model = PETTINGZOO_ENVS.get(env.id).params
    elif env.id in ENV_PARAMS:
        model = ENV_PARAMS.get(env.id)
    if model is None:
        return None
    for i, stage in enumerate(stages):
        try:
            model.model_validate({**env.kwargs, **stage})
        except ValidationError as exc:
            err = exc.errors()[0]
            return (i, *user_loc(err, {**env.kwargs, **stage})), error_message(err)
    return None


def baseline_env_problem(entry: Any, config: ExperimentConfig,
                         sees: dict[str, Any] | None = None) -> str | None:
    """What the config's env lacks that the baseline ``entry`` needs (its ``env_overrides``,
    e.g. ``sensor: {filter: ca}``), as ``"needs env.kwargs... (the config has ...)"``, or None.

    A baseline used inside training (residual guidance, a teacher) must act through the
    config's own sensor path, so its needs are checked rather than applied. ``sees``: env
    parameters merged into the config's first (a truth-fed teacher sees the env as with
    ``sensor: {mode: truth}``).
    """
    if not entry.env_overrides:
        return None
    kwargs = merged_kwargs(config.env.kwargs, sees) if sees else config.env.kwargs
    env = ENV_PARAMS.get(config.env.id).model_validate(kwargs)
    for section, wanted in entry.env_overrides.items():
        have = getattr(env, section)
        pairs = wanted.items() if isinstance(wanted, dict) else [(None, wanted)]
        for key, value in pairs:
            current = have if key is None else getattr(have, key)
            if current != value:
                want = f"{section}: {value}" if key is None else f"{section}: {{{key}: {value}}}"
                now = f"{section}" + ("" if key is None else f".{key}") + f": {current}"
                return f"needs env.kwargs.{want} (the config has {now})"
    return None


__all__ = ["baseline_env_problem", "stage_params_problem"]
