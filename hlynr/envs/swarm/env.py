"""``SwarmInterceptEnv``: N identical interceptors against one fast target (PettingZoo Parallel API).

Model (2-D, SI units, world frame centred on the defended zone, threat axis +x):

* the target spawns 9-11 km out inside a sector about +x and homes (PN, N'=3) on a point inside
  the defended zone, so its track reaches the zone unless intercepted; evasion ``none`` flies
  straight, ``basic`` weaves, ``full`` weaves and jinks at full authority away from the nearest
  interceptor inside ``evade_range``;
* interceptors are point masses with speed, lateral-acceleration, turn-rate and thrust limits and
  a fuel fraction (idle burn plus throttle burn); running dry, leaving the arena or colliding
  with a teammate loses the agent;
* each agent keeps its own constant-velocity Kalman track of the target, updated with its own
  noisy detections (inside ``detect_range``), ground-radar cues (every ``radar_period`` when
  ``radar_cueing``) and detections shared by teammates in ``comms_range``;
* an intercept is the closest point of approach *within* a step (relative motion linear over the
  step) coming inside ``kill_radius``; the target escapes when its track enters the zone.

The model is :class:`~hlynr.envs.swarm.engine.SwarmEngine`; this env is that engine with one
copy (the batched VecEnv of agent rows runs the same engine with many, step for step equal).

Black death: every slot stays in ``agents`` until the team episode ends. Inactive slots
(``n_agents < max_agents``) and lost agents get all-zero observations and zero reward, and are
never terminated on their own, so the vector layout stays fixed and all rows end together:
``terminated`` on intercept, escape or loss of every agent, ``truncated`` at ``max_steps``.

``render_mode="rgb_array"``: :meth:`~SwarmInterceptEnv.render` draws the engagement
(:mod:`hlynr.envs.swarm.render`); without it the env keeps no snapshots.

Reward (see docs/swarm.md): a team part, the same for every agent alive at the start of the
step: ``+intercept_bonus`` / ``-escape_penalty`` at the end, minus bounded fuel (episode total
<= ``fuel_weight``), bunching (<= ``spread_weight``) and agent-loss (<= ``loss_weight``) terms;
plus potential-based approach shaping (each agent's zero-effort miss against the target until
it passes; per agent with ``approach_credit: individual``, best agent with ``team``; |episode
sum| <= ``approach_weight``). ``info["team_reward"]`` of the first agent is the team part plus the mean
approach term, so the team return is bounded by the sum of those weights and bonuses.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from hlynr.envs import rendering
from hlynr.envs.swarm import layout as L
from hlynr.envs.swarm.engine import SwarmEngine
from hlynr.envs.swarm.outcome import END_KEYS
from hlynr.envs.swarm.params import SwarmParams
from hlynr.registries import EntityLayout

_ZERO = np.zeros(1, dtype=int)


class SwarmInterceptEnv(ParallelEnv):
    """Cooperative swarm interception of one fast, evasive target; see the module docstring."""

    metadata = {"name": "hlynr_swarm_v0", "render_modes": rendering.RENDER_MODES, "is_parallelizable": True,
                "render_fps": 10}
    render_size: rendering.Size = rendering.DEFAULT_SIZE
    """``(width, height)`` of the frames :meth:`render` draws."""

    def __init__(self, params: SwarmParams | None = None, render_mode: str | None = None, **kwargs: Any) -> None:
        """Build from a ``SwarmParams`` or from its fields as keyword arguments (validated)."""
        if params is not None and kwargs:
            raise ValueError("pass either params or keyword parameters, not both")
        self.engine = SwarmEngine(1, params if params is not None else SwarmParams(**kwargs))
        self.render_mode = rendering.check_render_mode(render_mode, "hlynr/Swarm-v0")
        self.metadata = {**type(self).metadata, "render_fps": 1.0 / self.params.dt}
        self._draw: ModuleType | None = None
        """The renderer (:mod:`hlynr.envs.swarm.render`), imported only to draw."""
        self._episode: rendering.Episode[Any, Any] | None = None
        if rendering.draws(self.render_mode):
            from hlynr.envs.swarm import render

            self._draw, self._episode = render, rendering.Episode()
        m = self.engine.max_agents
        self.possible_agents = [f"interceptor_{i}" for i in range(m)]
        self.agents: list[str] = []
        self.state_space = self.engine.state_space
        self.entity_layout: EntityLayout | None = self.engine.entity_layout
        """Own-and-track block plus ``k_neighbours`` teammate slots (``valid`` flag first) of an
        observation row, for the attention extractor (None with ``k_neighbours: 0``)."""
        """Box of :meth:`state`: the team-and-target block (see :func:`layout.team_state_size`)."""
        self._seeded = False

    @property
    def params(self) -> SwarmParams:
        """The parameters of the current episode."""
        return self.engine.table.models[0]

    # --- spaces -------------------------------------------------------------------------
    def observation_space(self, agent: str) -> spaces.Box:
        """The same Box for every agent and every stage (sized by ``max_agents``/``k_neighbours``)."""
        return self.engine.observation_space

    def action_space(self, agent: str) -> spaces.Box:
        """``[lateral, throttle]`` in ``[-1, 1]``; see :data:`layout.ACTION_SIZE`."""
        return self.engine.action_space

    # --- curriculum -----------------------------------------------------------------------
    def apply_params(self, **params: Any) -> None:
        """Validate ``params`` against the current parameters; they take effect at the next reset.

        Unknown keys raise ``ValueError`` naming the key; ``max_agents``/``k_neighbours`` cannot
        change (they size the spaces).
        """
        self.engine.apply_params(_ZERO, params)

    # --- episode --------------------------------------------------------------------------
    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:
        """Start a team episode; ``seed`` re-seeds the env (else its episodes continue)."""
        if seed is None and not self._seeded:
            seed = int(np.random.SeedSequence().generate_state(1, dtype=np.uint64)[0])
        if seed is not None:
            self.engine.seed(_ZERO, [seed])
            self._seeded = True
        if options and "params" in options:
            self.apply_params(**options["params"])
        obs = self.engine.reset(_ZERO)[0]
        self.agents = list(self.possible_agents)
        alive = self.engine.state.alive[0]
        infos = {a: {"active": bool(alive[i])} for i, a in enumerate(self.agents)}
        if self._episode is not None and self._draw is not None:
            self._episode.start(self._draw.snapshot(self.engine), self._draw.scene(self.engine))
        return {a: obs[i] for i, a in enumerate(self.agents)}, infos

    def step(
        self, actions: dict[str, np.ndarray]
    ) -> tuple[
        dict[str, np.ndarray], dict[str, float], dict[str, bool], dict[str, bool], dict[str, dict[str, Any]]
    ]:
        """Advance every agent and the target by ``dt``; see the module docstring for the rules.

        Missing or ``None`` actions count as zeros; non-finite entries as 0; the rest is clipped.
        """
        if not self.agents:
            raise RuntimeError("step() called after the episode ended; call reset()")
        m = self.engine.max_agents
        act = np.zeros((1, m, L.ACTION_SIZE))
        for i, a in enumerate(self.possible_agents):
            if actions.get(a) is not None:
                act[0, i] = np.asarray(actions[a], dtype=np.float64).reshape(L.ACTION_SIZE)
        res = self.engine.step(act)
        obs, rew = res.obs[0], res.reward[0].tolist()
        terminated, truncated = bool(res.terminated[0]), bool(res.truncated[0])
        agents = self.agents
        alive = self.engine.state.alive[0]
        infos: dict[str, dict[str, Any]] = {a: {"active": bool(alive[i])} for i, a in enumerate(agents)}
        infos[agents[0]]["team_reward"] = float(res.team_reward[0])
        if terminated or truncated:
            vals = res.stats[0].tolist()
            stats: dict[str, Any] = dict(zip(END_KEYS, vals))
            stats["is_success"] = bool(vals[0])
            for a in agents:
                infos[a].update(stats)
        out = (
            {a: obs[i] for i, a in enumerate(agents)},
            {a: rew[i] for i, a in enumerate(agents)},
            {a: terminated for a in agents},
            {a: truncated for a in agents},
            infos,
        )
        if terminated or truncated:
            self.agents = []
        if self._episode is not None and self._draw is not None:
            self._episode.append(self._draw.snapshot(self.engine))
        return out

    def state(self) -> np.ndarray:
        """Global truth state: each slot's position, velocity, fuel and alive flag, then the
        target's position and velocity (observation scales; zeros for slots without a live agent)."""
        return self.engine.team_states()[0]

    def render(self) -> np.ndarray | None:
        """The current step as an ``(H, W, 3)`` uint8 image with ``render_mode="rgb_array"``
        (``None`` otherwise, or before the first reset); see :mod:`hlynr.envs.swarm.render`."""
        if self._episode is None or self._draw is None:
            return None
        return self._episode.draw(self._draw.draw_frame, self.render_size)

    def close(self) -> None:
        """Nothing to release."""
        return None


def make_swarm_env(**kwargs: Any) -> SwarmInterceptEnv:
    """Factory registered in ``PETTINGZOO_ENVS``: keyword parameters of :class:`SwarmParams`."""
    return SwarmInterceptEnv(**kwargs)


__all__ = ["END_KEYS", "SwarmInterceptEnv", "make_swarm_env"]
