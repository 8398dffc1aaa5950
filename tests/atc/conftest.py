"""Shared helpers for the ATC tests."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import hlynr  # noqa: F401  (registers the built-in envs and baselines)
from hlynr.envs.atc import ATCEnv


def play(env: ATCEnv, policy: Any, seed: int) -> tuple[list[dict], dict]:
    """One episode with ``policy(rows) -> actions``; per-step records and the final info."""
    obs, _ = env.reset(seed=seed)
    steps = []
    while env.agents:
        rows = np.stack([obs[a] for a in env.possible_agents])
        act = policy(rows)
        obs, rew, term, trunc, info = env.step({a: act[i] for i, a in enumerate(env.possible_agents)})
        steps.append({"obs": obs, "rew": rew, "term": term, "trunc": trunc, "info": info})
    return steps, steps[-1]["info"][env.possible_agents[0]]


@pytest.fixture
def rollout() -> Any:
    """``rollout(env, policy, seed) -> (steps, final info)``."""
    return play
