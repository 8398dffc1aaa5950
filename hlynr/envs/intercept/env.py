"""``InterceptEnv``: the single gymnasium environment (one engagement), registered as hlynr/Intercept-v0.

Its keyword arguments are those of :class:`~hlynr.envs.intercept.params.InterceptParams`; the
``sensor`` section chooses the observation: the radar and a Kalman filter by default (the policy
sees only its own state and the filtered track), the true threat state only with
``sensor: {mode: truth}``. ``render_mode="rgb_array"``: :meth:`InterceptEnv.render` draws the
engagement (:mod:`hlynr.envs.intercept.render`); without it the env keeps no snapshots.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import gymnasium as gym
import numpy as np

from hlynr.envs import rendering
from hlynr.envs.intercept.core import InterceptCore
from hlynr.envs.intercept.observation import OBS_DIM, OBS_LIMIT
from hlynr.envs.intercept.params import InterceptParams


def observation_space() -> gym.spaces.Box:
    """The observation space (see :mod:`hlynr.envs.intercept.observation` for the layout)."""
    return gym.spaces.Box(-OBS_LIMIT, OBS_LIMIT, shape=(OBS_DIM,), dtype=np.float32)


def action_space() -> gym.spaces.Box:
    """Normalised lateral acceleration command along (e_y, e_z); its norm is clipped to 1
    (non-finite entries count as 0)."""
    return gym.spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)


class InterceptEnv(gym.Env[np.ndarray, np.ndarray]):
    """One interceptor against one manoeuvring threat; keyword arguments as in ``InterceptParams``."""

    metadata: dict[str, Any] = {"render_modes": rendering.RENDER_MODES, "render_fps": 20}
    render_size: rendering.Size = rendering.DEFAULT_SIZE
    """``(width, height)`` of the frames :meth:`render` draws."""

    def __init__(self, render_mode: str | None = None, **kwargs: Any) -> None:
        self.params = InterceptParams(**kwargs)
        self.core = InterceptCore(1, self.params)
        self.observation_space = observation_space()
        self.action_space = action_space()
        self._seeded = False
        self.render_mode = rendering.check_render_mode(render_mode, "hlynr/Intercept-v0")
        self.metadata = {**type(self).metadata, "render_fps": 1.0 / self.core.dt}
        self._draw: ModuleType | None = None
        """The renderer (:mod:`hlynr.envs.intercept.render`), imported only to draw."""
        self._episode: rendering.Episode[Any, Any] | None = None
        if rendering.draws(self.render_mode):
            from hlynr.envs.intercept import render

            self._draw, self._episode = render, rendering.Episode()

    def apply_params(self, **params: Any) -> None:
        """Change scenario/reward parameters from the next reset (validated; ValueError if bad)."""
        self.core.apply_params(None, **params)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode; ``seed`` fixes this and all following episodes' randomness."""
        super().reset(seed=seed)
        if seed is not None:
            self.core.seed_idx(np.array([0]), [seed])
            self._seeded = True
        elif not self._seeded:
            self.core.seed_idx(np.array([0]), [int(self.np_random.integers(2**63))])
            self._seeded = True
        obs = self.core.reset_idx(np.array([0]))
        if self._episode is not None and self._draw is not None:
            self._episode.start(self._draw.snapshot(self.core), self._draw.scene(self.core))
        return obs[0], {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """One control step; the final step's info carries the episode statistics."""
        obs, reward, term, trunc, reason = self.core.step(np.asarray(action).reshape(1, 2))
        info: dict[str, Any] = {}
        if term[0] or trunc[0]:
            info = self.core.final_info(0, int(reason[0]))
        if self._episode is not None and self._draw is not None:
            self._episode.append(self._draw.snapshot(self.core, 0, int(reason[0])))
        return obs[0], float(reward[0]), bool(term[0]), bool(trunc[0]), info

    def render(self) -> np.ndarray | None:
        """The current step as an ``(H, W, 3)`` uint8 image with ``render_mode="rgb_array"``
        (``None`` otherwise, or before the first reset); see :mod:`hlynr.envs.intercept.render`."""
        if self._episode is None or self._draw is None:
            return None
        return self._episode.draw(self._draw.draw_frame, self.render_size)
