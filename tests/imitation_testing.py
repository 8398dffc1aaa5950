"""Test support for cloning: a small env whose teacher is a known function of the observation."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from pydantic import Field
from stable_baselines3.common.vec_env import DummyVecEnv

from hlynr.config.base import StrictModel
from hlynr.registries import BASELINES, BATCHED_ENVS, BaselineEntry, CriticStateSource

FOLLOW_ID = "HlynrTest/Follow-v0"


class FollowEnv(gym.Env):
    """Each step shows a random cue ``x`` (3 numbers) and the previous action.

    The teacher's action is ``clip(gain * (0.8 x0 - 0.5 x1), -1, 1)``; the reward is minus its
    squared distance to the action taken. ``obs[3]`` is the last action, so the states a policy
    visits depend on what it did (DAgger's labels must come from those states).
    """

    observation_space = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def __init__(self, horizon: int = 16) -> None:
        self.horizon = horizon
        self.t = 0
        self.obs = np.zeros(4, np.float32)

    def _cue(self, last: float) -> np.ndarray:
        x = self.np_random.uniform(-1, 1, 3).astype(np.float32)
        self.obs = np.array([*x, last], np.float32)
        return self.obs.copy()

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.t = 0
        return self._cue(0.0), {}

    def step(self, action):
        a = float(np.clip(np.asarray(action).reshape(-1)[0], -1, 1))
        want = teacher_law(self.obs[None], 1.0)[0, 0]
        self.t += 1
        reward = -(a - want) ** 2
        info = {"is_success": abs(a - want) < 0.1} if self.t >= self.horizon else {}
        return self._cue(a), reward, False, self.t >= self.horizon, info


def teacher_law(obs: np.ndarray, gain: float) -> np.ndarray:
    """The teacher's action for a batch of raw observations."""
    o = np.asarray(obs, dtype=np.float64).reshape(-1, 4)
    return np.clip(gain * (0.8 * o[:, :1] - 0.5 * o[:, 1:2]), -1, 1).astype(np.float32)


class FollowParams(StrictModel):
    """The follow teacher's gain."""

    gain: float = Field(1.0, gt=0, le=5)


class FollowTeacher:
    """The teacher; records every observation it was given."""

    seen: list[np.ndarray] = []

    def __init__(self, observation_space: Any, action_space: Any, params: FollowParams) -> None:
        if getattr(observation_space, "shape", None) != (4,):
            raise ValueError(f"needs the raw (4,) observation, got {observation_space.shape}")
        self.gain = params.gain

    def predict(self, observation, state=None, episode_start=None, deterministic=True):
        obs = np.asarray(observation)
        FollowTeacher.seen.append(obs.copy())
        return teacher_law(obs, self.gain), state


FOLLOW_ROWS_ID = "HlynrTest/FollowRows-v0"


class FollowRowsVecEnv(DummyVecEnv, CriticStateSource):
    """Copies of :class:`FollowEnv` as a batched VecEnv with privileged critic rows.

    A critic row is the observation followed by the teacher's action on it (what the reward
    is measured against), so a critic that reads it can predict the reward exactly.
    """

    critic_observation_space = gym.spaces.Box(-np.inf, np.inf, (5,), np.float32)

    def __init__(self, n_envs: int, seed: int = 0, horizon: int = 16) -> None:
        super().__init__([lambda: FollowEnv(horizon) for _ in range(n_envs)])
        self.seed(seed)

    @staticmethod
    def rows(obs: np.ndarray) -> np.ndarray:
        o = np.asarray(obs, dtype=np.float32).reshape(-1, 4)
        return np.concatenate([o, teacher_law(o, 1.0)], axis=1)

    def critic_observations(self) -> np.ndarray:
        return self.rows(self._obs_from_buf())

    def step_wait(self):
        obs, rewards, dones, infos = super().step_wait()
        for i in np.flatnonzero(dones):
            infos[i]["terminal_critic_observation"] = self.rows(infos[i]["terminal_observation"])[0]
        return obs, rewards, dones, infos


if FOLLOW_ID not in gym.registry:
    gym.register(FOLLOW_ID, entry_point=FollowEnv)
if FOLLOW_ROWS_ID not in gym.registry:
    gym.register(FOLLOW_ROWS_ID, entry_point=FollowEnv)
if FOLLOW_ROWS_ID not in BATCHED_ENVS.names():
    BATCHED_ENVS.register(FOLLOW_ROWS_ID, FollowRowsVecEnv)
if "follow_teacher" not in BASELINES.names():
    BASELINES.register("follow_teacher", BaselineEntry(
        FollowParams, lambda o, a, p: FollowTeacher(o, a, p), (FOLLOW_ID, FOLLOW_ROWS_ID), {}))


def follow_config(**over: Any) -> dict[str, Any]:
    """A small PPO config with BC from the follow teacher."""
    cfg: dict[str, Any] = {
        "name": "follow", "seed": 3, "total_timesteps": 256,
        "env": {"id": FOLLOW_ID, "n_envs": 4},
        "algo": {"name": "PPO", "hyperparams": {"n_steps": 32, "batch_size": 64, "n_epochs": 2},
                 "policy_kwargs": {"net_arch": [32, 32]}},
        "pretrain": {"teacher": {"name": "follow_teacher"}, "steps": 4000, "epochs": 30,
                     "batch_size": 128, "learning_rate": 3.0e-3, "loss": "mse",
                     "validation_fraction": 0.1, "patience": 5},
    }
    cfg.update(over)
    return cfg


def rows_config(algo: str = "AsymmetricPPO", **over: Any) -> dict[str, Any]:
    """:func:`follow_config` on the batched follow env with critic rows, for a centralised critic."""
    cfg = follow_config(**over)
    cfg["env"] = {"id": FOLLOW_ROWS_ID, "vectoriser": "batched", "n_envs": 4}
    cfg["algo"] = {**cfg["algo"], "name": algo}
    return cfg


SLOTS_ID = "HlynrTest/Slots-v0"


class SlotsEnv(gym.Env):
    """An own block of 2 numbers and 4 entity slots ``(x, y, valid)``; 0-4 valid entities.

    The teacher steers toward the mean ``x`` of the valid entities (0 without any); reward is
    minus the squared distance to that action. Declares its :class:`EntityLayout`.
    """

    from hlynr.registries import EntityLayout

    entity_layout = EntityLayout(own_size=2, slot_size=3, slots=4, valid_index=2)
    observation_space = gym.spaces.Box(-1.0, 1.0, (14,), np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def __init__(self, horizon: int = 8) -> None:
        self.horizon, self.t = horizon, 0
        self.obs = np.zeros(14, np.float32)

    def _draw(self) -> np.ndarray:
        rng = self.np_random
        own = rng.uniform(-1, 1, 2)
        slots = np.zeros((4, 3))
        n = int(rng.integers(0, 5))
        slots[:n, :2] = rng.uniform(-1, 1, (n, 2))
        slots[:n, 2] = 1.0
        slots = slots[rng.permutation(4)]
        self.obs = np.concatenate([own, slots.reshape(-1)]).astype(np.float32)
        return self.obs.copy()

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.t = 0
        return self._draw(), {}

    def step(self, action):
        want = slots_law(self.obs[None])[0, 0]
        a = float(np.clip(np.asarray(action).reshape(-1)[0], -1, 1))
        self.t += 1
        info = {"is_success": abs(a - want) < 0.1} if self.t >= self.horizon else {}
        return self._draw(), -(a - want) ** 2, False, self.t >= self.horizon, info


def slots_law(obs: np.ndarray) -> np.ndarray:
    """Mean x of the valid slots (0 without any valid slot)."""
    slots = np.asarray(obs, dtype=np.float64).reshape(-1, 14)[:, 2:].reshape(-1, 4, 3)
    valid = slots[..., 2] > 0.5
    total = (slots[..., 0] * valid).sum(1)
    return (total / np.maximum(valid.sum(1), 1))[:, None].astype(np.float32)


class SlotsTeacher:
    """The slots env's teacher."""

    def __init__(self, observation_space: Any, action_space: Any, params: Any) -> None:
        if getattr(observation_space, "shape", None) != (14,):
            raise ValueError("needs the raw (14,) observation")

    def predict(self, observation, state=None, episode_start=None, deterministic=True):
        return slots_law(observation), state


class NoParams(StrictModel):
    """No parameters."""


if SLOTS_ID not in gym.registry:
    gym.register(SLOTS_ID, entry_point=SlotsEnv)
if "slots_teacher" not in BASELINES.names():
    BASELINES.register("slots_teacher", BaselineEntry(
        NoParams, lambda o, a, p: SlotsTeacher(o, a, p), (SLOTS_ID,), {}))
