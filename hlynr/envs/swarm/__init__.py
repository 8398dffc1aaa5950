"""Multi-agent swarm interception: ``hlynr/Swarm-v0`` and its stage presets.

Importing this package registers, in :data:`hlynr.envs.registries.PETTINGZOO_ENVS`:

* ``hlynr/Swarm-v0``: :class:`SwarmInterceptEnv` with :class:`SwarmParams` (``stage`` optional);
* ``hlynr/Swarm-basic-v0``, ``hlynr/Swarm-intermediate-v0``, ``hlynr/Swarm-advanced-v0``: the
  same env starting from that stage preset (explicit kwargs still override it);

in :data:`hlynr.envs.registries.BATCHED_ENVS` the batched engine of each of those ids (the
``batched`` vectoriser of ``env.type: pettingzoo``), and the scripted baseline ``swarm_intercept_point`` in :data:`hlynr.guidance.registry.BASELINES`.
"""

from __future__ import annotations

from typing import Any

from hlynr.envs.registries import BATCHED_ENVS, PETTINGZOO_ENVS, PettingZooEntry
from hlynr.envs.swarm.env import END_KEYS, SwarmInterceptEnv, make_swarm_env
from hlynr.envs.swarm.params import STAGES, SwarmParams
from hlynr.envs.swarm.vec_env import make_batched_swarm

ENV_ID = "hlynr/Swarm-v0"


def _stage_factory(stage: str) -> Any:
    def factory(**kwargs: Any) -> SwarmInterceptEnv:
        return SwarmInterceptEnv(**{"stage": stage, **kwargs})

    factory.__name__ = f"make_swarm_{stage}_env"
    factory.__doc__ = f"``hlynr/Swarm-v0`` starting at the '{stage}' stage preset."
    return factory


def _batched_stage_factory(stage: str) -> Any:
    def factory(n_envs: int, seed: int | None = None, workers: int = 1, **kwargs: Any) -> Any:
        return make_batched_swarm(n_envs, seed, workers, **{"stage": stage, **kwargs})

    factory.__name__ = f"make_batched_swarm_{stage}"
    return factory


if ENV_ID not in PETTINGZOO_ENVS:
    PETTINGZOO_ENVS.register(ENV_ID, PettingZooEntry(make_swarm_env, SwarmParams))
    BATCHED_ENVS.register(ENV_ID, make_batched_swarm)
    for _name in STAGES:
        PETTINGZOO_ENVS.register(
            f"hlynr/Swarm-{_name}-v0", PettingZooEntry(_stage_factory(_name), SwarmParams)
        )
        BATCHED_ENVS.register(f"hlynr/Swarm-{_name}-v0", _batched_stage_factory(_name))

from hlynr.envs.swarm import baselines as _baselines  # noqa: E402,F401  (registers the baseline)

__all__ = ["ENV_ID", "END_KEYS", "STAGES", "SwarmInterceptEnv", "SwarmParams", "make_batched_swarm",
           "make_swarm_env"]
