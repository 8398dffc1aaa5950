"""Test support for the core tests: a tiny env with curriculum parameters, small configs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, NoReturn

import gymnasium as gym
import numpy as np
import pytest
import torch

torch.set_num_threads(1)
os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]


def missing_system_dependency(what: str, how: str) -> NoReturn:
    """A test needs something outside the Python environment (a server, a system package) that is
    not there: ``what`` (e.g. "Chromium is not installed"), ``how`` to provide it. Outside CI the
    test skips with that one-line reason; under CI (``CI`` set, as ``.ci/run`` does) it fails,
    since CI installs everything and a skip there would hide a broken setup."""
    __tracebackhide__ = True  # reported at the caller's line
    if os.environ.get("CI"):
        pytest.fail(f"CI is set but {what}: {how}")
    pytest.skip(f"{what}; to include this test: {how}")


class CoinEnv(gym.Env):
    """Episodes of ``horizon`` steps; the last step succeeds with probability ``p``.

    ``apply_params(p=..., horizon=...)`` changes them from the next reset, like hlynr's envs.
    Reward 1 on success. Observation: the normalised step index.
    """

    observation_space = gym.spaces.Box(0.0, 1.0, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, p: float = 0.5, horizon: int = 4) -> None:
        self.p, self.horizon = p, horizon
        self._pending: dict[str, Any] = {}
        self.t = 0

    def apply_params(self, **params: Any) -> None:
        for key in params:
            if key not in ("p", "horizon"):
                raise ValueError(f"CoinEnv has no parameter '{key}'")
        self._pending.update(params)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        for k, v in self._pending.items():
            setattr(self, k, v)
        self._pending.clear()
        self.t = 0
        return np.zeros(1, np.float32), {}

    def step(self, action):
        self.t += 1
        done = self.t >= self.horizon
        info: dict[str, Any] = {}
        reward = 0.0
        if done:
            success = bool(self.np_random.random() < self.p)
            info = {"is_success": success, "p_used": self.p}
            reward = float(success)
        return np.array([self.t / self.horizon], np.float32), reward, done, False, info


gym.register("HlynrTest/Coin-v0", entry_point=CoinEnv)


class SeedFailingCoinEnv(CoinEnv):
    """:class:`CoinEnv` that raises on its first reset with seed ``fail_seed``: the run of that
    seed fails once training starts (env ``i`` of a run with seed ``s`` is reset with ``s + i``)."""

    def __init__(self, p: float = 0.5, horizon: int = 4, fail_seed: int = -1) -> None:
        super().__init__(p, horizon)
        self.fail_seed = fail_seed

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is not None and seed == self.fail_seed:
            raise RuntimeError(f"seed {seed} fails on purpose")
        return super().reset(seed=seed, options=options)


def coin_config(**over: Any) -> dict[str, Any]:
    """A tiny PPO config on the coin env (trains ~1000 steps/s)."""
    cfg: dict[str, Any] = {
        "name": "coin", "seed": 1, "total_timesteps": 512,
        "env": {"id": "HlynrTest/Coin-v0", "n_envs": 2},
        "algo": {"name": "PPO", "hyperparams": {"n_steps": 32, "batch_size": 32, "n_epochs": 1},
                 "policy_kwargs": {"net_arch": [8]}},
        "callbacks": [],
    }
    for key, value in over.items():
        cfg[key] = value
    return cfg


def run_fresh(code: str, *args: str) -> str:
    """Run ``python -c code args`` in a fresh interpreter from the repository root; assert it
    succeeds and return its stdout (what a user's own script would see)."""
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                         cwd=repo, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout
