"""``build_pettingzoo_vec_env``: a registered PettingZoo env as a parameter-shared SB3 VecEnv."""

from __future__ import annotations

from typing import Any

from stable_baselines3.common.vec_env import VecEnv
from supersuit import concat_vec_envs_v1, pettingzoo_env_to_vec_env_v1

from hlynr.multiagent.channel import CallableMarkovVectorEnv
from hlynr.multiagent.vec_env import SharedPolicyVecEnv
from hlynr.registries import BATCHED_ENVS, PETTINGZOO_ENVS


def build_pettingzoo_vec_env(
    env_id: str, env_kwargs: dict[str, Any], n_envs: int, num_cpus: int, seed: int | None,
    vectoriser: str = "supersuit", workers: int = 1,
) -> VecEnv:
    """Build ``n_envs`` copies of PettingZoo env ``env_id`` as one SB3 VecEnv of agent rows.

    ``env_kwargs`` are validated with the registered parameter model first (clear message on a
    bad key or value). ``vectoriser``: ``supersuit`` steps ParallelEnv copies through SuperSuit
    (``num_cpus`` 0/1 in-process, >= 2 in that many worker processes); ``batched`` uses the
    env's batched engine (registered in ``BATCHED_ENVS`` under the same id), same semantics,
    its copies split over ``workers`` processes.
    With ``seed``, the first ``reset()`` gives copy ``c`` the seed ``seed + c``. The env must
    keep every possible agent until its team episode ends (black death inside the env, as
    ``hlynr/Swarm-v0`` does) and give all agents the same spaces.
    """
    if n_envs < 1:
        raise ValueError(f"n_envs must be >= 1, got {n_envs}")
    if num_cpus < 0:
        raise ValueError(f"num_cpus must be >= 0, got {num_cpus}")
    entry = PETTINGZOO_ENVS.get(env_id)
    entry.params(**env_kwargs)
    if vectoriser == "batched":
        extra = {"workers": workers} if workers > 1 else {}
        return BATCHED_ENVS.get(env_id)(n_envs=n_envs, seed=seed, **extra, **env_kwargs)
    if vectoriser != "supersuit":
        raise ValueError(f"unknown PettingZoo vectoriser '{vectoriser}' (supersuit or batched)")
    par_env = entry.factory(**env_kwargs)
    pettingzoo_env_to_vec_env_v1(par_env)  # SuperSuit's own checks (spaces, possible_agents)
    markov = CallableMarkovVectorEnv(par_env)
    concat = concat_vec_envs_v1(markov, n_envs, num_cpus=num_cpus, base_class="gymnasium")
    venv = SharedPolicyVecEnv(concat, n_copies=n_envs)
    if seed is not None:
        venv.seed(seed)
    return venv
