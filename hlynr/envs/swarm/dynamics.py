"""Motion of the batched swarm engine: interceptors (speed, turn, thrust and fuel limits) and the
evading target (homing on the defended zone, weave and jinks), for all copies at once."""

from __future__ import annotations

import numpy as np

from hlynr.envs.swarm.physics import burn_fuel, norm2, step_vehicle, target_accel
from hlynr.envs.swarm.state import SwarmState
from hlynr.envs.swarm.table import ParamTable


def move_interceptors(st: SwarmState, p: ParamTable, act: np.ndarray) -> np.ndarray:
    """Advance the live interceptors under ``act`` ((N, M, 2) in [-1, 1]); return the fuel used
    (N, M). Lost and inactive agents do not move."""
    def c(a: np.ndarray) -> np.ndarray:
        return a[:, None]  # per-copy parameter against the agent axis

    live = st.alive
    newp, newv = step_vehicle(
        st.pos, st.vel, act[..., 0] * c(p.max_lateral_accel), act[..., 1] * c(p.max_thrust_accel),
        c(p.dt), c(p.min_speed), c(p.max_speed), c(p.max_lateral_accel), c(p.max_turn_rate),
    )
    st.pos = np.where(live[..., None], newp, st.pos)
    st.vel = np.where(live[..., None], newv, st.vel)
    f_new = burn_fuel(st.fuel, act[..., 1], c(p.dt), c(p.endurance_s), c(p.idle_burn))
    used = np.where(live, st.fuel - f_new, 0.0)
    st.fuel = np.where(live, f_new, st.fuel)
    return used


def move_target(st: SwarmState, p: ParamTable, pos0: np.ndarray, flip_u: np.ndarray) -> None:
    """Advance the target one step; ``pos0`` are the interceptors' positions at the step start
    (the nearest live one is the threat it evades), ``flip_u`` (N,) uniforms for the next
    jink-direction flip time."""
    flip = st.t >= st.next_flip
    st.jink_sign = np.where(flip, -st.jink_sign, st.jink_sign)
    st.next_flip = np.where(flip, st.t + (0.3 + 0.7 * flip_u), st.next_flip)
    rel = pos0 - st.tpos[:, None, :]
    d = np.where(st.alive, norm2(rel), np.inf)
    j = np.argmin(d, axis=1)
    rows = np.arange(st.n)
    threat_rel, threat_rng = rel[rows, j], d[rows, j]
    acc = target_accel(
        st.tpos, st.tvel, st.aim, st.t, p.evasion_level, p.target_max_accel, st.weave_omega,
        st.weave_phase, threat_rel, threat_rng, p.evade_range, st.jink_sign, 0.6 * p.zone_radius,
    )
    st.tpos, st.tvel = step_vehicle(
        st.tpos, st.tvel, acc, np.zeros(st.n), p.dt, p.target_speed, p.target_speed,
        np.maximum(p.target_max_accel, 1e-9), np.inf,
    )
