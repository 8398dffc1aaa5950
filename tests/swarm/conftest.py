"""Shared helpers for the swarm tests (one thread for torch, as on the 2-core CI)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from multiagent_testing import play

import hlynr  # noqa: F401  (registers the built-in envs)

torch.set_num_threads(1)


@pytest.fixture
def zero_policy() -> Any:
    return lambda rows: np.zeros((rows.shape[0], 2), dtype=np.float32)


@pytest.fixture
def rollout() -> Any:
    """``rollout(env, policy, seed) -> (steps, final info of the first agent)``."""
    return play
