"""A batched target tracker: CV or CA per-axis Kalman filter over N envs, with delayed measurements.

The filter tracks the threat's *inertial* position (the interceptor's own state is known from
its navigation system), so the interceptor's own manoeuvres never appear as target motion.
Every control step it predicts; where a detection arrived it updates. A measurement delayed by
``delay`` steps is extrapolated to the present with the current velocity (and acceleration)
estimate, and its variance inflated by the velocity uncertainty over the delay.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from hlynr.tracking import imm
from hlynr.tracking.kalman import (
    CA_ROWS,
    CV_ROWS,
    CATrack,
    CVTrack,
    ca_predict,
    ca_update,
    cv_predict,
    cv_process_noise,
    cv_update,
)


class BatchTracker:
    """Tracks one threat per env for ``n`` envs with a ``kind`` ("cv" or "ca") filter."""

    def __init__(self, n: int, kind: Literal["cv", "ca"], dt: float, delay_steps: int = 0) -> None:
        if kind not in ("cv", "ca"):
            raise ValueError(f"unknown filter '{kind}'; known: cv, ca")
        self.n, self.kind, self.dt, self.delay = n, kind, dt, int(delay_steps)
        self.rows = CV_ROWS if kind == "cv" else CA_ROWS
        """Rows of the track matrix (and of the blocks :meth:`init_block` makes)."""
        cls = CVTrack if kind == "cv" else CATrack
        self.track: CVTrack | CATrack = cls(np.zeros((self.rows, n)))
        self._cls = cls
        pp, vv = cls.cov_row("pp"), cls.cov_row("vv")
        self._pp_vv = slice(pp, vv + 1, vv - pp)
        """Rows ``pp`` and ``vv`` of the track matrix as one strided slice."""
        self.since_detection = np.zeros(n)
        self.detected = np.zeros(n, dtype=bool)
        d = self.delay + 1
        self._zbuf = np.zeros((d, 3, n))
        self._rbuf = np.zeros((d, n))
        self._mbuf = np.zeros((d, n), dtype=bool)
        self._zero3 = np.zeros((3, n))
        self._q_cache: tuple[object, tuple[np.ndarray | float, ...]] = (None, ())
        """(q_var array, its CV process-noise entries): recomputed when a new array is passed."""

    def init_block(self, p: np.ndarray, v: np.ndarray, p_var: np.ndarray, v_var: np.ndarray,
                   a_var: np.ndarray) -> np.ndarray:
        """The track-matrix columns ``(rows, m)`` of new tracks at ``p, v`` (3, m) (zero
        acceleration) with diagonal covariance ``p_var, v_var[, a_var]`` (m,), for :meth:`init_idx`."""
        block = np.zeros((self.rows, p.shape[1]))
        R = self._cls.row
        block[R("p")], block[R("v")], block[R("pp")], block[R("vv")] = p, v, p_var, v_var
        if self.kind == "ca":
            block[R("aa")] = a_var
        return block

    def init_idx(self, idx: np.ndarray, block: np.ndarray) -> None:
        """(Re)initialise the tracks of envs ``idx`` with the columns ``block`` of :meth:`init_block`."""
        self.track.X[:, idx] = block
        self.since_detection[idx] = 0.0
        self.detected[idx] = True
        if self.delay:
            self._mbuf[:, idx] = False

    def step(self, step_index: np.ndarray, z: np.ndarray, r_var: np.ndarray, mask: np.ndarray,
             q_var: np.ndarray) -> None:
        """Predict one step; update with the measurement taken ``delay`` steps ago where present.

        ``step_index`` (N,): the envs' step counters after this step (for the delay buffer);
        ``z`` (3, N): measured inertial target positions now; ``r_var`` (N,) their per-axis
        variance; ``mask`` (N,): detections now; ``q_var``: process-noise variance (N,). The CV
        process-noise entries are cached per ``q_var`` array object: pass a new array (never
        modify it in place) when the variances change.
        """
        self._predict(q_var)
        t = self.track
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
        self._update(z, r_var, mask)
        self.detected = mask
        self.since_detection = np.where(mask, 0.0, self.since_detection + self.dt)

    def _predict(self, q_var: np.ndarray) -> None:
        """Predict every track one step (process-noise variance ``q_var`` (N,))."""
        t = self.track
        if isinstance(t, CVTrack):
            if self._q_cache[0] is not q_var:
                self._q_cache = (q_var, cv_process_noise(self.dt, q_var))
            cv_predict(t, self.dt, q_var, self._q_cache[1])
        else:
            ca_predict(t, self.dt, q_var)

    def _update(self, z: np.ndarray, r_var: np.ndarray, mask: np.ndarray) -> None:
        """Update the tracks with measurements ``z`` (3, N) of variance ``r_var`` where ``mask``."""
        t = self.track
        if isinstance(t, CVTrack):
            cv_update(t, z, r_var, mask)
        else:
            ca_update(t, z, r_var, mask)

    def write_estimate(self, sel: slice | np.ndarray, p: np.ndarray, v: np.ndarray, a: np.ndarray,
                       std: np.ndarray, since: np.ndarray, detected: np.ndarray) -> None:
        """Write the estimate of envs ``sel`` into the given arrays: state ``p, v, a`` (3, m)
        (a = 0 for CV), ``std`` (2, m): position and velocity 1-sigma per axis, time since the
        last detection and this step's detection flag (as 0/1) (m,) each; the numbers of
        :meth:`estimate`."""
        t = self.track
        p[...] = t.x[0][:, sel]
        v[...] = t.x[1][:, sel]
        if isinstance(t, CATrack):
            a[...] = t.x[2][:, sel]
        else:
            a[...] = 0.0
        np.sqrt(np.maximum(t.X[self._pp_vv][:, sel], 0.0), out=std)
        since[...] = self.since_detection[sel]
        detected[...] = self.detected[sel]

    def estimate(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(p, v, a, pos_std, vel_std)``: estimated target state (a = 0 for CV) and 1-sigma per axis."""
        t = self.track
        a = t.a if isinstance(t, CATrack) else self._zero3
        return t.p, t.v, a, np.sqrt(np.maximum(t.pp, 0.0)), np.sqrt(np.maximum(t.vv, 0.0))


