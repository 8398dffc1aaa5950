"""Initial-state sampling: the start of each env's next episode, as columns of a cache matrix.

Every value is a per-column function of the env's episode key and parameters (counter-based
randomness, :mod:`hlynr.envs.intercept.rng`), so filling many envs in one batch ahead of time
gives exactly the numbers of filling them one by one.

Cache rows: the :data:`~hlynr.envs.intercept.layout.ROWS` of the state matrix, then, in radar
mode, the tracker's initial track-matrix columns (``BatchTracker.init_block``).
"""

from __future__ import annotations

import numpy as np

from hlynr.envs.intercept import rng
from hlynr.envs.intercept.layout import N_STATE_ROWS, ROWS
from hlynr.envs.intercept.param_table import Subset
from hlynr.envs.intercept.params import G0, Maneuver
from hlynr.envs.intercept.physics import cos32, dot, norm, perpendicular_basis, sin32, unit
from hlynr.envs.intercept.reward import potential
from hlynr.tracking import radar
from hlynr.tracking.kalman import CA_ROWS
from hlynr.tracking.tracker import BatchTracker

N_CACHE_ROWS = N_STATE_ROWS + CA_ROWS
"""Rows of the next-episode cache (state rows, then room for the largest track block)."""

_U = {name: i for i, name in enumerate((
    "azimuth", "range", "altitude", "speed", "battery_azimuth", "battery_offset", "heading_error",
    "heading_roll", "plane_angle", "weave_period", "weave_phase", "step_time", "sign", "mixed"))}
"""Index of each scenario uniform drawn per episode."""


def sample_initial(out: np.ndarray, idx: np.ndarray, key: np.ndarray, P: Subset,
                   tracker: BatchTracker | None) -> None:
    """Write the initial states of envs ``idx`` (episode keys ``key``, parameters ``P``) into
    the cache columns ``out[:, idx]``."""
    m = idx.size
    zero = np.zeros(m, dtype=np.int64)
    u = rng.uniforms(key, rng.STREAM_SCENARIO, zero, len(_U))
    U = {name: u[i] for name, i in _U.items()}

    def lerp(lo: str, hi: str, x: np.ndarray) -> np.ndarray:
        return P[lo] + (P[hi] - P[lo]) * x

    # threat: 360 deg azimuth, flying straight at the defended point (origin)
    az = 2.0 * np.pi * U["azimuth"]
    gr = lerp("target_range_min", "target_range_max", U["range"])
    tp = np.stack([gr * np.cos(az), gr * np.sin(az),
                   lerp("target_altitude_min", "target_altitude_max", U["altitude"])])
    t_hat, _ = unit(-tp)
    tv = lerp("target_speed_min", "target_speed_max", U["speed"]) * t_hat
    # launcher around the defended point, within +-sector of the threat azimuth
    baz = az + np.deg2rad(P["battery_sector_deg"]) * (2.0 * U["battery_azimuth"] - 1.0)
    bd = P["battery_offset_max"] * np.sqrt(U["battery_offset"])
    mp = np.stack([bd * np.cos(baz), bd * np.sin(baz), P["launch_altitude"]])
    # launch along the cue to the threat's current position, with a heading error cone
    lam0, _ = unit(tp - mp)
    e_h, e_p = perpendicular_basis(lam0)
    err = np.deg2rad(P["heading_error_deg"]) * U["heading_error"]
    phi = 2.0 * np.pi * U["heading_roll"]
    d = np.cos(err) * lam0 + np.sin(err) * (np.cos(phi) * e_h + np.sin(phi) * e_p)
    mv = P["interceptor_speed"] * d
    # manoeuvre: ``mixed`` picks weave, step or random (consecutive codes) per episode
    code = P["maneuver"].astype(np.int64)
    mixed = code == int(Maneuver.MIXED)
    code = np.where(mixed, int(Maneuver.WEAVE) + np.minimum((3.0 * U["mixed"]).astype(np.int64), 2), code)
    period = lerp("weave_period_min", "weave_period_max", U["weave_period"])
    r = tp - mp
    vrel = tv - mv
    R = ROWS
    out[R["tp"], idx], out[R["mp"], idx], out[R["tv"], idx], out[R["mv"], idx] = tp, mp, tv, mv
    out[R["ma"], idx] = 0.0
    out[R["fuel"], idx] = P["fuel_mass"]
    out[R["man_code"], idx] = code
    angle = 2.0 * np.pi * U["plane_angle"]
    out[R["man_cos"], idx], out[R["man_sin"], idx] = cos32(angle), sin32(angle)
    out[R["man_omega"], idx] = 2.0 * np.pi / period
    out[R["man_phase"], idx] = 2.0 * np.pi * U["weave_phase"]
    out[R["man_tstep"], idx] = lerp("step_time_min", "step_time_max", U["step_time"])
    out[R["man_sign"], idx] = np.where(U["sign"] < 0.5, -1.0, 1.0)
    out[R["t"], idx] = 0.0
    out[R["min_dist"], idx] = norm(r)
    out[R["t_cpa"], idx] = 0.0
    out[R["closing"], idx] = dot(r, vrel) < 0.0
    out[R["phi"], idx] = potential(r, vrel, -P["reward_shaping"], P["reward_zem_scale"])
    if tracker is not None:
        n = rng.normals(key, rng.STREAM_CUE, zero, 6)
        z, r_m = radar.measure(r, P["radar_range_noise"], P["radar_angle_noise"], n[:3])
        out[N_STATE_ROWS:N_STATE_ROWS + tracker.rows, idx] = tracker.init_block(
            mp + z, tv + P["cue_velocity_noise"] * n[3:6],
            radar.axis_variance(r_m, P["radar_range_noise"], P["radar_angle_noise"]),
            P["cue_velocity_noise"] ** 2, np.maximum(P["target_accel_g"] * G0, 1.0) ** 2)
