"""Shared helpers for the swarm tests (one thread for torch, as on the 2-core CI)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import hlynr  # noqa: F401  (registers the built-in envs)
from hlynr.envs.swarm import SwarmInterceptEnv

torch.set_num_threads(1)


def _rollout(env: SwarmInterceptEnv, policy: Any, seed: int) -> tuple[list[dict], dict]:
    """Play one episode with ``policy(obs_rows) -> action_rows``; return per-step records."""
    obs, _ = env.reset(seed=seed)
    steps = []
    while env.agents:
        rows = np.stack([obs[a] for a in env.possible_agents])
        act = policy(rows)
        obs, rew, term, trunc, info = env.step({a: act[i] for i, a in enumerate(env.possible_agents)})
        steps.append({"obs": obs, "rew": rew, "term": term, "trunc": trunc, "info": info})
    return steps, steps[-1]["info"][env.possible_agents[0]]


@pytest.fixture
def zero_policy() -> Any:
    return lambda rows: np.zeros((rows.shape[0], 2), dtype=np.float32)


@pytest.fixture
def rollout() -> Any:
    """``rollout(env, policy, seed) -> (steps, final info of the first agent)``."""
    return _rollout
