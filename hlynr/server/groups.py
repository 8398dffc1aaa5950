"""A run group's chart series: one series (``reward.ma``, ``success.eval``, ...) of every seed,
interpolated onto a common timestep grid, as the mean over seeds with its 95 % bootstrap band
and the minimum and maximum (:mod:`hlynr.monitoring.curves`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from hlynr.monitoring.curves import band, common_grid, on_grid

BAND_REPS = 1000
"""Bootstrap replications of a band on the page (the page redraws it as runs go on)."""


def group_series(seed_curves: dict[int, tuple[np.ndarray, np.ndarray]], points: int,
                 ) -> dict[str, Any]:
    """``seed_curves``: each seed's series ``(x, y)`` (x increasing). Returns the grid ``x``,
    ``mean``, ``lo`` / ``hi`` (95 % bootstrap band over seeds), ``min`` / ``max``, and ``seeds``
    (the seeds that have points; the others are left out)."""
    seeds = [seed for seed in sorted(seed_curves) if len(seed_curves[seed][0])]
    curves = [seed_curves[seed] for seed in seeds]
    grid = common_grid(curves, points)
    out: dict[str, Any] = {"seeds": seeds, "x": grid.tolist()}
    if not len(grid):
        return {**out, "mean": [], "lo": [], "hi": [], "min": [], "max": []}
    b = band(on_grid(curves, grid), "mean", reps=BAND_REPS)
    return {**out, "mean": b["value"].tolist(), "lo": b["ci_low"].tolist(),
            "hi": b["ci_high"].tolist(), "min": b["min"].tolist(), "max": b["max"].tolist()}
