"""``ATCEnv``: ``hlynr/ATC-v0`` as a PettingZoo ``ParallelEnv`` over one copy of :class:`ATCEngine`.

Agents ``aircraft_0 ... aircraft_{max_aircraft-1}``, all with the same spaces: observation rows as
in :mod:`hlynr.envs.atc.layout` (``entity_layout`` declares own block, slot size, slot count and
validity index), actions ``[heading, speed]`` in ``[-1, 1]`` (:mod:`hlynr.envs.atc.dynamics`).
Every slot stays in ``agents`` until the episode ends (black death: slots not flying get zero
rows and zero reward), so the parameter-sharing adapter sees a fixed set of rows. ``state()``
is the global truth for a centralised critic; ``agent_state(agent)`` adds the agent's one-hot id.
The end-of-episode metrics (:data:`hlynr.envs.atc.metrics.END_KEYS`) are in every agent's info
in the final step. ``render_mode="rgb_array"``: :meth:`ATCEnv.render` draws the sector
(:mod:`hlynr.envs.atc.render`); without it the env keeps no snapshots.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from hlynr.envs import rendering
from hlynr.envs.atc import layout as L
from hlynr.envs.atc.engine import ATCEngine
from hlynr.envs.atc.params import ATCParams
from hlynr.registries import EntityLayout

VIDEO_TIMELAPSE = 60.0
"""Seconds of traffic per second of video: ``metadata["render_fps"] = VIDEO_TIMELAPSE / dt_s``."""


class ATCEnv(ParallelEnv):
    """Air-traffic conflict avoidance for ``max_aircraft`` aircraft; see the module docstring."""

    metadata = {"name": "hlynr_atc_v0", "render_modes": rendering.RENDER_MODES, "is_parallelizable": True,
                "render_fps": 6}
    render_size: rendering.Size = rendering.DEFAULT_SIZE
    """``(width, height)`` of the frames :meth:`render` draws."""

    def __init__(self, params: ATCParams | None = None, render_mode: str | None = None, **kwargs: Any) -> None:
        """Build from an ``ATCParams`` or from its fields as keyword arguments (validated)."""
        if params is not None and kwargs:
            raise ValueError("pass either params or keyword parameters, not both")
        p = params if params is not None else ATCParams(**kwargs)
        self.engine = ATCEngine(p, n_copies=1)
        self.render_mode = rendering.check_render_mode(render_mode, "hlynr/ATC-v0")
        self._draw: ModuleType | None = None
        """The renderer (:mod:`hlynr.envs.atc.render`), imported only to draw."""
        self._episode: rendering.Episode[Any, Any] | None = None
        if rendering.draws(self.render_mode):
            from hlynr.envs.atc import render

            self._draw, self._episode = render, rendering.Episode()
        self.metadata = {**type(self).metadata, "render_fps": VIDEO_TIMELAPSE / p.dt_s}
        self.possible_agents = [f"aircraft_{i}" for i in range(p.max_aircraft)]
        self.agents: list[str] = []
        self.entity_layout: EntityLayout = self.engine.layout
        self._obs_space = spaces.Box(-L.OBS_CLIP, L.OBS_CLIP, (self.engine.obs_size,), np.float32)
        self._act_space = spaces.Box(-1.0, 1.0, (L.ACTION_SIZE,), np.float32)
        self.state_space = spaces.Box(-L.OBS_CLIP, L.OBS_CLIP, (self.engine.state_size,), np.float32)
        self._seeded = False

    @property
    def params(self) -> ATCParams:
        """The parameters of the current episode."""
        return self.engine.params

    def observation_space(self, agent: str) -> spaces.Box:
        """The same Box for every agent (sized by ``k_intruders``)."""
        return self._obs_space

    def action_space(self, agent: str) -> spaces.Box:
        """``[heading change, speed change]`` in ``[-1, 1]``."""
        return self._act_space

    def apply_params(self, **params: Any) -> None:
        """Validate ``params``; they take effect at the next reset (curricula use this)."""
        self.engine.apply_params(**params)

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:
        """Start an episode; ``seed`` re-seeds the env's generator (else it continues)."""
        if options and "params" in options:
            self.apply_params(**options["params"])
        obs = self.engine.reset([seed])[0]
        self.agents = list(self.possible_agents)
        if self._episode is not None and self._draw is not None:
            self._episode.start(self._draw.snapshot(self.engine), self._draw.scene(self.engine))
        return {a: obs[i] for i, a in enumerate(self.agents)}, {a: {} for a in self.agents}

    def step(self, actions: dict[str, np.ndarray]) -> tuple[
            dict[str, np.ndarray], dict[str, float], dict[str, bool], dict[str, bool], dict[str, dict[str, Any]]]:
        """Advance every aircraft by ``dt``; missing agents' actions count as zeros."""
        if not self.agents:
            raise RuntimeError("step() called after the episode ended; call reset()")
        m = len(self.possible_agents)
        act = np.zeros((1, m, L.ACTION_SIZE))
        for i, a in enumerate(self.possible_agents):
            if a in actions and actions[a] is not None:
                act[0, i] = np.asarray(actions[a], dtype=np.float64).reshape(L.ACTION_SIZE)
        obs, rew, term, trunc, infos = self.engine.step(act)
        agents = self.agents
        end = infos[0]
        out = (
            {a: obs[0, i] for i, a in enumerate(agents)},
            {a: float(rew[0, i]) for i, a in enumerate(agents)},
            {a: bool(term[0]) for a in agents},
            {a: bool(trunc[0]) for a in agents},
            {a: {**end, "active": bool(self.engine.active[0, i])} for i, a in enumerate(agents)},
        )
        if term[0] or trunc[0]:
            self.agents = []
        if self._episode is not None and self._draw is not None:
            self._episode.append(self._draw.snapshot(self.engine))
        return out

    def state(self) -> np.ndarray:
        """Global truth state (every aircraft slot), float32 ``(state_size,)``."""
        return self.engine.global_state()[0]

    def agent_state(self, agent: str) -> np.ndarray:
        """Critic input of ``agent``: the global state and its one-hot slot id."""
        return self.engine.agent_states()[0, self.possible_agents.index(agent)]

    def render(self) -> np.ndarray | None:
        """The current step as an ``(H, W, 3)`` uint8 image with ``render_mode="rgb_array"``
        (``None`` otherwise, or before the first reset); see :mod:`hlynr.envs.atc.render`."""
        if self._episode is None or self._draw is None:
            return None
        return self._episode.draw(self._draw.draw_frame, self.render_size)

    def close(self) -> None:
        """Nothing to release."""
        return None


def make_atc_env(**kwargs: Any) -> ATCEnv:
    """Factory registered in ``PETTINGZOO_ENVS``: keyword parameters of :class:`ATCParams`."""
    return ATCEnv(**kwargs)
