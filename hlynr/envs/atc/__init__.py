"""Multi-agent air-traffic conflict avoidance: ``hlynr/ATC-v0``, the MVP resolver and ``direct``.

:mod:`hlynr.builtins` registers ``hlynr/ATC-v0`` (:class:`ATCEnv` with :class:`ATCParams`) in
:data:`hlynr.registries.PETTINGZOO_ENVS`, its batched VecEnv of aircraft rows
(:func:`make_batched_atc`) in :data:`hlynr.registries.BATCHED_ENVS`, and the baselines ``mvp`` and ``direct`` in
:data:`hlynr.registries.BASELINES`. Model, units, scenarios, metrics and reward: docs/atc.md.
"""

from __future__ import annotations

from hlynr.envs.atc.engine import ATCEngine
from hlynr.envs.atc.env import ATCEnv, make_atc_env
from hlynr.envs.atc.metrics import END_KEYS
from hlynr.envs.atc.params import ATCParams
from hlynr.envs.atc.rows import ATCRowsEngine, make_batched_atc

ENV_ID = "hlynr/ATC-v0"

__all__ = ["ENV_ID", "END_KEYS", "ATCEngine", "ATCEnv", "ATCParams", "ATCRowsEngine", "make_atc_env",
           "make_batched_atc"]
