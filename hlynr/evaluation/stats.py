"""Statistics with their uncertainty: Wilson intervals, summaries of per-episode values."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

Z95 = 1.959963984540054  # two-sided 95 % normal quantile


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (95 % by default); (0, 1) when n == 0."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def summarize(values: Sequence[float]) -> dict[str, float]:
    """Mean, std, min, max and the 5/25/50/75/95th percentiles of finite values."""
    arr = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if arr.size == 0:
        return {"n": 0}
    q = np.percentile(arr, [5, 25, 50, 75, 95])
    return {"n": int(arr.size), "mean": float(arr.mean()), "std": float(arr.std()),
            "min": float(arr.min()), "p5": float(q[0]), "p25": float(q[1]),
            "median": float(q[2]), "p75": float(q[3]), "p95": float(q[4]),
            "max": float(arr.max())}


def numeric_items(info: dict[str, Any]) -> dict[str, float]:
    """The numeric scalar entries of an info dict (bools as 0/1), skipping SB3 bookkeeping."""
    out: dict[str, float] = {}
    for key, value in info.items():
        if key in ("episode", "terminal_observation", "TimeLimit.truncated", "_final_info"):
            continue
        if isinstance(value, (bool, np.bool_)):
            out[key] = float(value)
        elif isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
            out[key] = float(value)
        elif isinstance(value, np.ndarray) and value.shape == ():
            out[key] = float(value)
    return out
