"""Termination, reward and end-of-episode statistics of the Intercept engine (batched functions).

Rewards follow :class:`~hlynr.envs.intercept.params.RewardParams`: a potential-based shaping
term on the true zero-effort miss, a control cost, a success bonus and a miss penalty scaled by
the closest approach. Only the time limit is a truncation.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

import numpy as np

from hlynr.envs.intercept.params import G0
from hlynr.envs.intercept.physics import dot, norm


class Reason(IntEnum):
    """Why an episode ended (``termination_code``); ``RUNNING`` while it has not."""

    RUNNING = 0
    INTERCEPT = 1
    MISS = 2
    GROUND_IMPACT = 3
    FUEL_EXHAUSTED = 4
    TARGET_REACHED = 5
    TIME_LIMIT = 6


RUNNING, INTERCEPT, TIME_LIMIT = int(Reason.RUNNING), int(Reason.INTERCEPT), int(Reason.TIME_LIMIT)
"""Plain-int codes for array comparisons (NumPy compares an IntEnum member several times slower)."""

TERMINATION_REASONS: tuple[str, ...] = tuple(r.name.lower() for r in Reason)
"""``termination_code`` -> ``termination_reason``; only ``time_limit`` is a truncation."""

FINAL_STATS: tuple[str, ...] = ("miss_distance", "time_to_intercept", "episode_time", "fuel_remaining")
"""The numeric end-of-episode statistics, in the column order of ``InterceptCore.final_stats``."""


def final_info(reason: int, miss_distance: float, time_to_intercept: float, episode_time: float,
               fuel_remaining: float) -> dict[str, Any]:
    """The final-step info of an episode that ended with ``reason`` (a :class:`Reason`)."""
    return {
        "is_success": bool(reason == Reason.INTERCEPT),
        "miss_distance": miss_distance,
        "time_to_intercept": time_to_intercept,
        "episode_time": episode_time,
        "fuel_remaining": fuel_remaining,
        "termination_reason": TERMINATION_REASONS[reason],
        "termination_code": int(reason),
    }


def potential(r: np.ndarray, vrel: np.ndarray, neg_w: np.ndarray, scale: np.ndarray,
              rv: np.ndarray | None = None, rng_: np.ndarray | None = None) -> np.ndarray:
    """Shaping potential ``-w min(ZEM/scale, 1)`` (``neg_w = -w``, w = ``reward_shaping``) from
    the true zero-effort miss (with gravity); ``rv``, ``rng_``: ``dot(r, vrel)`` and ``norm(r)``
    if already computed."""
    if rng_ is None:
        rng_ = norm(r)
    rng_safe = np.maximum(rng_, 1e-3)
    vc = -(dot(r, vrel) if rv is None else rv) / rng_safe
    tgo = rng_ / np.maximum(vc, 10.0)
    np.maximum(tgo, 0.0, out=tgo)  # = clip to [0, 100] (tgo is never -0 or NaN here)
    np.minimum(tgo, 100.0, out=tgo)
    zem = r + vrel * tgo
    zem[2] += 0.5 * G0 * tgo * tgo
    lam = r / rng_safe
    zem -= dot(zem, lam) * lam
    zperp = norm(zem)
    zem_mag = np.where(vc > 0.0, zperp, rng_)
    return neg_w * np.minimum(zem_mag / scale, 1.0)


def reasons(t: np.ndarray, max_time: np.ndarray, threat_altitude: np.ndarray,
            reached_altitude: np.ndarray, fuel: np.ndarray, own_altitude: np.ndarray,
            opening: np.ndarray, hit: np.ndarray) -> np.ndarray:
    """The :class:`Reason` code of every env after a step (later causes take precedence:
    an intercept beats everything, a time limit nothing)."""
    reason = np.zeros(t.shape, dtype=np.int64)
    for cond, code in zip((t >= max_time, threat_altitude <= reached_altitude, fuel <= 0.0,
                           own_altitude < 0.0, opening, hit), _PRECEDENCE):
        reason[cond] = code
    return reason


_PRECEDENCE = tuple(int(r) for r in (Reason.TIME_LIMIT, Reason.TARGET_REACHED, Reason.FUEL_EXHAUSTED,
                                     Reason.GROUND_IMPACT, Reason.MISS, Reason.INTERCEPT))
"""The codes of :func:`reasons`' conditions, in order (later ones take precedence)."""


def step_reward(phi: np.ndarray, phi_before: np.ndarray, control_cost: np.ndarray, done: np.ndarray,
                success: np.ndarray, min_dist: np.ndarray, P: Any) -> np.ndarray:
    """Reward of one step: potential difference, ``control_cost`` (already ``w |u|^2 dt``), and on
    the final step the success bonus or the miss penalty (``P``: the parameter rows by name)."""
    reward = phi - phi_before - control_cost
    miss_pen = P["reward_miss"] * np.minimum(min_dist / P["reward_miss_scale"], 1.0)
    return reward + np.where(success, P["reward_success"], np.where(done, -miss_pen, 0.0))
