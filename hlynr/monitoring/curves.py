"""Learning curves across training seeds: each seed's progress records on a common grid, and the
mean (or IQM) with a 95 % bootstrap band over seeds at each point.

A metric names a field of the progress records: ``eval/KEY`` is ``eval_KEY`` of the evaluation
records (``eval/success_rate``, ``eval/mean_reward``), ``eval/info/KEY`` the mean of a final-step
info value at each evaluation (``eval/info/miss_distance``), ``eval/STAGE/KEY`` one stage's metric
or info mean of an evaluation at several stages (``eval/converging/success_rate``), and
``rollout/KEY`` a field of the rollout records (``rollout/ep_reward_mean``,
``rollout/success_rate``, ``rollout/steps_per_s``).
The x axis is ``timesteps`` or ``wall_time`` (seconds of training).

Each seed's curve is interpolated linearly onto one grid that spans the x range every seed
covers (from the latest first point to the earliest last point), so a curve never extends a seed
past its data; the band at each point resamples the seeds with replacement (the seeds of one
draw are the same at every point).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

import numpy as np

from hlynr.evaluation.aggregate import iqm, mean, stratified_bootstrap
from hlynr.runs.group import RunGroup
from hlynr.runs.lock import holder
from hlynr.runs.progress_log import read_progress
from hlynr.runs.status import ended_status

X_KEYS = ("timesteps", "wall_time")
GRID_POINTS = 200
BAND_REPS = 2000
"""Bootstrap replications for a band (a band has a bootstrap per grid point)."""


class CurveError(Exception):
    """A metric no record has, or seeds without a common x range; ``str()`` says which."""


def field_of(metric: str) -> tuple[str, Callable[[dict[str, Any]], Any]]:
    """``(record type, getter)`` of a metric name; :class:`CurveError` for a malformed one."""
    kind, _, key = metric.partition("/")
    if kind == "eval" and key.startswith("info/") and len(key) > 5:
        info = key[5:]
        return "eval", lambda rec: (rec.get("eval_info") or {}).get(info)
    if kind == "eval" and "/" in key.strip("/"):
        stage, _, name = key.partition("/")
        return "eval", lambda rec: ((rec.get("eval_stages") or {}).get(stage) or {}).get(name)
    if kind == "eval" and key:
        return "eval", lambda rec: rec.get(f"eval_{key}")
    if kind == "rollout" and key:
        return "rollout", lambda rec: rec.get(key)
    raise CurveError(f"metric {metric!r}: expected eval/KEY (e.g. eval/success_rate), "
                     "eval/info/KEY, eval/STAGE/KEY or rollout/KEY (e.g. rollout/ep_reward_mean)")


def available_metrics(records: list[dict[str, Any]]) -> list[str]:
    """The metric names the records have numbers for."""
    found: set[str] = set()
    for rec in records:
        kind = rec.get("type")
        if kind == "eval":
            found |= {f"eval/{k[5:]}" for k, v in rec.items() if k.startswith("eval_") and _number(v)}
            found |= {f"eval/info/{k}" for k, v in (rec.get("eval_info") or {}).items() if _number(v)}
            found |= {f"eval/{name}/{k}" for name, values in (rec.get("eval_stages") or {}).items()
                      for k, v in values.items() if _number(v)}
        elif kind == "rollout":
            found |= {f"rollout/{k}" for k, v in rec.items()
                      if k not in ("timesteps", "total_timesteps", "wall_time") and _number(v)}
    return sorted(found)


def _number(value: Any) -> TypeGuard[float]:
    return value.__class__ in (int, float) and math.isfinite(value)


def points(records: list[dict[str, Any]], metric: str, x: str = "timesteps",
           ) -> tuple[np.ndarray, np.ndarray]:
    """``(xs, ys)`` of ``metric`` in log order, ``xs`` strictly increasing (a repeated or
    decreasing x, e.g. a record written twice, is skipped)."""
    if x not in X_KEYS:
        raise CurveError(f"x must be one of {', '.join(X_KEYS)}, not {x!r}")
    kind, get = field_of(metric)
    xs: list[float] = []
    ys: list[float] = []
    for rec in records:
        if rec.get("type") != kind:
            continue
        xv, yv = rec.get(x), get(rec)
        if not (_number(xv) and _number(yv)) or (xs and float(xv) <= xs[-1]):
            continue
        xs.append(float(xv))
        ys.append(float(yv))
    return np.asarray(xs), np.asarray(ys)


def common_grid(curves: list[tuple[np.ndarray, np.ndarray]], n_points: int = GRID_POINTS) -> np.ndarray:
    """Grid over the x range every curve covers: the curves' own x values there when they are
    at most ``n_points`` (evaluations at the same timesteps stay exact), else evenly spaced."""
    if not curves or any(len(cx) == 0 for cx, _ in curves):
        return np.empty(0)
    lo = max(float(cx[0]) for cx, _ in curves)
    hi = min(float(cx[-1]) for cx, _ in curves)
    if lo > hi:
        return np.empty(0)
    union = np.unique(np.concatenate([cx[(cx >= lo) & (cx <= hi)] for cx, _ in curves]))
    if len(union) <= n_points:
        return np.asarray(union, dtype=float)
    return np.linspace(lo, hi, n_points)


def on_grid(curves: list[tuple[np.ndarray, np.ndarray]], grid: np.ndarray) -> np.ndarray:
    """``(seeds, points)``: each curve interpolated linearly at the grid's x values."""
    return np.stack([np.interp(grid, cx, cy) for cx, cy in curves]) if curves else np.empty((0, 0))


