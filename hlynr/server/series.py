"""Chart series from progress records, and their downsampling for the page.

Each series is a pair of columns ``(x, y)`` with ``x`` in timesteps, strictly increasing:

* ``reward.raw``: every finished training episode's reward, spread over the rollout it ended in;
  ``reward.ma``: the moving average over the last 100 episodes; ``reward.eval``: evaluations;
* ``success.train`` (rolling 100 episodes), ``success.eval`` with ``success.eval_lo`` /
  ``success.eval_hi`` (95 % Wilson interval); per curriculum stage, by its name,
  ``success.stage.train.<name>`` (a mixed curriculum's training success) and
  ``success.stage.eval.<name>`` (an evaluation at several stages);
* ``loss.<name>``: every ``train/*`` value SB3 logs (value loss, entropy loss, ...);
* ``ent_coef``, ``learning_rate``, ``stage``, ``steps_per_s``.

Downsampling keeps the minimum and the maximum of each bucket, so spikes and collapses stay
visible however long the run.
"""

from __future__ import annotations

from array import array
from typing import Any

import numpy as np

SKIPPED_LOSSES = ("n_updates", "learning_rate")


ROLLOUT_FIELDS = (("ep_reward_mean", "reward.ma"), ("success_rate", "success.train"),
                  ("ent_coef", "ent_coef"), ("learning_rate", "learning_rate"),
                  ("stage", "stage"), ("steps_per_s", "steps_per_s"))
STAGE_SUCCESS = "success.stage."
"""Prefix of the per-stage success series (``train.<name>``, ``eval.<name>`` follow it)."""
EVAL_FIELDS = (("eval_mean_reward", "reward.eval"), ("eval_success_rate", "success.eval"),
               ("eval_success_ci_low", "success.eval_lo"),
               ("eval_success_ci_high", "success.eval_hi"))
_NUMBER = (int, float)


class SeriesBuilder:
    """Accumulates series from records in log order."""

    def __init__(self, last_rollout_t: float = 0.0) -> None:
        self.cols: dict[str, tuple[array, array]] = {}
        self.last_t = float(last_rollout_t)

    def _col(self, name: str) -> tuple[array, array]:
        col = self.cols.get(name)
        if col is None:
            col = self.cols[name] = (array("d"), array("d"))
        return col

    def _put(self, name: str, x: float, y: Any) -> None:
        if y.__class__ not in _NUMBER:  # None, bool and anything else are not plotted
            return
        xs, ys = self.cols.get(name) or self._col(name)
        if xs and x <= xs[-1]:
            return  # a duplicate timestep (e.g. a log written twice): keep x increasing
        xs.append(x)
        ys.append(y)

    def add(self, rec: dict[str, Any]) -> None:
        """Add one progress record."""
        t = rec.get("timesteps")
        if t.__class__ not in _NUMBER:
            return
        kind, put = rec.get("type"), self._put
        if kind == "rollout":
            raw = rec.get("ep_rewards")
            if raw:
                span, n = max(t - self.last_t, 0.0), len(raw) + 1
                for i, r in enumerate(raw, 1):
                    put("reward.raw", self.last_t + span * i / n, r)
            for key, name in ROLLOUT_FIELDS:
                put(name, t, rec.get(key))
            for stage, value in (rec.get("stage_success") or {}).items():
                put(f"{STAGE_SUCCESS}train.{stage}", t, value)
            losses = rec.get("losses")
            if losses:
                for key, value in losses.items():
                    if key not in SKIPPED_LOSSES:
                        put("loss." + key, t, value)
            self.last_t = float(t)
        elif kind == "eval":
            for key, name in EVAL_FIELDS:
                put(name, t, rec.get(key))
            for stage, values in (rec.get("eval_stages") or {}).items():
                put(f"{STAGE_SUCCESS}eval.{stage}", t, (values or {}).get("success_rate"))

    def export(self, points: int | None = None) -> dict[str, list[list[float]]]:
        """``{name: [x, y]}``, each downsampled to about ``2 * points`` points when given."""
        out = {}
        for name, (x, y) in self.cols.items():
            xs, ys = np.frombuffer(x, dtype=float), np.frombuffer(y, dtype=float)
            if points is not None:
                xs, ys = downsample(xs, ys, points)
            out[name] = [xs.tolist(), ys.tolist()]
        return out


def downsample(x: np.ndarray, y: np.ndarray, buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """Min and max of each of ``buckets`` equal-count buckets, in x order (at most 2 per bucket)."""
    n = len(x)
    if n <= 2 * buckets:
        return x, y
    edges = np.linspace(0, n, buckets + 1).astype(int)[:-1]
    width = np.diff(np.append(edges, n))
    i_min = _arg_reduce(y, edges, width, np.minimum)
    i_max = _arg_reduce(y, edges, width, np.maximum)
    idx = np.unique(np.concatenate([i_min, i_max, [0, n - 1]]))
    return x[idx], y[idx]


def _arg_reduce(y: np.ndarray, edges: np.ndarray, width: np.ndarray, op: np.ufunc) -> np.ndarray:
    """Index of each bucket's extreme value (the first one on ties)."""
    extreme = op.reduceat(y, edges)
    bucket = np.repeat(np.arange(len(edges)), width)
    hits = np.flatnonzero(y == extreme[bucket])
    first = np.unique(bucket[hits], return_index=True)[1]
    return hits[first]
