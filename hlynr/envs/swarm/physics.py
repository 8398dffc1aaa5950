"""Pure, batched NumPy physics, sensing and tracking for the swarm env (2-D, SI units).

Every function takes arrays with a leading batch dimension (agents, or agents x envs flattened)
and returns new arrays; nothing here holds state or draws random numbers itself.
"""

from __future__ import annotations

import numpy as np

_EPS = 1e-9
_JINK_BAND = 0.025  # threat this close to the track (fraction of evade_range): random jink side


def unit(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors and norms of ``v`` (shape ``(B, 2)``); zero vectors map to +x."""
    n = np.linalg.norm(v, axis=-1)
    u = np.where(n[..., None] > _EPS, v / np.maximum(n, _EPS)[..., None], np.array([1.0, 0.0]))
    return u, n


def left_normal(u: np.ndarray) -> np.ndarray:
    """The unit vector 90 degrees to the left of unit vectors ``u`` (``(B, 2)``)."""
    return np.stack([-u[..., 1], u[..., 0]], axis=-1)


def step_vehicle(
    pos: np.ndarray,
    vel: np.ndarray,
    lateral: np.ndarray,
    longitudinal: np.ndarray,
    dt: float,
    min_speed: float,
    max_speed: float,
    max_lateral: float,
    max_turn_rate: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Advance point-mass vehicles one step under velocity-frame accelerations.

    ``lateral`` (m/s², + = left) is limited to ``max_lateral`` and to ``max_turn_rate * speed``;
    the new speed is clipped to ``[min_speed, max_speed]``; position integrates the mean velocity
    (trapezoid). Shapes: ``pos``/``vel`` ``(B, 2)``, ``lateral``/``longitudinal`` ``(B,)``.
    """
    u, speed = unit(vel)
    lat_lim = np.minimum(max_lateral, max_turn_rate * speed)
    lat = np.clip(lateral, -lat_lim, lat_lim)
    v_new = vel + (lat[:, None] * left_normal(u) + longitudinal[:, None] * u) * dt
    u_new, s_new = unit(v_new)
    v_new = u_new * np.clip(s_new, min_speed, max_speed)[:, None]
    return pos + 0.5 * (vel + v_new) * dt, v_new


def burn_fuel(
    fuel: np.ndarray, throttle: np.ndarray, dt: float, endurance_s: float, idle_burn: float
) -> np.ndarray:
    """Fuel fraction after one step: burn ``(idle + (1 - idle) * max(throttle, 0)) dt / endurance``."""
    rate = idle_burn + (1.0 - idle_burn) * np.clip(throttle, 0.0, 1.0)
    left = fuel - rate * dt / endurance_s
    return np.where(left > 1e-9, left, 0.0)  # no rounding residue keeps an empty tank alive


def segment_cpa(
    rel0: np.ndarray, rel1: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Closest point of approach within a step, relative motion linear from ``rel0`` to ``rel1``.

    Returns ``(tau, distance)`` with ``tau`` in ``[0, 1]`` the fraction of the step at which the
    relative distance is smallest. Shapes ``(B, 2)`` -> ``(B,)``, ``(B,)``.
    """
    d = rel1 - rel0
    dd = np.einsum("...i,...i->...", d, d)
    tau = np.clip(-np.einsum("...i,...i->...", rel0, d) / np.maximum(dd, _EPS), 0.0, 1.0)
    tau = np.where(dd > _EPS, tau, 0.0)
    closest = rel0 + tau[..., None] * d
    return tau, np.linalg.norm(closest, axis=-1)


def los_kinematics(
    rel_pos: np.ndarray, rel_vel: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Range, closing speed (+ closing) and LOS rate (rad/s, + = LOS turning left) in 2-D.

    ``rel_pos = p_target - p_own``, ``rel_vel = v_target - v_own``; shapes ``(B, 2)``.
    """
    rng = np.maximum(np.linalg.norm(rel_pos, axis=-1), _EPS)
    closing = -np.einsum("...i,...i->...", rel_pos, rel_vel) / rng
    cross = rel_pos[..., 0] * rel_vel[..., 1] - rel_pos[..., 1] * rel_vel[..., 0]
    return rng, closing, cross / rng**2


def pn_lateral(
    rel_pos: np.ndarray, rel_vel: np.ndarray, own_vel: np.ndarray, nav_gain: float
) -> np.ndarray:
    """Pure proportional navigation: lateral acceleration ``N' Vc dλ/dt`` (+ = left), ``(B,)``.

    The command is applied perpendicular to the pursuer's velocity; its sign follows the LOS
    rotation measured in the pursuer's frame.
    """
    _, closing, los_rate = los_kinematics(rel_pos, rel_vel)
    return nav_gain * np.maximum(closing, 0.0) * los_rate


def target_accel(
    pos: np.ndarray,
    vel: np.ndarray,
    aim: np.ndarray,
    t: float | np.ndarray,
    evasion: int,
    max_accel: float,
    weave_omega: np.ndarray,
    weave_phase: np.ndarray,
    threat_rel: np.ndarray | None,
    threat_range: np.ndarray | None,
    evade_range: float,
    jink_sign: np.ndarray,
    zone_guard: float = 0.0,
) -> np.ndarray:
    """Lateral acceleration of targets homing on ``aim`` (PN, N'=3) with evasion (``(B,)``).

    ``evasion``: 0 none, 1 weave (``0.8 a_max sin(ωt+φ)`` on top of homing), 2 full: weave
    while no interceptor is near, and a full-authority jink away from the nearest interceptor
    (relative position ``threat_rel = p_threat - p_target``, range ``threat_range``) once it is
    inside ``evade_range`` and ahead; ``jink_sign`` (±1) flips the jink direction over time.
    The homing term keeps the track headed into the defended zone between manoeuvres, and
    evasion is suspended whenever the straight track ahead would miss ``aim`` by more than
    ``zone_guard`` metres, so an evading target still reaches the zone.
    """
    home = pn_lateral(aim - pos, -vel, vel, 3.0)
    if evasion == 0:
        acc = home
    else:
        weave = 0.8 * max_accel * np.sin(weave_omega * t + weave_phase)
        acc = home + weave
        if evasion == 2 and threat_rel is not None and threat_range is not None:
            u, _ = unit(vel)
            ahead = np.einsum("...i,...i->...", threat_rel, u) > 0.0
            near = (threat_range < evade_range) & ahead
            side = np.einsum("...i,...i->...", threat_rel, left_normal(u))
            away = np.where(side >= 0.0, -1.0, 1.0)  # turn away from the threat's side
            jink = max_accel * np.where(np.abs(side) < _JINK_BAND * evade_range, jink_sign, away)
            acc = np.where(near, jink, acc)
        if zone_guard > 0.0:
            acc = np.where(line_distance(aim, pos, vel) > zone_guard, home, acc)
    return np.clip(acc, -max_accel, max_accel)


def kf_predict(
    pos: np.ndarray, vel: np.ndarray, cov: np.ndarray, dt: float, sigma_a: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Constant-velocity Kalman predict, per axis in closed form (both axes share ``cov``).

    ``cov`` is ``(B, 3)`` = ``[P_pp, P_pv, P_vv]`` of the per-axis ``[p, v]`` state; process noise
    is discrete white-noise acceleration ``σ_a² [[T⁴/4, T³/2], [T³/2, T²]]``.
    """
    q = sigma_a**2
    pp, pv, vv = cov[:, 0], cov[:, 1], cov[:, 2]
    new = np.stack(
        [
            pp + 2 * dt * pv + dt * dt * vv + q * dt**4 / 4,
            pv + dt * vv + q * dt**3 / 2,
            vv + q * dt * dt,
        ],
        axis=1,
    )
    return pos + vel * dt, vel, new


def kf_update(
    pos: np.ndarray,
    vel: np.ndarray,
    cov: np.ndarray,
    z: np.ndarray,
    r: np.ndarray,
    mask: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Kalman update with position measurements ``z`` (``(B, 2)``) of variance ``r`` (``(B,)``).

    Only rows where ``mask`` is true change. Both axes have the same noise, hence the same gain.
    """
    pp, pv, vv = cov[:, 0], cov[:, 1], cov[:, 2]
    s = pp + r
    kp, kv = pp / s, pv / s
    innov = z - pos
    m = mask[:, None]
    new_pos = np.where(m, pos + kp[:, None] * innov, pos)
    new_vel = np.where(m, vel + kv[:, None] * innov, vel)
    new_cov = np.stack([(1 - kp) * pp, (1 - kp) * pv, vv - kv * pv], axis=1)
    return new_pos, new_vel, np.where(m, new_cov, cov)


def measurement_sigma(rng: np.ndarray, sigma0: float, sigma_per_m: float) -> np.ndarray:
    """Isotropic position-noise std (m) of a sensor at range ``rng``: ``σ0 + k · range``."""
    return sigma0 + sigma_per_m * rng


def nearest_mates(
    pos: np.ndarray, live: np.ndarray, comms_range: float, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the ``k`` nearest live teammates within ``comms_range`` of each agent.

    ``pos`` ``(M, 2)``, ``live`` ``(M,)`` bool. Returns ``(idx (M, k), valid (M, k))``; invalid
    slots hold index 0 and ``valid`` False. Dead agents have no teammates.
    """
    m = pos.shape[0]
    d = np.linalg.norm(pos[:, None, :] - pos[None, :, :], axis=-1)
    ok = live[:, None] & live[None, :] & ~np.eye(m, dtype=bool) & (d <= comms_range)
    d = np.where(ok, d, np.inf)
    kk = min(k, max(m - 1, 0))
    order = np.argsort(d, axis=1, kind="stable")[:, :kk]
    valid = np.take_along_axis(ok, order, axis=1)
    idx = np.where(valid, order, 0)
    if kk < k:
        pad = k - kk
        idx = np.concatenate([idx, np.zeros((m, pad), dtype=idx.dtype)], axis=1)
        valid = np.concatenate([valid, np.zeros((m, pad), dtype=bool)], axis=1)
    return idx, valid


def comms_matrix(pos: np.ndarray, live: np.ndarray, comms_range: float) -> np.ndarray:
    """``(M, M)`` bool: agent i hears agent j (both live, i != j, within ``comms_range``)."""
    m = pos.shape[0]
    d = np.linalg.norm(pos[:, None, :] - pos[None, :, :], axis=-1)
    return live[:, None] & live[None, :] & ~np.eye(m, dtype=bool) & (d <= comms_range)


def line_distance(point: np.ndarray, origin: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """Positioning error of ``point`` w.r.t. a track ``origin + s·direction`` (``(B,)``).

    Distance to the track ahead of ``origin`` (``s >= 0``); behind it, the distance to ``origin``.
    """
    u, _ = unit(direction)
    rel = point - origin
    s = np.maximum(np.einsum("...i,...i->...", rel, u), 0.0)
    return np.linalg.norm(rel - s[..., None] * u, axis=-1)


def to_body(v: np.ndarray, heading: np.ndarray) -> np.ndarray:
    """World vectors ``v`` (``(B, 2)``) in the frames ``(forward, left)`` of unit ``heading``."""
    return np.stack(
        [np.einsum("...i,...i->...", v, heading), np.einsum("...i,...i->...", v, left_normal(heading))],
        axis=-1,
    )


def track_geometry(
    point: np.ndarray, origin: np.ndarray, direction: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Signed offset of ``point`` from the line ``origin + s·direction`` (+ = left of it) and the
    world vector from ``point`` to the closest point of the line with ``s >= 0``; ``(B,)``, ``(B, 2)``.
    """
    u, _ = unit(direction)
    rel = point - origin
    cross = u[..., 0] * rel[..., 1] - u[..., 1] * rel[..., 0]
    s = np.maximum(np.einsum("...i,...i->...", rel, u), 0.0)
    return cross, origin + s[..., None] * u - point


def zero_effort_miss(rel_pos: np.ndarray, rel_vel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Zero-effort miss (m) and closing flag of straight-line relative motion (``(B,)`` each).

    ``rel_pos = p_target - p_own``, ``rel_vel = v_target - v_own``: the miss distance if neither
    side accelerated from now on; for a receding pair it is the current range.
    """
    vv = np.maximum(np.einsum("...i,...i->...", rel_vel, rel_vel), _EPS)
    t_go = -np.einsum("...i,...i->...", rel_pos, rel_vel) / vv
    closing = t_go > 0.0
    zem = np.linalg.norm(rel_pos + np.maximum(t_go, 0.0)[..., None] * rel_vel, axis=-1)
    return zem, closing
