"""Key paths into plain config data: ``a.b.0.c`` read, written and compared (``--set``, tuning
search spaces, grids and seed lists all address config keys this way)."""

from __future__ import annotations

from typing import Any

from hlynr.config.loader import ConfigError, apply_override

MISSING: Any = object()
"""What :func:`get_path` returns for a key path the data does not have."""


def split_path(path: str) -> list[str | int]:
    """``a.b.0.c`` -> ``["a", "b", 0, "c"]`` (integers index lists)."""
    return [int(p) if p.isdigit() else p for p in path.split(".")]


def get_path(data: Any, path: str) -> Any:
    """The value at ``path`` in plain data, or :data:`MISSING`."""
    node = data
    for part in split_path(path):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            return MISSING
    return node


def set_path(data: dict[str, Any], path: str, value: Any) -> None:
    """Write ``value`` at ``path`` in plain data, creating mappings along the way."""
    try:
        apply_override(data, split_path(path), value)
    except ConfigError as exc:
        raise ConfigError(str(exc).replace("--set ", "key path ", 1)) from None


def same_value(a: Any, b: Any) -> bool:
    """Equal, and a boolean only equals a boolean (``True`` is not ``1`` here)."""
    return a == b and isinstance(a, bool) == isinstance(b, bool)
