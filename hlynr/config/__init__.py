"""Typed, validated experiment configuration (YAML -> config objects)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from hlynr.config.loader import ConfigError, format_validation_error, load_raw
from hlynr.config.schema import ExperimentConfig


def validate_config(
    data: dict[str, Any], source: str = "<config>", origins: dict | None = None,
) -> ExperimentConfig:
    """Validate plain data into an :class:`ExperimentConfig`, raising :class:`ConfigError`."""
    try:
        return ExperimentConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, data, source, origins)) from None


def load_config(path: str | Path, overrides: Iterable[str] = ()) -> ExperimentConfig:
    """Load, merge (``extends``), override (``--set``) and validate a YAML config file."""
    data, origins = load_raw(path, overrides)
    return validate_config(data, str(path), origins)


def dump_config(config: ExperimentConfig) -> dict[str, Any]:
    """The fully resolved config as plain data (what ``config.yaml`` in a run folder holds)."""
    data = config.model_dump(mode="json")
    for key in ("tune", "pretrain"):
        if data.get(key) is None:
            data.pop(key, None)
    return data


__all__ = ["ConfigError", "ExperimentConfig", "dump_config", "load_config", "validate_config"]
