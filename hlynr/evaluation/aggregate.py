"""Results across training seeds: IQM, stratified-bootstrap intervals, probability of improvement.

The estimators are those of rliable (Agarwal et al., "Deep RL at the edge of the statistical
precipice", NeurIPS 2021), written out here because rliable's pinned dependencies do not install
next to this NumPy and pandas; ``tests/test_aggregate.py`` checks them against numbers rliable
1.2.0 computed on fixed data.

Scores are arrays of shape ``(runs, tasks)``: one row per training seed, one column per task
(``evaluate.py GROUP`` has one task, the evaluated env).

* The **interquartile mean** (IQM) is the 25 % trimmed mean of all runs and tasks together,
  ``scipy.stats.trim_mean(scores, 0.25, axis=None)`` (:func:`trim_mean`); the mean is the mean
  over tasks of the mean over runs.
* The **stratified bootstrap** resamples runs with replacement within each task, ``reps`` times,
  and takes the 2.5th and 97.5th percentiles of the statistic (the percentile method). The
  resampling indices come from ``numpy.random.RandomState(seed)``, exactly the draws
  ``rliable.library.StratifiedBootstrap`` makes after ``numpy.random.seed(seed)`` (NumPy keeps
  that legacy stream fixed across versions), so the intervals are reproducible.
* The **probability of improvement** ``P(X > Y)`` is, per task, the Mann-Whitney ``U`` of X's
  runs against Y's divided by the number of pairs (ties count one half; identical runs give
  0.5), averaged over tasks. Its interval resamples X's and Y's runs independently.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

REPS = 50_000
"""Bootstrap replications by default (rliable's default)."""

Statistic = Callable[[np.ndarray], np.ndarray]
"""A statistic of resampled scores ``(..., runs, tasks)``: one value per leading index."""


def _as_scores(scores: Any) -> np.ndarray:
    arr = np.asarray(scores, dtype=float)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"scores must be (runs, tasks) with at least one of each, got {arr.shape}")
    return arr


def trim_mean(values: np.ndarray, proportion: float) -> np.ndarray:
    """Mean of the last axis without its lowest and highest ``proportion`` of values: the same
    operations as ``scipy.stats.trim_mean(values, proportion, axis=-1)`` (scipy is not a
    dependency of hlynr)."""
    arr = np.asarray(values, dtype=float)
    n = arr.shape[-1]
    low = int(proportion * n)
    high = n - low
    part = np.partition(arr, (low, high - 1), axis=-1)
    return np.asarray(part[..., low:high].mean(axis=-1), dtype=float)


def iqm(scores: np.ndarray) -> np.ndarray:
    """Interquartile mean of ``(..., runs, tasks)`` over runs and tasks together."""
    arr = np.asarray(scores, dtype=float)
    return trim_mean(arr.reshape(*arr.shape[:-2], -1), 0.25)


def mean(scores: np.ndarray) -> np.ndarray:
    """Mean over tasks of the mean over runs, of ``(..., runs, tasks)``."""
    return np.asarray(scores, dtype=float).mean(axis=-2).mean(axis=-1)


STATISTICS: dict[str, Statistic] = {"mean": mean, "iqm": iqm}


def _percentiles(results: np.ndarray, size: float) -> tuple[np.ndarray, np.ndarray]:
    alpha = 100 * (1.0 - size) / 2
    lo, hi = np.percentile(results, [alpha, 100 - alpha], axis=0)
    return lo, hi


