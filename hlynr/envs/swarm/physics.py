"""Pure, batched NumPy physics and geometry for the swarm env (2-D, SI units).

Every function takes arrays of 2-D vectors with any leading batch shape (``(..., 2)``: agents,
or env copies x agents) and returns new arrays computed element by element, so one copy and
many copies give the same numbers; nothing here holds state or draws random numbers itself.
Tracking uses the shared filters of :mod:`hlynr.tracking.kalman` (see :mod:`.sensing`).
"""

from __future__ import annotations

import numpy as np

_EPS = 1e-9
_LEFT = np.array([-1.0, 1.0])
_JINK_BAND = 0.025  # threat this close to the track (fraction of evade_range): random jink side

Param = float | np.ndarray
"""A parameter: one value for all, or one per batch element (broadcast against the batch)."""


def dot2(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Dot products of 2-D vectors along the last axis (``a0 b0 + a1 b1``, the same for any shape)."""
    return a[..., 0] * b[..., 0] + a[..., 1] * b[..., 1]


def norm2(a: np.ndarray) -> np.ndarray:
    """Euclidean norms of 2-D vectors along the last axis."""
    return np.sqrt(dot2(a, a))


def unit(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors and norms of ``v`` (shape ``(..., 2)``); zero vectors map to +x."""
    n = norm2(v)
    u = np.where(n[..., None] > _EPS, v / np.maximum(n, _EPS)[..., None], np.array([1.0, 0.0]))
    return u, n


def left_normal(u: np.ndarray) -> np.ndarray:
    """The unit vector 90 degrees to the left of unit vectors ``u`` (``(..., 2)``)."""
    return u[..., ::-1] * _LEFT


def step_vehicle(
    pos: np.ndarray,
    vel: np.ndarray,
    lateral: np.ndarray,
    longitudinal: np.ndarray,
    dt: Param,
    min_speed: Param,
    max_speed: Param,
    max_lateral: Param,
    max_turn_rate: Param,
) -> tuple[np.ndarray, np.ndarray]:
    """Advance point-mass vehicles one step under velocity-frame accelerations.

    ``lateral`` (m/s², + = left) is limited to ``max_lateral`` and to ``max_turn_rate * speed``;
    the new speed is clipped to ``[min_speed, max_speed]``; position integrates the mean velocity
    (trapezoid). Shapes: ``pos``/``vel`` ``(B, 2)``, ``lateral``/``longitudinal`` ``(B,)``.
    """
    u, speed = unit(vel)
    lat_lim = np.minimum(max_lateral, max_turn_rate * speed)
    lat = np.clip(lateral, -lat_lim, lat_lim)
    dtv = np.asarray(dt)[..., None]
    v_new = vel + (lat[..., None] * left_normal(u) + longitudinal[..., None] * u) * dtv
    u_new, s_new = unit(v_new)
    v_new = u_new * np.clip(s_new, min_speed, max_speed)[..., None]
    return pos + 0.5 * (vel + v_new) * dtv, v_new


def burn_fuel(
    fuel: np.ndarray, throttle: np.ndarray, dt: Param, endurance_s: Param, idle_burn: Param
) -> np.ndarray:
    """Fuel fraction after one step: burn ``(idle + (1 - idle) * max(throttle, 0)) dt / endurance``."""
    rate = idle_burn + (1.0 - idle_burn) * np.clip(throttle, 0.0, 1.0)
    left = fuel - rate * dt / endurance_s
    return np.where(left > 1e-9, left, 0.0)  # no rounding residue keeps an empty tank alive


def los_kinematics(
    rel_pos: np.ndarray, rel_vel: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Range, closing speed (+ closing) and LOS rate (rad/s, + = LOS turning left) in 2-D.

    ``rel_pos = p_target - p_own``, ``rel_vel = v_target - v_own``; shapes ``(B, 2)``.
    """
    rng = np.maximum(norm2(rel_pos), _EPS)
    closing = -dot2(rel_pos, rel_vel) / rng
    cross = rel_pos[..., 0] * rel_vel[..., 1] - rel_pos[..., 1] * rel_vel[..., 0]
    return rng, closing, cross / rng**2


def pn_lateral(
    rel_pos: np.ndarray, rel_vel: np.ndarray, own_vel: np.ndarray, nav_gain: Param
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
    t: np.ndarray,
    evasion: np.ndarray,
    max_accel: np.ndarray,
    weave_omega: np.ndarray,
    weave_phase: np.ndarray,
    threat_rel: np.ndarray,
    threat_range: np.ndarray,
    evade_range: np.ndarray,
    jink_sign: np.ndarray,
    zone_guard: np.ndarray,
) -> np.ndarray:
    """Lateral acceleration of targets homing on ``aim`` (PN, N'=3) with evasion (``(B,)``).

    ``evasion`` (per target): 0 none, 1 weave (``0.8 a_max sin(ωt+φ)`` on top of homing), 2
    full: weave while no interceptor is near, and a full-authority jink away from the nearest
    interceptor (relative position ``threat_rel = p_threat - p_target``, range ``threat_range``,
    ``inf`` when there is none) once it is inside ``evade_range`` and ahead; ``jink_sign`` (±1)
    flips the jink direction over time. The homing term keeps the track headed into the defended
    zone between manoeuvres, and evasion is suspended whenever the straight track ahead would
    miss ``aim`` by more than ``zone_guard`` metres, so an evading target still reaches the zone.
    """
    home = pn_lateral(aim - pos, -vel, vel, 3.0)
    weave = 0.8 * max_accel * np.sin(weave_omega * t + weave_phase)
    acc = home + weave
    u, _ = unit(vel)
    ahead = dot2(threat_rel, u) > 0.0
    near = (evasion == 2) & (threat_range < evade_range) & ahead
    side = dot2(threat_rel, left_normal(u))
    away = np.where(side >= 0.0, -1.0, 1.0)  # turn away from the threat's side
    jink = max_accel * np.where(np.abs(side) < _JINK_BAND * evade_range, jink_sign, away)
    acc = np.where(near, jink, acc)
    acc = np.where((zone_guard > 0.0) & (line_distance(aim, pos, vel) > zone_guard), home, acc)
    acc = np.where(evasion == 0, home, acc)
    return np.clip(acc, -max_accel, max_accel)


def measurement_sigma(rng: np.ndarray, sigma0: Param, sigma_per_m: Param) -> np.ndarray:
    """Isotropic position-noise std (m) of a sensor at range ``rng``: ``σ0 + k · range``."""
    return sigma0 + sigma_per_m * rng


def line_distance(point: np.ndarray, origin: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """Positioning error of ``point`` w.r.t. a track ``origin + s·direction`` (``(B,)``).

    Distance to the track ahead of ``origin`` (``s >= 0``); behind it, the distance to ``origin``.
    """
    u, _ = unit(direction)
    rel = point - origin
    s = np.maximum(dot2(rel, u), 0.0)
    return norm2(rel - s[..., None] * u)


def to_body(v: np.ndarray, heading: np.ndarray) -> np.ndarray:
    """World vectors ``v`` (``(B, 2)``) in the frames ``(forward, left)`` of unit ``heading``."""
    return np.stack(
        [dot2(v, heading), dot2(v, left_normal(heading))],
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
    s = np.maximum(dot2(rel, u), 0.0)
    return cross, origin + s[..., None] * u - point


def zero_effort_miss(rel_pos: np.ndarray, rel_vel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Zero-effort miss (m) and closing flag of straight-line relative motion (``(B,)`` each).

    ``rel_pos = p_target - p_own``, ``rel_vel = v_target - v_own``: the miss distance if neither
    side accelerated from now on; for a receding pair it is the current range.
    """
    vv = np.maximum(dot2(rel_vel, rel_vel), _EPS)
    t_go = -dot2(rel_pos, rel_vel) / vv
    closing = t_go > 0.0
    zem = norm2(rel_pos + np.maximum(t_go, 0.0)[..., None] * rel_vel)
    return zem, closing
