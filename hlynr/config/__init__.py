"""Typed, validated experiment configuration (YAML -> config objects).

:func:`validate_config` turns plain data into an :class:`ExperimentConfig`. Config *files* are
read by :func:`hlynr.zoo.load_config`, the one entry point for every command, the dashboard and
tests: it also reads a ``zoo:`` key (an RL Zoo entry to start from), which the layer above this
one translates.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from hlynr.config.loader import ConfigError, format_validation_error
from hlynr.config.schema import ExperimentConfig


def validate_config(
    data: dict[str, Any], source: str = "<config>", origins: dict | None = None,
) -> ExperimentConfig:
    """Validate plain data into an :class:`ExperimentConfig`, raising :class:`ConfigError`."""
    try:
        return ExperimentConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, data, source, origins)) from None


def dump_config(config: ExperimentConfig) -> dict[str, Any]:
    """The fully resolved config as plain data (what ``config.yaml`` in a run folder holds)."""
    data = config.model_dump(mode="json")
    for key in ("tune", "pretrain"):
        if data.get(key) is None:
            data.pop(key, None)
    return data


__all__ = ["ConfigError", "ExperimentConfig", "dump_config", "validate_config"]
