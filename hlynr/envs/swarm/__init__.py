"""Multi-agent swarm interception: ``hlynr/Swarm-v0`` and its stage presets.

:mod:`hlynr.builtins` registers, in :data:`hlynr.registries.PETTINGZOO_ENVS` (and their batched
engines in :data:`hlynr.registries.BATCHED_ENVS`):

* ``hlynr/Swarm-v0``: :class:`SwarmInterceptEnv` with :class:`SwarmParams` (``stage`` optional);
* ``hlynr/Swarm-basic-v0``, ``hlynr/Swarm-intermediate-v0``, ``hlynr/Swarm-advanced-v0``: the
  same env starting from that stage preset (explicit kwargs still override it);

and the scripted baseline ``swarm_intercept_point`` in :data:`hlynr.registries.BASELINES`.
"""

from __future__ import annotations

from typing import Any

from hlynr.envs.swarm.env import END_KEYS, SwarmInterceptEnv, make_swarm_env
from hlynr.envs.swarm.params import STAGES, SwarmParams
from hlynr.envs.swarm.vec_env import make_batched_swarm

ENV_ID = "hlynr/Swarm-v0"


def stage_factory(stage: str) -> Any:
    """A factory of ``hlynr/Swarm-v0`` starting from the named stage preset."""

    def factory(**kwargs: Any) -> SwarmInterceptEnv:
        return SwarmInterceptEnv(**{"stage": stage, **kwargs})

    factory.__name__ = f"make_swarm_{stage}_env"
    factory.__doc__ = f"``hlynr/Swarm-v0`` starting at the '{stage}' stage preset."
    return factory


def batched_stage_factory(stage: str) -> Any:
    """A batched-engine factory of ``hlynr/Swarm-v0`` starting from the named stage preset."""

    def factory(n_envs: int, seed: int | None = None, workers: int = 1, **kwargs: Any) -> Any:
        return make_batched_swarm(n_envs, seed, workers, **{"stage": stage, **kwargs})

    factory.__name__ = f"make_batched_swarm_{stage}"
    return factory


__all__ = ["ENV_ID", "END_KEYS", "STAGES", "SwarmInterceptEnv", "SwarmParams",
           "batched_stage_factory", "make_batched_swarm", "make_swarm_env", "stage_factory"]
