"""Parameter-shared multi-agent training: PettingZoo ParallelEnvs as correct SB3 VecEnvs.

See :mod:`hlynr.multiagent.vec_env` for what the adapter fixes over SuperSuit 3.11 and
:func:`build_pettingzoo_vec_env` for the builder the experiment core calls for
``env: {type: pettingzoo, ...}``.
"""

from hlynr.multiagent.builder import build_pettingzoo_vec_env
from hlynr.multiagent.vec_env import SharedPolicyVecEnv

__all__ = ["SharedPolicyVecEnv", "build_pettingzoo_vec_env"]
