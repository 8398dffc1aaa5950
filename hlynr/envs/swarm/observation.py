"""Observations of the batched swarm engine: each agent's local row (layout in :mod:`.layout`),
the global state a centralised critic sees per agent row, and the env-level ``state()``."""

from __future__ import annotations

import numpy as np

from hlynr.envs.swarm import layout as L
from hlynr.envs.swarm.physics import los_kinematics, to_body, track_geometry, unit
from hlynr.envs.swarm.sensing import pairwise_distance
from hlynr.envs.swarm.state import TRK_POS, TRK_VEL, SwarmState
from hlynr.envs.swarm.table import ParamTable


def nearest_mates(st: SwarmState, comms_range: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (N, M, k) of the ``k`` nearest live teammates within ``comms_range`` of each agent,
    nearest first, and their validity; invalid slots hold index 0. Lost agents have no mates."""
    m = st.pos.shape[1]
    live = st.alive
    d = pairwise_distance(st.pos)
    ok = live[:, :, None] & live[:, None, :] & ~np.eye(m, dtype=bool) & (d <= comms_range[:, None, None])
    d = np.where(ok, d, np.inf)
    kk = min(k, max(m - 1, 0))
    order = np.argsort(d, axis=2, kind="stable")[:, :, :kk]
    valid = np.take_along_axis(ok, order, axis=2)
    idx = np.where(valid, order, 0)
    if kk < k:
        pad = ((0, 0), (0, 0), (0, k - kk))
        idx, valid = np.pad(idx, pad), np.pad(valid, pad)
    return idx, valid


def observe(st: SwarmState, p: ParamTable, k_neighbours: int) -> np.ndarray:
    """Every agent row, ``(N, M, obs_size)`` float32, laid out as in :mod:`.layout`."""
    n, m = st.pos.shape[:2]
    o = np.zeros((n, m, L.obs_size(k_neighbours)))
    head, speed = unit(st.vel)
    S = L.SL
    o[..., S["active"]] = 1.0
    o[..., S["pos"]] = st.pos / L.POS_SCALE
    o[..., S["vel"]] = st.vel / L.OWN_SPEED_SCALE
    o[..., S["speed"]] = speed[..., None] / L.OWN_SPEED_SCALE
    o[..., S["fuel"]] = st.fuel[..., None]
    o[..., S["time"]] = (st.t / (p.max_steps * p.dt))[:, None, None]
    o[..., S["zone_rel"]] = to_body(-st.pos, head) / L.POS_SCALE
    valid = st.trk_init & st.alive
    f_pos, f_vel = st.trk[..., TRK_POS], st.trk[..., TRK_VEL]
    rel = f_pos - st.pos
    rvel = f_vel - st.vel
    rng, closing, los = los_kinematics(rel, rvel)
    cross, to_line = track_geometry(st.pos, f_pos, f_vel)
    lead, _ = unit(to_line)
    trk = np.zeros((n, m, L.BASE_SIZE))
    trk[..., S["trk_valid"]] = 1.0
    trk[..., S["trk_rel_pos"]] = to_body(rel, head) / L.REL_SCALE
    trk[..., S["trk_vel"]] = to_body(f_vel, head) / L.TARGET_SPEED_SCALE
    trk[..., S["trk_rel_vel"]] = to_body(rvel, head) / L.TARGET_SPEED_SCALE
    trk[..., S["trk_range"]] = rng[..., None] / L.REL_SCALE
    trk[..., S["trk_closing"]] = closing[..., None] / L.TARGET_SPEED_SCALE
    trk[..., S["trk_los_rate"]] = los[..., None] * L.LOS_RATE_SCALE
    trk[..., S["trk_pos"]] = f_pos / L.POS_SCALE
    trk[..., S["trk_cross"]] = cross[..., None] / L.REL_SCALE
    trk[..., S["trk_lead"]] = to_body(lead, head)
    trk[..., S["src_own"].start:S["src_shared"].stop] = st.src
    trk[..., S["trk_age"]] = ((st.t[:, None] - st.trk_last) / p.track_timeout[:, None])[..., None]
    sl = slice(S["trk_valid"].start, L.BASE_SIZE)
    o[..., sl] = np.where(valid[..., None], trk[..., sl], 0.0)
    if k_neighbours:
        idx, ok = nearest_mates(st, p.comms_range, k_neighbours)
        rows = np.arange(n)[:, None, None]
        h = head[:, :, None, :]
        mates = np.zeros((n, m, k_neighbours, L.MATE_SIZE))
        mates[..., 0] = ok
        mates[..., 1:3] = to_body(st.pos[rows, idx] - st.pos[:, :, None, :], h) / L.COMMS_SCALE
        mates[..., 3:5] = to_body(st.vel[rows, idx] - st.vel[:, :, None, :], h) / L.OWN_SPEED_SCALE
        mates[~ok] = 0.0
        o[..., L.BASE_SIZE:] = mates.reshape(n, m, k_neighbours * L.MATE_SIZE)
    o[~st.alive] = 0.0
    return np.clip(o, -L.OBS_CLIP, L.OBS_CLIP).astype(np.float32)


def team_state(st: SwarmState) -> np.ndarray:
    """The team and true-target block (N, TEAM_SIZE * M + TARGET_SIZE) of the global state:
    per agent slot ``pos, vel, fuel, alive`` (zeros for slots without a live agent), then the
    target's position and velocity (same scales as the observation)."""
    n, m = st.pos.shape[:2]
    team = np.concatenate([
        st.pos / L.POS_SCALE, st.vel / L.OWN_SPEED_SCALE, st.fuel[..., None], st.alive[..., None],
    ], axis=2) * st.alive[..., None]
    target = np.concatenate([st.tpos / L.POS_SCALE, st.tvel / L.TARGET_SPEED_SCALE], axis=1)
    return np.clip(np.concatenate([team.reshape(n, -1), target], axis=1), -L.OBS_CLIP, L.OBS_CLIP)


def critic_observe(st: SwarmState, obs: np.ndarray) -> np.ndarray:
    """The centralised critic's input per agent row (N, M, critic_size) float32: the team and
    target block, the agent's own observation row, its one-hot slot id. A slot without a live
    agent gets zeros and its id (death masking)."""
    n, m = st.pos.shape[:2]
    shared = np.broadcast_to(team_state(st)[:, None, :], (n, m, L.team_state_size(m)))
    ids = np.broadcast_to(np.eye(m), (n, m, m))
    live = st.alive[..., None]
    out = np.concatenate([shared * live, obs * live, ids], axis=2)
    return out.astype(np.float32)
