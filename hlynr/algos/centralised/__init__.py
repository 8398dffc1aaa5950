"""Centralised critics for on-policy training: :class:`MAPPO`, :class:`RecurrentMAPPO` and their policies.

The actor sees only each agent's local observation; the critic a global state the env publishes
per agent row (``critic_observation_space`` and ``critic_observations()`` on the VecEnv, see
:mod:`hlynr.multiagent.engine`). Registered as the algorithms ``MAPPO`` / ``AsymmetricPPO`` and
``RecurrentMAPPO`` / ``AsymmetricRecurrentPPO``.
"""

from hlynr.algos.centralised.critic_rows import (
    NO_GLOBAL_STATE,
    VALUE_LOSSES,
    CentralisedCriticMixin,
    critic_space_of,
    no_global_state,
    value_loss_fn,
)
from hlynr.algos.centralised.mappo import MAPPO
from hlynr.algos.centralised.policy import CentralisedCriticPolicy, CriticHeadMixin
from hlynr.algos.centralised.recurrent import RecurrentMAPPO
from hlynr.algos.centralised.recurrent_policy import RecurrentCentralisedCriticPolicy
from hlynr.algos.centralised.value_norm import ValueNorm

__all__ = ["MAPPO", "NO_GLOBAL_STATE", "VALUE_LOSSES", "CentralisedCriticMixin", "CentralisedCriticPolicy",
           "CriticHeadMixin", "RecurrentCentralisedCriticPolicy", "RecurrentMAPPO", "ValueNorm",
           "critic_space_of", "no_global_state", "value_loss_fn"]
