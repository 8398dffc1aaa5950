"""Timing helpers shared by the multi-agent benchmarks (``bench_swarm.py``, ``bench_atc.py``).

Both measure a VecEnv of agent rows the same way: raw env speed under fixed uniform random
actions, and end-to-end PPO or MAPPO speed with the share of time spent collecting rollouts.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback

from hlynr.algos.centralised import MAPPO


def env_rate(venv: Any, seconds: float, n_actions: int = 64) -> float:
    """Agent-steps/s of ``venv`` stepped for ``seconds`` with fixed uniform random actions."""
    rng = np.random.default_rng(0)
    act = rng.uniform(-1, 1, (n_actions, venv.num_envs, 2)).astype(np.float32)
    venv.reset()
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        venv.step(act[steps % n_actions])
        steps += 1
    return steps * venv.num_envs / (time.perf_counter() - t0)


class RolloutClock(BaseCallback):
    """Accumulates the wall time of rollout collection."""

    def __init__(self) -> None:
        super().__init__()
        self.collect = 0.0
        self._t = 0.0

    def _on_rollout_start(self) -> None:
        self._t = time.perf_counter()

    def _on_rollout_end(self) -> None:
        self.collect += time.perf_counter() - self._t

    def _on_step(self) -> bool:
        return True


def train_rate(venv: Any, algo: str, rollouts: int, n_steps: int, batch_size: int) -> tuple[float, float]:
    """(agent-steps/s, share of the time collecting rollouts) of ``algo`` (PPO or MAPPO) on ``venv``:
    MLP [64, 64], 5 epochs, after one warm-up rollout."""
    model = {"PPO": PPO, "MAPPO": MAPPO}[algo](
        "MlpPolicy", venv, n_steps=n_steps, batch_size=batch_size, n_epochs=5, seed=0,
        policy_kwargs={"net_arch": [64, 64]}, device="cpu")
    model.learn(n_steps * venv.num_envs)  # warm-up rollout (allocations, first reset)
    clock = RolloutClock()
    t0 = time.perf_counter()
    model.learn(rollouts * n_steps * venv.num_envs, reset_num_timesteps=False, callback=clock)
    total = time.perf_counter() - t0
    return rollouts * n_steps * venv.num_envs / total, clock.collect / total
