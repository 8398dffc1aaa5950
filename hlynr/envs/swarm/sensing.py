"""Sensing of the batched swarm engine: ground-radar cues, own detections, comms sharing, tracks.

Each agent keeps a planar constant-velocity Kalman track of the target (the shared closed-form
filter of :mod:`hlynr.tracking.kalman`, both axes with one covariance). Every step all tracks are
predicted, then the measurements of the step are fused in a fixed order: the ground-radar cue
(broadcast to every live agent, every ``radar_period`` when ``radar_cueing``), then for each agent
``j`` that detects the target (inside ``detect_range``) its detection shared with the live
teammates in ``comms_range``, then the same detection in ``j``'s own track. A track that gets no
update for ``track_timeout`` seconds is dropped; a new track starts at the measured position
with zero velocity and a wide velocity prior.
"""

from __future__ import annotations

import numpy as np

from hlynr.envs.swarm.physics import measurement_sigma, norm2
from hlynr.envs.swarm.state import SRC_OWN, SRC_RADAR, SRC_SHARED, TRK_SIZE, SwarmState
from hlynr.envs.swarm.table import ParamTable
from hlynr.tracking.kalman import CVTrack, cv_predict, cv_update

VEL_PRIOR = 3000.0
"""Std (m/s) of the target-velocity prior at track initiation."""


class PlanarCVTrack(CVTrack):
    """A :class:`~hlynr.tracking.kalman.CVTrack` with two axes: ``X`` is ``(7, K)`` (p 0:2, v 2:4,
    pp, pv, vv), so the shared predict/update run unchanged on planar tracks."""

    def __init__(self, X: np.ndarray) -> None:
        self.X = X
        self.vecs = (X[0:2], X[2:4])
        self.covs = (X[4], X[5], X[6])
        self.cov = X[4:7]


def tracks(st: SwarmState) -> PlanarCVTrack:
    """All agents' tracks as one planar filter over ``N * M`` columns (views of ``st.trk``)."""
    return PlanarCVTrack(st.trk.reshape(-1, TRK_SIZE).T)


def pairwise_distance(pos: np.ndarray) -> np.ndarray:
    """``(N, M, M)`` distances between the agents of each copy."""
    return norm2(pos[:, :, None, :] - pos[:, None, :, :])


def comms_matrix(pos: np.ndarray, live: np.ndarray, comms_range: np.ndarray) -> np.ndarray:
    """``(N, M, M)`` bool: agent i hears agent j (both live, i != j, within ``comms_range``)."""
    m = pos.shape[1]
    d = pairwise_distance(pos)
    return (live[:, :, None] & live[:, None, :] & ~np.eye(m, dtype=bool)
            & (d <= comms_range[:, None, None]))


def _fuse(st: SwarmState, kf: PlanarCVTrack, z: np.ndarray, var: np.ndarray,
          sources: tuple[tuple[int, np.ndarray], ...]) -> None:
    """Fuse one measurement per copy (``z`` (N, 2), variance ``var`` (N,)) into the tracks of the
    receivers: ``sources`` pairs a ``src`` column with its (disjoint) receivers (N, M). Starts
    fresh tracks, updates held ones."""
    recv = np.zeros_like(st.alive)
    for col, mask in sources:
        mask = mask & st.alive
        st.src[..., col] |= mask
        recv |= mask
    if not recv.any():
        return
    fresh = recv & ~st.trk_init
    zz = np.broadcast_to(z[:, None, :], st.pos.shape)
    vv = np.broadcast_to(var[:, None], recv.shape)
    if fresh.any():
        st.trk[fresh] = 0.0
        st.trk[fresh, 0:2] = zz[fresh]
        st.trk[fresh, 4] = vv[fresh]
        st.trk[fresh, 6] = VEL_PRIOR**2
        st.trk_init |= fresh
    upd = recv & ~fresh
    if upd.any():
        cv_update(kf, zz.reshape(-1, 2).T, vv.reshape(-1), upd.reshape(-1))
    st.trk_last[recv] = np.broadcast_to(st.t[:, None], recv.shape)[recv]


def sense(st: SwarmState, p: ParamTable, noise_cue: np.ndarray, noise_own: np.ndarray,
          predict: bool) -> None:
    """One sensing step in place: predict (if ``predict``), fuse this step's measurements, drop
    stale tracks. ``noise_cue`` (N, 2) and ``noise_own`` (N, M, 2) are standard normals."""
    kf = tracks(st)
    m = st.pos.shape[1]
    if predict:
        q_var = np.repeat(p.sigma_a**2, m)
        cv_predict(kf, np.repeat(p.dt, m), q_var)
    st.src[:] = False
    tgt = st.tpos
    # ground radar cue, broadcast to every live agent
    due = p.radar_cueing & (st.t >= st.next_radar - 1e-9)
    st.next_radar = np.where(due, st.next_radar + p.radar_period, st.next_radar)
    rr = norm2(tgt)
    cue = due & (rr <= p.radar_range)
    if cue.any():
        sig = measurement_sigma(rr, p.radar_sigma, p.radar_sigma_per_m)
        z = tgt + sig[:, None] * noise_cue
        _fuse(st, kf, z, sig * sig, ((SRC_RADAR, st.alive & cue[:, None]),))
    # own detections, shared with teammates in comms range
    rngs = norm2(tgt[:, None, :] - st.pos)
    det = st.alive & (rngs <= p.detect_range[:, None])
    if det.any():
        comm = comms_matrix(st.pos, st.alive, p.comms_range)
        sig = measurement_sigma(rngs, p.own_sigma[:, None], p.own_sigma_per_m[:, None])
        z = tgt[:, None, :] + sig[..., None] * noise_own
        eye = np.eye(m, dtype=bool)
        for j in range(m):
            dj = det[:, j]
            if not dj.any():
                continue
            # teammates in range and j itself receive the same detection (disjoint receivers)
            _fuse(st, kf, z[:, j], sig[:, j] ** 2, ((SRC_SHARED, comm[:, :, j] & dj[:, None]),
                                                    (SRC_OWN, eye[j][None, :] & dj[:, None])))
    stale = st.trk_init & (st.t[:, None] - st.trk_last > p.track_timeout[:, None])
    st.trk_init &= ~stale
