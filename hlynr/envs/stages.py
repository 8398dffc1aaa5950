"""Curriculum stages spread over the copies of one vectorised env (each copy at its own stage)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from stable_baselines3.common.vec_env import VecEnv


def share_counts(n: int, shares: Sequence[float]) -> list[int]:
    """Split ``n`` items into ``len(shares)`` counts proportional to ``shares`` (largest remainder:
    the counts sum to ``n`` and each is within one of its exact share)."""
    total = float(sum(shares))
    exact = [n * s / total for s in shares]
    counts = [math.floor(x) for x in exact]
    by_remainder = sorted(range(len(shares)), key=lambda k: (counts[k] - exact[k], k))
    for k in by_remainder[: n - sum(counts)]:
        counts[k] += 1
    return counts


def copy_stages(n_copies: int, n_stages: int, shares: Sequence[float] | None = None) -> np.ndarray:
    """The stage index of each env copy: contiguous blocks, ``shares`` (default: equal) of them."""
    counts = share_counts(n_copies, shares if shares is not None else [1.0] * n_stages)
    return np.repeat(np.arange(n_stages), counts)


def spread_stages(venv: VecEnv, stages: list[dict[str, Any]],
                  shares: Sequence[float] | None = None) -> np.ndarray:
    """Give each env copy of ``venv`` one of ``stages``, in ``shares`` (default: near-equal) of
    the copies; each copy takes its stage's parameters from its next reset. Multi-agent rows move
    as whole copies of ``rows_per_episode`` rows. Returns the stage index of every row."""
    rows = int(getattr(venv, "rows_per_episode", 1))
    per_copy = copy_stages(venv.num_envs // rows, len(stages), shares)
    per_row = np.repeat(per_copy, rows)
    for k, params in enumerate(stages):
        idx = np.flatnonzero(per_row == k)
        if idx.size:
            venv.env_method("apply_params", indices=idx.tolist(), **params)
    return per_row
