"""A batched target tracker: CV or CA per-axis Kalman filter over N envs, with delayed measurements.

The filter tracks the threat's *inertial* position (the interceptor's own state is known from
its navigation system), so the interceptor's own manoeuvres never appear as target motion.
Every control step it predicts; where a detection arrived it updates. A measurement delayed by
``delay`` steps is extrapolated to the present with the current velocity (and acceleration)
estimate, and its variance inflated by the velocity uncertainty over the delay.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from hlynr.tracking.kalman import (
    CATrack, CVTrack, ca_init, ca_predict, ca_update, cv_init, cv_predict, cv_update,
)


class BatchTracker:
    """Tracks one threat per env for ``n`` envs with a ``kind`` ("cv" or "ca") filter."""

    def __init__(self, n: int, kind: Literal["cv", "ca"], dt: float, delay_steps: int = 0) -> None:
        if kind not in ("cv", "ca"):
            raise ValueError(f"unknown filter '{kind}'; known: cv, ca")
        self.n, self.kind, self.dt, self.delay = n, kind, dt, int(delay_steps)
        z3, z1 = np.zeros((3, n)), np.zeros(n)
        self.track: CVTrack | CATrack = (
            cv_init(z3, z3, z1, z1) if kind == "cv" else ca_init(z3, z3, z3, z1, z1, z1)
        )
        self.since_detection = np.zeros(n)
        self.detected = np.zeros(n, dtype=bool)
        d = self.delay + 1
        self._zbuf = np.zeros((d, 3, n))
        self._rbuf = np.zeros((d, n))
        self._mbuf = np.zeros((d, n), dtype=bool)
        self._zero3 = np.zeros((3, n))

    def init_idx(self, idx: np.ndarray, p: np.ndarray, v: np.ndarray, p_var: np.ndarray,
                 v_var: np.ndarray, a_var: np.ndarray) -> None:
        """(Re)initialise the tracks of envs ``idx`` at ``p, v`` (3, m) with diagonal variances (m,)."""
        t = self.track
        t.p[:, idx] = p
        t.v[:, idx] = v
        t.pp[idx], t.pv[idx], t.vv[idx] = p_var, 0.0, v_var
        if isinstance(t, CATrack):
            t.a[:, idx] = 0.0
            t.pa[idx], t.va[idx], t.aa[idx] = 0.0, 0.0, a_var
        self.since_detection[idx] = 0.0
        self.detected[idx] = True
        self._mbuf[:, idx] = False

    def step(self, step_index: np.ndarray, z: np.ndarray, r_var: np.ndarray, mask: np.ndarray,
             q_var: np.ndarray) -> None:
        """Predict one step; update with the measurement taken ``delay`` steps ago where present.

        ``step_index`` (N,): the envs' step counters after this step (for the delay buffer);
        ``z`` (3, N): measured inertial target positions now; ``r_var`` (N,) their per-axis
        variance; ``mask`` (N,): detections now; ``q_var``: process-noise variance (N,).
        """
        t = self.track
        if isinstance(t, CVTrack):
            cv_predict(t, self.dt, q_var)
        else:
            ca_predict(t, self.dt, q_var)
        if self.delay:
            d = self.delay + 1
            slot = step_index % d
            cols = np.arange(self.n)
            self._zbuf[slot, :, cols] = z.T
            self._rbuf[slot, cols] = r_var
            self._mbuf[slot, cols] = mask
            old = (step_index - self.delay) % d
            z = self._zbuf[old, :, cols].T
            mask = self._mbuf[old, cols] & (step_index >= self.delay)
            lag = self.delay * self.dt
            z = z + lag * t.v
            if isinstance(t, CATrack):
                z = z + (0.5 * lag * lag) * t.a
            r_var = self._rbuf[old, cols] + lag * lag * t.vv
        if isinstance(t, CVTrack):
            cv_update(t, z, r_var, mask)
        else:
            ca_update(t, z, r_var, mask)
        self.detected = mask
        self.since_detection = np.where(mask, 0.0, self.since_detection + self.dt)

    def estimate(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(p, v, a, pos_std, vel_std)``: estimated target state (a = 0 for CV) and 1-sigma per axis."""
        t = self.track
        a = t.a if isinstance(t, CATrack) else self._zero3
        return t.p, t.v, a, np.sqrt(np.maximum(t.pp, 0.0)), np.sqrt(np.maximum(t.vv, 0.0))
