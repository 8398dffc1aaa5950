"""Centralised critics for on-policy training: :class:`MAPPO` and its :class:`CentralisedCriticPolicy`.

The actor sees only each agent's local observation; the critic a global state the env publishes
per agent row (``critic_observation_space`` and ``critic_observations()`` on the VecEnv, see
:mod:`hlynr.multiagent.engine`). Registered as the algorithm ``MAPPO``.
"""

from hlynr.algos.centralised.mappo import MAPPO, NO_GLOBAL_STATE, critic_space_of
from hlynr.algos.centralised.policy import CentralisedCriticPolicy
from hlynr.algos.centralised.value_norm import ValueNorm

__all__ = ["MAPPO", "NO_GLOBAL_STATE", "CentralisedCriticPolicy", "ValueNorm", "critic_space_of"]
