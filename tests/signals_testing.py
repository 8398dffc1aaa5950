"""An env whose steps are slow, for the Ctrl+C tests (``env.id: signals_testing:SlowEnv``)."""

from __future__ import annotations

import time
from typing import Any

import gymnasium as gym
import numpy as np


class SlowEnv(gym.Env):
    """Episodes of ``horizon`` steps, each taking ``delay`` seconds; reward 1 for action 1."""

    observation_space = gym.spaces.Box(0.0, 1.0, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, delay: float = 1.0, horizon: int = 8) -> None:
        self.delay, self.horizon = delay, horizon
        self.t = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(1, np.float32), {}

    def step(self, action: Any):
        time.sleep(self.delay)
        self.t += 1
        obs = np.array([self.t / self.horizon], np.float32)
        return obs, float(action), self.t >= self.horizon, False, {}
