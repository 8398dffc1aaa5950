"""Typed, validated experiment configuration (YAML -> config objects).

:func:`validate_config` turns plain data into an :class:`ExperimentConfig`: each section is
validated, then every check across sections runs once (:func:`check_config`: those of
:mod:`hlynr.config.checks`, then the ``tune:`` search space, :mod:`hlynr.config.search_space_checks`),
then every cell of a ``grid:`` (:mod:`hlynr.config.grid`).
Config *files* are read by :func:`hlynr.zoo.load_config`, the one entry point for every command,
the dashboard and tests: it also reads a ``zoo:`` key (an RL Zoo entry to start from), which the
layer above this one translates.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from hlynr.config.checks import first_problem
from hlynr.config.grid import check_grid
from hlynr.config.loader import ConfigError, Origin, format_problems, format_validation_error
from hlynr.config.schema import ExperimentConfig, dump_config
from hlynr.config.search_space_checks import Lines, check_search_space


def check_config(config: ExperimentConfig, source: str = "<config>",
                 origins: Lines | None = None) -> None:
    """Run every cross-section check of ``config`` (its sections already valid) once; raise
    :class:`ConfigError` naming the file, line and key of the first problem."""
    problem = first_problem(config)
    if problem is not None:
        raise ConfigError(format_problems([problem], source, dict(origins or {})))
    if config.tune is not None:
        check_search_space(config, source, origins)


def validate_config(
    data: dict[str, Any], source: str = "<config>",
    origins: dict[tuple[Any, ...], Origin] | None = None,
) -> ExperimentConfig:
    """Validate plain data into an :class:`ExperimentConfig`, raising :class:`ConfigError`.

    ``source`` and ``origins`` (where each key path was written) make the message name the
    file and line of the offending key.
    """
    try:
        config = ExperimentConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, data, source, origins)) from None
    check_config(config, source, origins)
    check_grid(config, source, origins)
    return config


__all__ = ["ConfigError", "ExperimentConfig", "dump_config", "validate_config"]
