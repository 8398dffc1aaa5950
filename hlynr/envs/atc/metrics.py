"""Separation and efficiency metrics of ``hlynr/ATC-v0`` episodes, as the field counts them.

Reported in the final step's info of every aircraft (:data:`END_KEYS`):

* ``los_events``: losses of separation counted as **events**: entries of an aircraft pair into
  the protected zone (a pass that enters and leaves within one step counts; staying inside does
  not add events); ``conflict_free`` is 1.0 when there was none;
* ``conflicts``: predicted-conflict events: pairs entering the state-based conflict state
  (predicted LoS within the look-ahead, by CPA), counted once per entry;
* ``intrusion_severity_mean`` / ``_max``: per LoS event, the deepest intrusion
  ``(R - d_min) / R`` in ``(0, 1]`` (0 when there was no event);
* ``min_separation_nm``: the smallest horizontal distance between any two flying aircraft
  (in-step closest approach), whatever their altitudes;
* ``exits_reached``: fraction of the aircraft that reached their exit;
* ``extra_distance_nm`` / ``extra_time_s``: mean over aircraft of the distance flown and the time
  taken to the exit circle minus the direct route at the initial speed (an aircraft still flying
  at the end is charged its remaining direct distance); ``path_efficiency``: total direct
  distance / total distance so counted (1.0 for direct routes);
* ``is_success``: no LoS event and every aircraft at its exit.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hlynr.envs.atc.units import NM

END_KEYS: tuple[str, ...] = (
    "is_success", "conflict_free", "los_events", "conflicts", "intrusion_severity_mean",
    "intrusion_severity_max", "min_separation_nm", "exits_reached", "extra_distance_nm",
    "extra_time_s", "path_efficiency", "n_aircraft", "episode_time_s",
)


class EpisodeMetrics:
    """Running per-copy accumulators for ``n`` copies of ``m`` aircraft."""

    def __init__(self, n: int, m: int) -> None:
        self.los = np.zeros(n, dtype=np.int64)
        self.conf = np.zeros(n, dtype=np.int64)
        self.sev_sum = np.zeros(n)
        self.sev_max = np.zeros(n)
        self.sev_n = np.zeros(n, dtype=np.int64)
        self.min_sep = np.full(n, np.inf)
        self.flown = np.zeros((n, m))
        self.t_exit = np.full((n, m), np.nan)
        self.direct = np.zeros((n, m))
        self.v0 = np.ones((n, m))
        self.present = np.zeros((n, m), dtype=bool)

    def reset(self, idx: np.ndarray, present: np.ndarray, direct: np.ndarray, v0: np.ndarray) -> None:
        """Start episodes of copies ``idx`` (direct distance to the exit circle and speeds per slot)."""
        for a in (self.los, self.conf, self.sev_sum, self.sev_max, self.sev_n, self.flown):
            a[idx] = 0
        self.min_sep[idx] = np.inf
        self.t_exit[idx] = np.nan
        self.present[idx], self.direct[idx], self.v0[idx] = present, direct, np.maximum(v0, 1e-9)

    def close_events(self, depth: np.ndarray) -> None:
        """Add finished LoS events: ``depth (n, m, m)`` is each closing pair's deepest intrusion
        (0 elsewhere); only the upper triangle is read."""
        iu = np.triu(np.ones(depth.shape[-2:], dtype=bool), 1)
        ev = (depth > 0) & iu
        self.sev_n += ev.sum(axis=(1, 2))
        self.sev_sum += np.where(ev, depth, 0.0).sum(axis=(1, 2))
        self.sev_max = np.maximum(self.sev_max, np.where(ev, depth, 0.0).max(axis=(1, 2)))

    def final(self, c: int, t: float, remaining: np.ndarray) -> dict[str, Any]:
        """End-of-episode values of copy ``c`` at time ``t`` (``remaining``: direct distance (m)
        still to fly per slot, 0 for aircraft that exited)."""
        pres = self.present[c]
        exited = np.isfinite(self.t_exit[c]) & pres
        flown = self.flown[c] + np.where(exited, 0.0, remaining)
        t_used = np.where(exited, self.t_exit[c], t + remaining / self.v0[c])
        t_direct = self.direct[c] / self.v0[c]
        n = max(int(pres.sum()), 1)
        total_direct = float(self.direct[c][pres].sum())
        total_flown = float(flown[pres].sum())
        los = int(self.los[c])
        return {
            "is_success": bool(los == 0 and exited.sum() == pres.sum()),
            "conflict_free": float(los == 0),
            "los_events": float(los),
            "conflicts": float(self.conf[c]),
            "intrusion_severity_mean": float(self.sev_sum[c] / self.sev_n[c]) if self.sev_n[c] else 0.0,
            "intrusion_severity_max": float(self.sev_max[c]),
            "min_separation_nm": float(self.min_sep[c] / NM),
            "exits_reached": float(exited.sum() / n),
            "extra_distance_nm": float((flown - self.direct[c])[pres].mean() / NM),
            "extra_time_s": float((t_used - t_direct)[pres].mean()),
            "path_efficiency": total_direct / total_flown if total_flown > 0 else 1.0,
            "n_aircraft": float(pres.sum()),
            "episode_time_s": float(t),
        }