def band(values: np.ndarray, statistic: str = "mean", *, reps: int = BAND_REPS, seed: int = 0,
         ) -> dict[str, np.ndarray]:
    """Across seeds at each point of ``values (seeds, points)``: the statistic (``mean`` or
    ``iqm``), its 95 % percentile-bootstrap interval over seeds, and the minimum and maximum."""
    stat = {"mean": mean, "iqm": iqm}[statistic]
    arr = np.asarray(values, dtype=float)
    n, g = arr.shape
    rng = np.random.RandomState(seed)
    results = np.empty((reps, g))
    chunk = max(1, 2_000_000 // max(1, n * g))
    for start in range(0, reps, chunk):
        k = min(chunk, reps - start)
        idx = rng.randint(0, n, (k, n))
        sample = arr[idx]  # (k, seeds, points)
        results[start:start + k] = stat(np.moveaxis(sample, 1, 2)[..., None])
    lo, hi = np.percentile(results, [2.5, 97.5], axis=0)
    return {"value": stat(arr.T[:, :, None]), "ci_low": lo, "ci_high": hi,
            "min": arr.min(axis=0), "max": arr.max(axis=0)}


@dataclass
class SeedCurve:
    """One seed's records, or why it is left out of the curves."""

    seed: int
    run_dir: Path
    records: list[dict[str, Any]]
    left_out: str | None = None
    running: bool = False


def seed_curves(group: RunGroup) -> list[SeedCurve]:
    """Each seed's progress records; a seed without a run folder or records, or whose run
    failed, is left out with the reason. A seed still training is kept (and marked)."""
    out = []
    for seed, run_dir in group.run_dirs().items():
        records = read_progress(run_dir / "progress.jsonl") if run_dir.is_dir() else []
        curve = SeedCurve(seed, run_dir, records, running=run_dir.is_dir() and holder(run_dir) is not None)
        out.append(curve)
        if not run_dir.is_dir():
            curve.left_out = "no run folder (not trained yet)"
        elif not records:
            curve.left_out = "no progress records yet"
        else:
            status = ended_status(run_dir)
            if status is not None and status[0] == "failed" and not curve.running:
                curve.left_out = f"run failed: {status[1]}"
    return out


@dataclass
class GroupCurve:
    """A group's curve of one metric: the band on its grid and each seed's final value."""

    grid: np.ndarray
    band: dict[str, np.ndarray]
    seeds: list[int]
    finals: list[float]
    """Each seed's last value of the metric (its final evaluation), in :attr:`seeds` order."""
    final_x: list[float]


def group_curve(seeds: list[SeedCurve], metric: str, x: str = "timesteps", *,
                statistic: str = "mean", n_points: int = GRID_POINTS, reps: int = BAND_REPS,
                ) -> GroupCurve:
    """The band of ``metric`` over the seeds that are not left out and have the metric."""
    used = [(s, points(s.records, metric, x)) for s in seeds if s.left_out is None]
    used = [(s, c) for s, c in used if len(c[0])]
    curves = [c for _, c in used]
    grid = common_grid(curves, n_points)
    if used and not len(grid):
        raise CurveError(f"the seeds' {x} ranges of {metric} do not overlap")
    values = on_grid(curves, grid)
    return GroupCurve(grid, band(values, statistic, reps=reps) if len(grid) else {},
                      [s.seed for s, _ in used], [float(c[1][-1]) for c in curves],
                      [float(c[0][-1]) for c in curves])


def final_summary(curve: GroupCurve, reps: int = 50_000) -> dict[str, Any]:
    """IQM and mean of the seeds' final values with stratified-bootstrap 95 % intervals."""
    if not curve.finals:
        return {"n": 0}
    return {"n": len(curve.finals), **stratified_bootstrap(np.asarray(curve.finals)[:, None], reps=reps)}
