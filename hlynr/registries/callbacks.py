"""The callback registry: short names in a config's ``callbacks:`` list -> callback builders.

Same syntax as wrappers: ``- name`` or ``- name: {param: value}``. Each entry declares its
parameter model, whether it consumes evaluation results (then an ``evaluation`` callback must be
configured), and which algorithms it applies to.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from hlynr.registries.algorithms import AlgorithmEntry
from hlynr.registries.base import Registry
from hlynr.registries.context import RunContext


@dataclass(frozen=True)
class CallbackEntry:
    """How one named callback validates its parameters and is built."""

    params: type[BaseModel]
    build: Callable[[Any, RunContext[Any]], object]
    """``build(params, ctx) -> BaseCallback | EvaluationListener``: ``params`` an instance of
    :attr:`params`, ``ctx`` the run's :class:`~hlynr.registries.context.RunContext`."""
    needs_evaluation: bool = False
    applies_to: Callable[[AlgorithmEntry], str | None] | None = None
    """Returns a reason string when the callback cannot work with the algorithm, else None."""


CALLBACKS: Registry[CallbackEntry] = Registry("callback")
