"""Shared helpers for the ATC tests."""

from __future__ import annotations

from typing import Any

import pytest
from multiagent_testing import play

import hlynr  # noqa: F401  (registers the built-in envs and baselines)


@pytest.fixture
def rollout() -> Any:
    """``rollout(env, policy, seed) -> (steps, final info)``."""
    return play
