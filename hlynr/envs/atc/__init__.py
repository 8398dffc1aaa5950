"""Multi-agent air-traffic conflict avoidance: ``hlynr/ATC-v0``, the MVP resolver and ``direct``.

Importing this package registers ``hlynr/ATC-v0`` (:class:`ATCEnv` with :class:`ATCParams`) in
:data:`hlynr.envs.registries.PETTINGZOO_ENVS`, and the baselines ``mvp`` and ``direct`` in
:data:`hlynr.guidance.registry.BASELINES`. Model, units, scenarios, metrics and reward: docs/atc.md.
"""

from __future__ import annotations

from hlynr.envs.atc.engine import ATCEngine
from hlynr.envs.atc.env import ATCEnv, make_atc_env
from hlynr.envs.atc.layout import EntityLayout
from hlynr.envs.atc.metrics import END_KEYS
from hlynr.envs.atc.params import ATCParams
from hlynr.envs.registries import PETTINGZOO_ENVS, PettingZooEntry

ENV_ID = "hlynr/ATC-v0"

if ENV_ID not in PETTINGZOO_ENVS:
    PETTINGZOO_ENVS.register(ENV_ID, PettingZooEntry(make_atc_env, ATCParams))

from hlynr.envs.atc import mvp as _mvp  # noqa: E402,F401  (registers the baselines)

__all__ = ["ENV_ID", "END_KEYS", "ATCEngine", "ATCEnv", "ATCParams", "EntityLayout", "make_atc_env"]
