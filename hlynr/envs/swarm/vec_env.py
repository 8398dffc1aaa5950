"""The batched swarm VecEnv: :class:`~hlynr.envs.swarm.engine.SwarmEngine` behind
:class:`~hlynr.multiagent.rows.AgentRowsVecEnv` (config ``env: {type: pettingzoo, id:
hlynr/Swarm-v0, vectoriser: batched}``). Copy ``c`` seeded ``s + c`` follows exactly the
trajectory of ``SwarmInterceptEnv`` reset with seed ``s + c`` under the same actions."""

from __future__ import annotations

from functools import partial
from typing import Any

from hlynr.envs.rendering import vec_rendering
from hlynr.envs.swarm.engine import SwarmEngine
from hlynr.envs.swarm.params import SwarmParams
from hlynr.multiagent.rows import AgentRowsVecEnv
from hlynr.multiagent.workers import sharded_or_single


def make_batched_swarm(n_envs: int, seed: int | None = None, workers: int = 1,
                       render_mode: str | None = None, **env_kwargs: Any) -> AgentRowsVecEnv:
    """``n_envs`` copies of ``hlynr/Swarm-v0`` (kwargs of :class:`SwarmParams`) as agent rows;
    ``workers > 1`` splits the copies over that many processes (same trajectories);
    ``render_mode="rgb_array"`` draws copy ``render_copy`` (:mod:`hlynr.envs.swarm.render`)."""
    factory = partial(SwarmEngine, params=SwarmParams(**env_kwargs))
    return AgentRowsVecEnv(sharded_or_single(factory, n_envs, workers), seed=seed,
                           **vec_rendering(render_mode, "hlynr.envs.swarm.render", "hlynr/Swarm-v0"))