def stratified_bootstrap(scores: Any, statistics: dict[str, Statistic] | None = None, *,
                         reps: int = REPS, size: float = 0.95, seed: int = 0,
                         ) -> dict[str, dict[str, float]]:
    """Point estimate and ``size`` percentile interval of each statistic of ``scores``.

    Returns ``{name: {"value", "ci_low", "ci_high"}}``; every statistic is computed on the same
    resamples. Equal to rliable's ``get_interval_estimates(..., method="percentile")`` after
    ``numpy.random.seed(seed)``.
    """
    arr = _as_scores(scores)
    statistics = statistics or STATISTICS
    n, m = arr.shape
    rng = np.random.RandomState(seed)
    out: dict[str, dict[str, float]] = {}
    results = {name: np.empty(reps) for name in statistics}
    chunk = max(1, 2_000_000 // (n * m))  # resamples drawn at a time: bounded memory
    cols = np.arange(m)
    for start in range(0, reps, chunk):
        k = min(chunk, reps - start)
        idx = rng.randint(0, n, (k, n, m))  # == k successive draws of choice(n, (n, m))
        sample = arr[idx, cols]
        for name, fn in statistics.items():
            results[name][start:start + k] = fn(sample)
    for name, fn in statistics.items():
        lo, hi = _percentiles(results[name], size)
        out[name] = {"value": float(fn(arr)), "ci_low": float(lo), "ci_high": float(hi)}
    return out


def probability_of_improvement(x: Any, y: Any) -> float:
    """``P(X > Y)``: for each task, the share of (run of X, run of Y) pairs where X's score is
    higher, ties counting one half; averaged over tasks."""
    return float(_poi(_as_scores(x)[None], _as_scores(y)[None])[0])


def _poi(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """P(X > Y) of batches ``x (b, nx, m)`` and ``y (b, ny, m)``: one value per batch entry."""
    gt = (x[:, :, None, :] > y[:, None, :, :]).mean(axis=(1, 2))
    eq = (x[:, :, None, :] == y[:, None, :, :]).mean(axis=(1, 2))
    return np.asarray((gt + 0.5 * eq).mean(axis=-1), dtype=float)


def probability_of_improvement_ci(x: Any, y: Any, *, reps: int = REPS, size: float = 0.95,
                                  seed: int = 0) -> dict[str, float]:
    """``P(X > Y)`` with its ``size`` percentile interval, resampling the runs of X and of Y
    independently within each task (rliable's ``StratifiedIndependentBootstrap``)."""
    a, b = _as_scores(x), _as_scores(y)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"X and Y must have the same tasks, got {a.shape[1]} and {b.shape[1]}")
    (nx, m), ny = a.shape, b.shape[0]
    rng = np.random.RandomState(seed)
    cols = np.arange(m)
    results = np.empty(reps)
    chunk = max(1, 200_000 // (nx * ny * m))
    for start in range(0, reps, chunk):
        k = min(chunk, reps - start)
        if nx == ny:  # one draw: the same stream as X's then Y's indices, rep after rep
            idx = rng.randint(0, nx, (k, 2, nx, m))
            ix, iy = idx[:, 0], idx[:, 1]
        elif ny == 1:  # drawing from range(1) takes nothing from the stream
            ix, iy = rng.randint(0, nx, (k, nx, m)), np.zeros((k, 1, m), dtype=int)
        elif nx == 1:
            ix, iy = np.zeros((k, 1, m), dtype=int), rng.randint(0, ny, (k, ny, m))
        else:
            pairs = [(rng.randint(0, nx, (nx, m)), rng.randint(0, ny, (ny, m))) for _ in range(k)]
            ix, iy = np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])
        results[start:start + k] = _poi(a[ix, cols], b[iy, cols])
    lo, hi = _percentiles(results, size)
    return {"value": probability_of_improvement(a, b), "ci_low": float(lo), "ci_high": float(hi)}


def holds_in(comparisons: Sequence[dict[str, float]], direction: int, alpha: float = 0.05) -> int:
    """How many paired per-seed comparisons are significant in ``direction`` (+1: the seed's
    model is better than the reference, -1: worse): a p-value below ``alpha`` (the exact McNemar
    test of :func:`hlynr.evaluation.stats.paired_difference`, ``sign_test_p`` or ``t_test_p``) and a
    difference of that sign. Each comparison is of the seed's model (first) against the
    reference (second) on the same episodes."""
    held = 0
    for c in comparisons:
        p = c.get("mcnemar_p", c.get("sign_test_p", c.get("t_test_p")))
        if c.get("n") and p is not None and p < alpha and c["difference"] * direction > 0:
            held += 1
    return held
