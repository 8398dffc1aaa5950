"""The state of the batched swarm engine: named arrays over env copies (axis 0) and agents.

Shapes (``N`` copies, ``M = max_agents`` slots): agent arrays ``(N, M[, k])``, target and
episode arrays ``(N[, k])``. A track row of ``trk`` is the agent's planar constant-velocity
Kalman filter: ``TRK_POS``, ``TRK_VEL`` (world, m and m/s) and the per-axis covariance entries
``pp, pv, vv`` (shared by both axes, see :mod:`hlynr.tracking.kalman`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

TRK_POS = slice(0, 2)
TRK_VEL = slice(2, 4)
TRK_COV = slice(4, 7)
TRK_SIZE = 7
SRC_OWN, SRC_RADAR, SRC_SHARED = 0, 1, 2
"""Columns of ``src``: where this step's track updates came from."""


@dataclass
class SwarmState:
    """Every quantity of ``N`` swarm engagements, by name (see the module docstring for shapes)."""

    pos: np.ndarray  # (N, M, 2) interceptor positions
    vel: np.ndarray  # (N, M, 2) interceptor velocities
    fuel: np.ndarray  # (N, M) fuel fractions
    active: np.ndarray  # (N, M) slot in use this episode (index < n_agents)
    alive: np.ndarray  # (N, M) active and not lost
    tpos: np.ndarray  # (N, 2) target position
    tvel: np.ndarray  # (N, 2) target velocity
    aim: np.ndarray  # (N, 2) the point in the defended zone the target homes on
    weave_omega: np.ndarray  # (N,) weave angular frequency, rad/s
    weave_phase: np.ndarray  # (N,) weave phase, rad
    jink_sign: np.ndarray  # (N,) +-1, direction of an ambiguous jink
    next_flip: np.ndarray  # (N,) time of the next jink-direction flip, s
    trk: np.ndarray  # (N, M, TRK_SIZE) each agent's Kalman track of the target
    trk_init: np.ndarray  # (N, M) the agent holds a track
    trk_last: np.ndarray  # (N, M) time of the track's last update, s
    src: np.ndarray  # (N, M, 3) track update sources this step (own, radar, shared)
    phi: np.ndarray  # (N, M) approach potentials
    t: np.ndarray  # (N,) elapsed time, s
    steps: np.ndarray  # (N,) steps taken this episode
    next_radar: np.ndarray  # (N,) time of the next ground-radar cue, s
    miss: np.ndarray  # (N,) smallest agent-target distance so far, m
    lost: np.ndarray  # (N,) agents lost this episode
    key: np.ndarray  # (N,) uint64 random key of the current episode
    base_key: np.ndarray  # (N,) uint64 random key of the last seeding
    episode: np.ndarray  # (N,) episodes started since the last seeding

    @classmethod
    def zeros(cls, n: int, m: int) -> SwarmState:
        """The state of ``n`` copies with ``m`` agent slots, all zero."""
        f, b = np.zeros, (lambda *s: np.zeros(s, dtype=bool))
        return cls(
            pos=f((n, m, 2)), vel=f((n, m, 2)), fuel=f((n, m)), active=b(n, m), alive=b(n, m),
            tpos=f((n, 2)), tvel=f((n, 2)), aim=f((n, 2)), weave_omega=f(n), weave_phase=f(n),
            jink_sign=f(n), next_flip=f(n), trk=f((n, m, TRK_SIZE)), trk_init=b(n, m),
            trk_last=f((n, m)), src=b(n, m, 3), phi=f((n, m)), t=f(n),
            steps=np.zeros(n, dtype=np.int64), next_radar=f(n), miss=f(n),
            lost=np.zeros(n, dtype=np.int64), key=np.zeros(n, dtype=np.uint64),
            base_key=np.zeros(n, dtype=np.uint64), episode=np.zeros(n, dtype=np.int64),
        )

    @property
    def n(self) -> int:
        """Number of env copies."""
        return self.pos.shape[0]

    def take(self, idx: np.ndarray) -> SwarmState:
        """A copy of the state of copies ``idx``."""
        return SwarmState(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})

    def put(self, idx: np.ndarray, part: SwarmState) -> None:
        """Write ``part`` (from :meth:`take`) back as the state of copies ``idx``."""
        for f in fields(self):
            getattr(self, f.name)[idx] = getattr(part, f.name)
