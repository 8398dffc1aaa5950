"""Loading configs: :func:`load_config` is the one entry point for config files.

Every command (``train.py``, ``evaluate.py``, ``hlynr tune``, ``--resume``), the dashboard's
Start, evaluation targets and tests load a config file with :func:`load_config`; ``train.py
--zoo FILE --env ID`` loads a Zoo file as it is with :func:`load_zoo`. Both end in
:func:`hlynr.config.validate_config`, so a config is accepted or refused the same way everywhere.

It lives here, one layer above :mod:`hlynr.config`, because a hlynr config may start from a Zoo
entry and override any of its values::

    zoo: {file: hyperparams/ppo.yml, env: CartPole-v1}   # file: relative to this config
    total_timesteps: 20000
    algo: {hyperparams: {n_epochs: 10}}

The Zoo entry is translated first; the config's own keys are deep-merged over it (lists
replaced), then ``--set`` overrides, then the whole is validated like any config.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError

from hlynr.config import ExperimentConfig, validate_config
from hlynr.config.base import StrictModel
from hlynr.config.loader import (
    Origin,
    apply_overrides,
    deep_merge,
    format_validation_error,
    load_raw,
)
from hlynr.zoo.translate import ZooError, read_entry, translate


class ZooRef(StrictModel):
    """The ``zoo:`` key of a hlynr config: which Zoo file and env entry to start from."""

    file: str = Field(min_length=1, description="Zoo hyperparameter file, relative to this config")
    env: str = Field(min_length=1, description="env id (the entry; falls back to 'default')")
    algo: str | None = Field(None, description="Zoo algorithm name (default: the file's stem)")


@dataclass
class Loaded:
    """A validated config, and notes on what translating its Zoo entry changed."""

    config: ExperimentConfig
    notes: list[str] = field(default_factory=list)


def zoo_data(
    file: str | Path, env_id: str, algo: str | None = None,
) -> tuple[dict[str, Any], dict[tuple[Any, ...], Origin], str, list[str]]:
    """Translated data, origins, a source label (``file [entry]``) and notes for a Zoo entry."""
    entry = read_entry(file, env_id, algo)
    data, origins = translate(entry)
    return data, origins, f"{file} [{entry.name}]", entry.notes


def load_zoo(
    file: str | Path, env_id: str, algo: str | None = None, overrides: Iterable[str] = (),
) -> Loaded:
    """The validated config of a Zoo entry, with ``--set`` overrides applied."""
    data, origins, source, notes = zoo_data(file, env_id, algo)
    apply_overrides(data, origins, overrides)
    return Loaded(validate_config(data, source, origins), notes)


def _replaced(path: tuple[Any, ...], own: dict[str, Any]) -> bool:
    """Whether the config's ``own`` data replaces the Zoo value at ``path`` (a list or value
    written over it, or over one of its parents), so that the Zoo's line no longer applies."""
    node: Any = own
    for part in path[:-1]:
        if not isinstance(node, dict):
            return True
        if part not in node:
            return False
        node = node[part]
    return not isinstance(node, dict)


def load_config(path: str | Path, overrides: Iterable[str] = ()) -> Loaded:
    """Load a YAML config file: ``extends`` merged, a ``zoo:`` key's entry translated under it,
    ``--set`` ``overrides`` applied, then validated (every section, then every check across
    sections). Raises :class:`~hlynr.config.ConfigError` naming the file, line and key.

    Returns the config and the notes of the Zoo translation (empty without a ``zoo:`` key).
    """
    data, origins = load_raw(path, overrides)
    source, notes = str(path), list[str]()
    if "zoo" in data:
        raw = data.pop("zoo")
        try:
            ref = ZooRef.model_validate(raw)
        except ValidationError as exc:
            raise ZooError(format_validation_error(exc, raw, source, what="'zoo' key in")) from None
        file = Path(ref.file)
        if not file.is_absolute():
            file = Path(path).resolve().parent / file
        base, base_origins, label, notes = zoo_data(file, ref.env, ref.algo)
        kept = {k: v for k, v in base_origins.items() if not _replaced(k, data)}
        data = deep_merge(base, data)
        origins = {**kept, **origins}
        source = f"{path} (from {label})"
    return Loaded(validate_config(data, source, origins), notes)
