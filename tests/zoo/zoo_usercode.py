"""User code named by module:Class paths in the tests: wrappers, callbacks, policies, envs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.common.vec_env import VecEnvWrapper


class ScaleReward(gym.RewardWrapper):
    """Multiplies every reward by ``scale``."""

    def __init__(self, env: gym.Env, scale: float, note: str = "") -> None:
        super().__init__(env)
        self.scale = scale

    def reward(self, reward: float) -> float:
        return reward * self.scale


class OffsetObservation(VecEnvWrapper):
    """Adds ``offset`` to every observation of a VecEnv."""

    def __init__(self, venv: Any, offset: float = 1.0) -> None:
        super().__init__(venv)
        self.offset = offset

    def reset(self) -> Any:
        return self.venv.reset() + self.offset

    def step_wait(self) -> Any:
        obs, rewards, dones, infos = self.venv.step_wait()
        return obs + self.offset, rewards, dones, infos


class CountSteps(BaseCallback):
    """Writes the number of steps it saw to ``path`` at the end of training."""

    def __init__(self, path: str, verbose: int = 0) -> None:
        super().__init__(verbose)
        self.path, self.steps = path, 0

    def _on_step(self) -> bool:
        self.steps += 1
        return True

    def _on_training_end(self) -> None:
        Path(self.path).write_text(json.dumps({"steps": self.steps,
                                               "timesteps": int(self.num_timesteps)}))


class TinyExtractor(BaseFeaturesExtractor):
    """A linear features extractor of ``features_dim`` outputs."""

    def __init__(self, observation_space: gym.spaces.Box, features_dim: int = 8) -> None:
        super().__init__(observation_space, features_dim)
        self.linear = torch.nn.Linear(int(np.prod(observation_space.shape)), features_dim)

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.linear(observations))


class WidePolicy(ActorCriticPolicy):
    """An actor-critic policy whose default network is one layer of 7 units."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("net_arch", [7])
        super().__init__(*args, **kwargs)


class NotAWrapper:
    """A class of the wrong kind for any component slot."""

    def __init__(self, env: Any) -> None:
        self.env = env


class LineEnv(gym.Env):
    """Walk on a line towards +1; a class env named by path, never registered."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, horizon: int = 8) -> None:
        self.horizon, self.t, self.x = horizon, 0, 0.0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.t, self.x = 0, 0.0
        return np.array([self.x], np.float32), {}

    def step(self, action: int):
        self.t += 1
        self.x = float(np.clip(self.x + (0.25 if action else -0.25), -1, 1))
        done = self.x >= 1.0
        info = {"distance": 1.0 - self.x}
        return (np.array([self.x], np.float32), float(done), done, self.t >= self.horizon, info)


class GoalLineEnv(gym.Env):
    """A goal-conditioned 1-D reach task: dict observations and a batched compute_reward."""

    def __init__(self, horizon: int = 10) -> None:
        box = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.observation_space = gym.spaces.Dict(
            {"observation": box, "achieved_goal": box, "desired_goal": box})
        self.action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.horizon = horizon
        self.t, self.x, self.goal = 0, np.zeros(1, np.float32), np.zeros(1, np.float32)

    def _obs(self) -> dict[str, np.ndarray]:
        return {"observation": self.x.copy(), "achieved_goal": self.x.copy(),
                "desired_goal": self.goal.copy()}

    def compute_reward(self, achieved_goal: np.ndarray, desired_goal: np.ndarray,
                       info: Any) -> np.ndarray:
        distance = np.linalg.norm(np.asarray(achieved_goal) - np.asarray(desired_goal), axis=-1)
        return -(distance > 0.1).astype(np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.t = 0
        self.x = np.zeros(1, np.float32)
        self.goal = self.np_random.uniform(-1, 1, 1).astype(np.float32)
        return self._obs(), {}

    def step(self, action: np.ndarray):
        self.t += 1
        self.x = np.clip(self.x + 0.2 * np.asarray(action, np.float32), -1, 1).astype(np.float32)
        obs = self._obs()
        reward = float(self.compute_reward(obs["achieved_goal"], obs["desired_goal"], {}))
        success = reward == 0.0
        return obs, reward, success, self.t >= self.horizon, {"is_success": success}


gym.register("HlynrTest/GoalLine-v0", entry_point=GoalLineEnv, max_episode_steps=10)
