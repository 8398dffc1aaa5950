"""The callback registry: short names in a config's ``callbacks:`` list -> callback builders.

Same syntax as wrappers: ``- name`` or ``- name: {param: value}``. Each entry declares its
parameter model, whether it consumes evaluation results (then an ``evaluation`` callback must be
configured), and which algorithms it applies to.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hlynr.config.base import StrictModel
from hlynr.registry import Registry

if TYPE_CHECKING:
    from stable_baselines3.common.callbacks import BaseCallback

    from hlynr.algos.registry import AlgorithmEntry


@dataclass(frozen=True)
class CallbackEntry:
    """How one named callback validates its parameters and is built."""

    params: type[StrictModel]
    build: Callable[[Any, Any], BaseCallback]
    """``build(params, context) -> BaseCallback`` (context: :class:`hlynr.training.context.RunContext`)."""
    needs_evaluation: bool = False
    applies_to: Callable[[AlgorithmEntry], str | None] | None = None
    """Returns a reason string when the callback cannot work with the algorithm, else None."""
    doc: str = ""


CALLBACKS: Registry[CallbackEntry] = Registry("callback")
