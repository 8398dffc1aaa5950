"""The wrapper registry: short names in a config's ``wrappers:`` list -> wrapper factories.

Each entry declares a parameter model (unknown keys fail with a suggestion) and how it applies:

* ``env``: applied to every single environment before vectorisation (``dummy``/``subproc``);
* ``vec``: applied to the vectorised environment (any vectoriser, including ``batched``).

An entry may provide both; then ``vec`` is used with the ``batched`` vectoriser and ``env``
otherwise. Env-level wrappers must come before vec-level ones in the list.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from hlynr.registries.base import Registry


@dataclass(frozen=True)
class WrapContext:
    """What a wrapper may need to know about the run it is built for."""

    training: bool = True  # False for evaluation envs (e.g. frozen normalisation statistics)
    gamma: float = 0.99  # the algorithm's discount factor
    reads_slots: bool = False  # the policy's features extractor reads entity slots (a layout)


EnvWrapFn = Callable[[Any, Any, WrapContext], Any]
"""``fn(env: gymnasium.Env, params, ctx) -> gymnasium.Env``."""
VecWrapFn = Callable[[Any, Any, WrapContext], Any]
"""``fn(venv: VecEnv, params, ctx) -> VecEnv``."""


@dataclass(frozen=True)
class WrapperEntry:
    """How one named wrapper validates its parameters and wraps an env or a VecEnv."""

    params: type[BaseModel]
    env: EnvWrapFn | None = None
    vec: VecWrapFn | None = None

    def __post_init__(self) -> None:
        if self.env is None and self.vec is None:
            raise ValueError("a wrapper needs an env-level or vec-level apply function")

    def level_for(self, vectoriser: str) -> str:
        """``"env"`` or ``"vec"``: where this wrapper applies for the given vectoriser."""
        if vectoriser == "batched" or self.env is None:
            return "vec"
        return "env"


WRAPPERS: Registry[WrapperEntry] = Registry("wrapper")
