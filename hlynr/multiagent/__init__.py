"""Parameter-shared multi-agent training: team tasks as SB3 VecEnvs of agent rows.

Two routes to the same rows: :class:`AgentRowsVecEnv` over a batched engine
(:class:`~hlynr.multiagent.engine.AgentRowsEngine`, optionally split over processes by
:class:`~hlynr.multiagent.workers.ShardedEngine`), and :class:`SharedPolicyVecEnv`, hlynr's
adapter over SuperSuit for any PettingZoo ``ParallelEnv`` (see :mod:`hlynr.multiagent.vec_env`
for what it fixes). :func:`build_pettingzoo_vec_env` is the builder the experiment core calls for
``env: {type: pettingzoo, ...}``.
"""

from hlynr.multiagent.builder import build_pettingzoo_vec_env
from hlynr.multiagent.engine import AgentRowsEngine, RowsStep
from hlynr.multiagent.rows import AgentRowsVecEnv
from hlynr.multiagent.vec_env import SharedPolicyVecEnv

__all__ = ["AgentRowsEngine", "AgentRowsVecEnv", "RowsStep", "SharedPolicyVecEnv",
           "build_pettingzoo_vec_env"]
