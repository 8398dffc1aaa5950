"""Typed, validated experiment configuration (YAML -> config objects).

:func:`validate_config` turns plain data into an :class:`ExperimentConfig`: each section is
validated, then every check across sections runs once (:mod:`hlynr.config.checks`, the
``tune:`` search space included), then every cell of a ``grid:`` (:mod:`hlynr.config.grid`).
Config *files* are read by :func:`hlynr.zoo.load_config`, the one entry point for every command,
the dashboard and tests: it also reads a ``zoo:`` key (an RL Zoo entry to start from), which the
layer above this one translates.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from hlynr.config.checks import check_config
from hlynr.config.grid import check_grid
from hlynr.config.loader import ConfigError, Origin, format_validation_error
from hlynr.config.schema import ExperimentConfig, dump_config


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