class IMMTracker(BatchTracker):
    """An interacting-multiple-model track per env (:mod:`hlynr.tracking.imm`) behind the
    :class:`BatchTracker` interface.

    ``models``: ``(kind, noise, sojourn)`` per model: ``"cv"`` or ``"ca"``, the process-noise
    1-sigma (m/s^2; ``None``: the ``q_var`` passed to :meth:`step`, per env) and the mean time in
    that mode (s). The models' states live in ``x``, ``P``, ``mu``; :attr:`track` (a CA track)
    holds the mixture's estimate: ``p, v, a`` and the covariance entries averaged over the three
    axes (each axis has its own), which is what :meth:`write_estimate`, :meth:`estimate`, the
    delay extrapolation and the renderer read. New tracks start every model at the initial
    estimate (the CA block of :meth:`init_block`) with equal mode probabilities.
    """

    def __init__(self, n: int, dt: float, models: Sequence[tuple[str, float | None, float]],
                 delay_steps: int = 0) -> None:
        if len(models) < 2:
            raise ValueError(f"an IMM filter needs at least 2 models, got {len(models)}")
        super().__init__(n, "ca", dt, delay_steps)
        kinds = [kind for kind, _, _ in models]
        self.kinds = tuple(kinds)
        self.c = np.array([1.0 if kind == "ca" else 0.0 for kind in kinds])
        """1 for a CA model, 0 for a CV model (the acceleration rows of ``F``)."""
        self.q_unit = imm.process_noise(kinds, dt)
        self.noise_var: tuple[float | None, ...] = tuple(
            None if noise is None else float(noise) ** 2 for _, noise, _ in models)
        self.pi = imm.transition_matrix([sojourn for _, _, sojourn in models], dt)
        """Model transition probabilities per step, ``pi[i, j]`` from ``i`` to ``j``."""
        m = len(models)
        self.x = np.zeros((m, 3, 3, n))
        """Model states (model, ``p, v, a``, axis, env)."""
        self.P = np.zeros((m, 6, 3, n))
        """Model covariance entries (model, ``pp, pv, pa, vv, va, aa``, axis, env)."""
        self.mu = np.full((m, 3, n), 1.0 / m)
        """Mode probabilities (model, axis, env)."""
        self._cbar = self.mu.copy()
        self._imm_q: tuple[object, np.ndarray] = (None, np.empty(0))

    def init_idx(self, idx: np.ndarray, block: np.ndarray) -> None:
        """(Re)initialise the tracks of envs ``idx`` from the CA columns ``block`` of
        :meth:`init_block`: every model at that estimate, equal mode probabilities."""
        super().init_idx(idx, block)
        self.x[:, :, :, idx] = block[:9].reshape(3, 3, block.shape[1])
        self.P[:, :, :, idx] = block[9:15, None, :]
        self.mu[:, :, idx] = 1.0 / len(self.kinds)
        self._cbar[:, :, idx] = 1.0 / len(self.kinds)

    def _noise(self, q_var: np.ndarray) -> np.ndarray:
        """Process-noise entries (M, 6, N) of every model (cached per ``q_var`` array object)."""
        if self._imm_q[0] is not q_var:
            var = np.stack([np.broadcast_to(q_var if v is None else v, (self.n,)).astype(np.float64)
                            for v in self.noise_var])
            self._imm_q = (q_var, self.q_unit[:, :, None] * var[:, None, :])
        return self._imm_q[1]

    def _combine(self, mu: np.ndarray) -> None:
        """Write the mixture's estimate with mode probabilities ``mu`` into :attr:`track`."""
        mean, cov = imm.combine(self.x, self.P, mu)
        X = self.track.X
        X[:9] = mean.reshape(9, self.n)
        X[9:15] = (cov[:, 0] + cov[:, 1] + cov[:, 2]) * (1.0 / 3.0)

    def _predict(self, q_var: np.ndarray) -> None:
        self.x, self.P, self._cbar = imm.mix(self.x, self.P, self.mu, self.pi)
        imm.predict(self.x, self.P, self.c, self._noise(q_var), self.dt)
        self._combine(self._cbar)

    def _update(self, z: np.ndarray, r_var: np.ndarray, mask: np.ndarray) -> None:
        loglik = imm.update(self.x, self.P, z, r_var, mask)
        self.mu = imm.mode_probabilities(self._cbar, loglik, mask)
        self._combine(self.mu)
