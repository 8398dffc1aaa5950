"""Named fields laid out one after another in a vector: the one way the envs' layouts are built.

A layout is a table of ``(name, size, ...)`` rows (extra columns such as a description are
ignored); :func:`field_slices` gives each name its slice and the total length, so code addresses
an observation entry, a state row or a critic entry by name, never by a literal offset.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def field_slices(fields: Iterable[tuple[Any, ...]], start: int = 0) -> tuple[dict[str, slice], int]:
    """The slice of every field ``(name, size, ...)`` laid out from ``start``, and where they end."""
    out: dict[str, slice] = {}
    for name, size, *_ in fields:
        out[name] = slice(start, start + size)
        start += size
    return out, start
