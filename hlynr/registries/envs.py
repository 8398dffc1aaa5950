"""Registries that let environment packages plug into the env builder.

* :data:`ENV_PARAMS`: Gymnasium id -> parameter model used to validate the config's
  ``env.kwargs`` at load time, before anything runs. Ids without an entry are validated against
  the env constructor's signature.
* :data:`BATCHED_ENVS`: Gymnasium id -> factory building one SB3 ``VecEnv`` that steps all
  ``n_envs`` copies as NumPy arrays (the ``batched`` vectoriser).
* :data:`PETTINGZOO_ENVS`: name -> factory of a PettingZoo ``ParallelEnv`` (``env.type:
  pettingzoo``), plus its parameter model.

Environments that support curricula implement ``apply_params(**params)``: the new parameters
take effect from the next reset. Vectorised envs forward it via ``env_method``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from hlynr.registries.base import Registry

ENV_PARAMS: Registry[type[BaseModel]] = Registry("environment parameter model")

BatchedEnvFactory = Callable[..., Any]
"""``factory(n_envs: int, seed: int | None, **env_kwargs) -> VecEnv``."""

BATCHED_ENVS: Registry[BatchedEnvFactory] = Registry("batched environment")


@dataclass(frozen=True)
class PettingZooEntry:
    """A PettingZoo parallel env: ``factory(**kwargs) -> ParallelEnv`` and its parameter model."""

    factory: Callable[..., Any]
    params: type[BaseModel]


PETTINGZOO_ENVS: Registry[PettingZooEntry] = Registry("PettingZoo environment")
