"""Observation rows and global state of ``hlynr/ATC-v0`` (layout in :mod:`hlynr.envs.atc.layout`)."""

from __future__ import annotations

import numpy as np

from hlynr.envs.atc import layout as L
from hlynr.envs.atc.units import FT, compass_bearing, to_heading_up, wrap_angle

STATE_FIELDS_PER_AIRCRAFT = 8
"""Global state per aircraft slot: active, pos (2), vel (2), alt, exit (2)."""


def drift(pos: np.ndarray, heading: np.ndarray, exit_pt: np.ndarray) -> np.ndarray:
    """Bearing to the exit minus heading, wrapped to ``[-pi, pi)`` (positive: exit to the right)."""
    return wrap_angle(compass_bearing(exit_pt - pos) - heading)


def nearest(dist: np.ndarray, active: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(..., m, k)`` of each aircraft's ``k`` nearest flying intruders and their validity."""
    m = dist.shape[-1]
    ok = active[..., None, :] & active[..., :, None] & ~np.eye(m, dtype=bool)
    key = np.where(ok, dist, np.inf)
    kk = min(k, m)
    idx = np.argsort(key, axis=-1, kind="stable")[..., :kk]
    valid = np.isfinite(np.take_along_axis(key, idx, axis=-1))
    if kk < k:
        pad = k - kk
        idx = np.concatenate([idx, np.zeros(idx.shape[:-1] + (pad,), dtype=idx.dtype)], axis=-1)
        valid = np.concatenate([valid, np.zeros(valid.shape[:-1] + (pad,), dtype=bool)], axis=-1)
    return idx, valid


def observe(
    pos: np.ndarray, vel: np.ndarray, heading: np.ndarray, speed: np.ndarray, alt: np.ndarray,
    exit_pt: np.ndarray, active: np.ndarray, d: np.ndarray, w: np.ndarray, dist: np.ndarray,
    tcpa: np.ndarray, dcpa: np.ndarray, k: int,
) -> np.ndarray:
    """Rows ``(..., m, OWN_SIZE + k * SLOT_SIZE)`` float32 from state arrays ``(..., m[, 2])``
    and pairwise geometry ``(..., m, m[, 2])`` (see :func:`hlynr.envs.atc.conflict.pair_geometry`)."""
    lead = pos.shape[:-1]
    o = np.zeros(lead + (L.OWN_SIZE + k * L.SLOT_SIZE,))
    dr = drift(pos, heading, exit_pt)
    o[..., L.OWN["active"]] = 1.0
    o[..., L.OWN["cos_drift"]] = np.cos(dr)[..., None]
    o[..., L.OWN["sin_drift"]] = np.sin(dr)[..., None]
    o[..., L.OWN["speed"]] = speed[..., None] / L.SPEED_SCALE
    o[..., L.OWN["pos"]] = pos / L.POS_SCALE
    o[..., L.OWN["vel"]] = vel / L.SPEED_SCALE
    o[..., L.OWN["dist_to_go"]] = np.linalg.norm(exit_pt - pos, axis=-1)[..., None] / L.POS_SCALE
    idx, valid = nearest(dist, active, k)
    dalt = alt[..., None, :] - alt[..., :, None]
    pair = np.concatenate([d, w, dist[..., None], tcpa[..., None], dcpa[..., None], dalt[..., None]], axis=-1)
    g = np.take_along_axis(pair, idx[..., None], axis=-2)  # (..., m, k, 8): one gather
    psi = heading[..., None]
    slots = np.zeros(lead + (k, L.SLOT_SIZE))
    slots[..., L.SLOT["valid"]] = 1.0
    slots[..., L.SLOT["distance"]] = g[..., 4:5] / L.REL_SCALE
    slots[..., L.SLOT["rel_pos"]] = to_heading_up(g[..., 0:2], psi) / L.REL_SCALE
    slots[..., L.SLOT["rel_vel"]] = to_heading_up(g[..., 2:4], psi) / L.SPEED_SCALE
    slots[..., L.SLOT["tcpa"]] = g[..., 5:6] / L.TCPA_SCALE
    slots[..., L.SLOT["dcpa"]] = g[..., 6:7] / L.PZ_SCALE
    slots[..., L.SLOT["dalt"]] = g[..., 7:8] / L.ALT_SCALE
    slots[~valid] = 0.0
    o[..., L.OWN_SIZE:] = slots.reshape(lead + (k * L.SLOT_SIZE,))
    o[~active] = 0.0
    return np.clip(o, -L.OBS_CLIP, L.OBS_CLIP).astype(np.float32)


def global_state(
    pos: np.ndarray, vel: np.ndarray, alt: np.ndarray, exit_pt: np.ndarray, active: np.ndarray,
    time_fraction: np.ndarray,
) -> np.ndarray:
    """Global truth ``(..., m * 8 + 1)`` float32: per slot active, pos, vel, alt, exit (scaled as
    the observation), then elapsed time / episode limit. Slots not flying are zeros."""
    per = np.concatenate(
        [active[..., None].astype(float), pos / L.POS_SCALE, vel / L.SPEED_SCALE,
         alt[..., None] / (10_000.0 * FT), exit_pt / L.POS_SCALE], axis=-1)
    per = np.where(active[..., None], per, 0.0)
    flat = per.reshape(per.shape[:-2] + (-1,))
    out = np.concatenate([flat, time_fraction[..., None]], axis=-1)
    return np.clip(out, -L.OBS_CLIP, L.OBS_CLIP).astype(np.float32)


def state_size(m: int) -> int:
    """Length of the global state with ``m`` aircraft slots."""
    return m * STATE_FIELDS_PER_AIRCRAFT + 1

