"""The batched swarm VecEnv: :class:`~hlynr.envs.swarm.engine.SwarmEngine` behind
:class:`~hlynr.multiagent.rows.AgentRowsVecEnv` (config ``env: {type: pettingzoo, id:
hlynr/Swarm-v0, vectoriser: batched}``). Copy ``c`` seeded ``s + c`` follows exactly the
trajectory of ``SwarmInterceptEnv`` reset with seed ``s + c`` under the same actions."""

from __future__ import annotations

from functools import partial
from typing import Any

from hlynr.envs.swarm.engine import SwarmEngine
from hlynr.envs.swarm.params import SwarmParams
from hlynr.multiagent.rows import AgentRowsVecEnv
from hlynr.multiagent.workers import ShardedEngine


def make_batched_swarm(n_envs: int, seed: int | None = None, workers: int = 1,
                       **env_kwargs: Any) -> AgentRowsVecEnv:
    """``n_envs`` copies of ``hlynr/Swarm-v0`` (kwargs of :class:`SwarmParams`) as agent rows;
    ``workers > 1`` splits the copies over that many processes (same trajectories)."""
    if n_envs < 1:
        raise ValueError(f"n_envs must be >= 1, got {n_envs}")
    params = SwarmParams(**env_kwargs)
    if workers > 1:
        return AgentRowsVecEnv(ShardedEngine(partial(SwarmEngine, params=params), n_envs, workers), seed=seed)
    return AgentRowsVecEnv(SwarmEngine(n_envs, params), seed=seed)
