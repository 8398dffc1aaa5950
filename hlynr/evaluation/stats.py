"""Statistics with their uncertainty: Wilson intervals, paired differences, summaries of per-episode values."""

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


def mean_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float]:
    """Student-t interval for the mean of ``values`` (95 % by default); the mean twice when n < 2."""
    from scipy.stats import t

    arr = np.asarray(values, dtype=float)
    mean = float(arr.mean()) if arr.size else 0.0
    if arr.size < 2:
        return mean, mean
    half = float(t.ppf(0.5 + level / 2, arr.size - 1)) * float(arr.std(ddof=1)) / math.sqrt(arr.size)
    return mean - half, mean + half


def mcnemar_exact_p(b: int, c: int) -> float:
    """Exact two-sided McNemar p-value: ``2 P(X <= min(b, c))`` for ``X ~ Binomial(b + c, 1/2)``."""
    m, k = b + c, min(b, c)
    if m == 0:
        return 1.0
    i = np.arange(k + 1)
    log_terms = (math.lgamma(m + 1) - np.array([math.lgamma(x + 1) + math.lgamma(m - x + 1) for x in i])
                 - m * math.log(2.0))
    top = log_terms.max()
    return float(min(1.0, 2.0 * math.exp(top) * np.exp(log_terms - top).sum()))


def paired_difference(first: Sequence[bool], second: Sequence[bool], z: float = Z95) -> dict[str, float]:
    """Success-rate difference ``first - second`` of two policies scored on the same episodes.

    Pairs episode k of one with episode k of the other, so the interval is much narrower than
    two independent Wilson intervals suggest. Returns the difference, its 95 % interval
    (Newcombe's hybrid score method for paired proportions, 1998, method 10, from the Wilson
    intervals of both rates and the phi correlation of the pairs), the discordant counts
    ``only_first`` / ``only_second`` and the exact two-sided McNemar p-value.
    """
    if len(first) != len(second):
        raise ValueError(f"paired comparison needs equal episode counts, got {len(first)} and {len(second)}")
    n = len(first)
    if n == 0:
        return {"n": 0}
    a = sum(1 for x, y in zip(first, second) if x and y)
    b = sum(1 for x, y in zip(first, second) if x and not y)
    c = sum(1 for x, y in zip(first, second) if y and not x)
    d = n - a - b - c
    p1, p2 = (a + b) / n, (a + c) / n
    l1, u1 = wilson_interval(a + b, n, z)
    l2, u2 = wilson_interval(a + c, n, z)
    denom = (a + b) * (c + d) * (a + c) * (b + d)
    phi = (a * d - b * c) / math.sqrt(denom) if denom > 0 else 0.0
    lower = math.sqrt(max((p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2, 0.0))
    upper = math.sqrt(max((u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2, 0.0))
    diff = p1 - p2
    p_value = mcnemar_exact_p(b, c)
    return {"n": n, "difference": diff, "ci_low": max(-1.0, diff - lower),
            "ci_high": min(1.0, diff + upper), "only_first": b, "only_second": c,
            "mcnemar_p": p_value}


def paired_mean_difference(first: Sequence[float], second: Sequence[float],
                           level: float = 0.95) -> dict[str, float]:
    """Mean difference ``first - second`` of a per-episode value of two policies on the same episodes.

    Returns both means, the mean of the pairwise differences with its Student-t interval
    (``level``, 95 % by default), and the two-sided paired t-test p-value (1.0 when every pair is
    equal). With hundreds of episodes the t interval holds for counts and bounded ratios alike.
    """
    if len(first) != len(second):
        raise ValueError(f"paired comparison needs equal episode counts, got {len(first)} and {len(second)}")
    a, b = np.asarray(first, dtype=float), np.asarray(second, dtype=float)
    if a.size == 0:
        return {"n": 0}
    diffs = a - b
    low, high = mean_interval(diffs, level)
    if a.size < 2 or float(diffs.std(ddof=1)) == 0.0:
        p_value = 1.0 if not diffs.any() else 0.0
    else:
        from scipy.stats import t

        stat = float(diffs.mean()) / (float(diffs.std(ddof=1)) / math.sqrt(diffs.size))
        p_value = float(2.0 * t.sf(abs(stat), diffs.size - 1))
    return {"n": int(a.size), "first_mean": float(a.mean()), "second_mean": float(b.mean()),
            "difference": float(diffs.mean()), "ci_low": low, "ci_high": high, "t_test_p": p_value}


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
    """The numeric scalar entries of an info dict (bools as 0/1), skipping SB3 bookkeeping and
    the per-row ``active`` flag of multi-agent rows."""
    out: dict[str, float] = {}
    for key, value in info.items():
        if key in ("episode", "terminal_observation", "TimeLimit.truncated", "_final_info", "active"):
            continue
        if isinstance(value, (bool, np.bool_)):
            out[key] = float(value)
        elif isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
            out[key] = float(value)
        elif isinstance(value, np.ndarray) and value.shape == ():
            out[key] = float(value)
    return out
