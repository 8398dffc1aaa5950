"""The Intercept observation layout (the single source of truth) and its builder.

The observation is computed from the interceptor's own state (known exactly) and a *target
estimate*: the radar/Kalman track in ``radar`` mode, the true threat state in ``truth`` mode.
Every vector is expressed in the **action frame**, built from the interceptor's velocity and
the (estimated) line of sight:

* ``e_v``: unit velocity of the interceptor;
* ``e_y``: the estimated LOS direction's component perpendicular to ``e_v``, normalised (the
  side the target is on); when the LOS is within 1e-6 rad of the velocity it falls back to
  the "up" direction perpendicular to ``e_v``;
* ``e_z = e_v x e_y``.

The action ``u`` in [-1, 1]^2 commands the lateral acceleration ``a_max (u_0 e_y + u_1 e_z)``
(its norm clipped to ``a_max``) in the frame of the observation the policy saw.

``OBS_FIELDS`` lists (name, size, meaning); ``OBS_SLICES[name]`` indexes a batch ``obs[:, sl]``.
The wrapper, the guidance baselines and the docs all use these names.
"""

from __future__ import annotations

import numpy as np

from hlynr.envs.intercept.params import G0
from hlynr.envs.intercept.physics import cross, dot, norm, perpendicular_basis, unit

OBS_FIELDS: tuple[tuple[str, int, str], ...] = (
    # own state
    ("speed", 1, "own speed / 1000 m/s"),
    ("altitude", 1, "own altitude / 5000 m"),
    ("climb", 1, "e_v . up (sine of flight-path angle)"),
    ("fuel", 1, "fuel remaining / initial fuel"),
    ("accel", 2, "achieved lateral acceleration along e_y, e_z / a_max"),
    ("gravity", 2, "g * up along e_y, e_z / a_max (command that cancels gravity)"),
    ("accel_limit", 1, "lateral acceleration limit a_max / 1000 m/s^2"),
    # track (estimated in radar mode)
    ("range", 1, "range / 10 km"),
    ("closing_speed", 1, "closing speed Vc = -(r . v)/|r|, / 1000 m/s"),
    ("los", 2, "LOS unit vector along e_v, e_y (cos and sin of the lead angle)"),
    ("los_rate", 3, "LOS rate vector (r x v)/|r|^2 along e_v, e_y, e_z, x 10 (rad/s)"),
    ("pn_accel", 2, "Vc (Omega x LOS) along e_y, e_z / a_max (PN command with N = 1)"),
    ("zem_accel", 2, "3 ZEM / t_go^2 along e_y, e_z / a_max (ZEM with gravity)"),
    ("time_to_go", 1, "|r| / max(Vc, 10 m/s), / 10 s"),
    ("target_accel", 3, "target acceleration estimate along e_v, e_y, e_z / a_max (0 for CV)"),
    # track quality
    ("pos_std", 1, "log10(1 + position 1-sigma per axis in m) / 3"),
    ("vel_std", 1, "log10(1 + velocity 1-sigma per axis in m/s) / 3"),
    ("since_detection", 1, "time since the last radar update used (s)"),
    ("detected", 1, "1 if this step's filter update used a detection"),
)

OBS_SLICES: dict[str, slice] = {}
_i = 0
for _name, _size, _ in OBS_FIELDS:
    OBS_SLICES[_name] = slice(_i, _i + _size)
    _i += _size
OBS_DIM: int = _i
"""Length of the observation vector."""
_START: dict[str, int] = {name: sl.start for name, sl in OBS_SLICES.items()}
OBS_LIMIT = 10.0
"""Every observation entry is clipped to [-OBS_LIMIT, OBS_LIMIT]."""

_UP = np.array([0.0, 0.0, 1.0])


def action_frame(own_v: np.ndarray, rel: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                              np.ndarray, np.ndarray]:
    """``(e_v, e_y, e_z, speed, lam)`` from own velocity and the (estimated) relative position."""
    lam, _ = unit(rel)
    return (*_frame(own_v, lam), lam)


def _frame(own_v: np.ndarray, lam: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(e_v, e_y, e_z, speed)`` from own velocity and the unit line of sight ``lam``."""
    e_v, speed = unit(own_v)
    c = dot(lam, e_v)
    perp = lam - c * e_v
    s = norm(perp)
    ok = s > 1e-6
    if ok.all():
        e_y = perp / s
    else:
        _, fallback = perpendicular_basis(e_v)
        e_y = np.where(ok, perp / np.where(ok, s, 1.0), fallback)
    return e_v, e_y, cross(e_v, e_y), speed


def build_observation(
    own_p: np.ndarray, own_v: np.ndarray, a_ach: np.ndarray, fuel_frac: np.ndarray,
    a_max: np.ndarray, tgt_p: np.ndarray, tgt_v: np.ndarray, tgt_a: np.ndarray,
    pos_std: np.ndarray, vel_std: np.ndarray, since_det: np.ndarray, detected: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Observations ``(n, OBS_DIM)`` float32 and the action frame ``(e_y, e_z)`` (3, n) each.

    Vectors are (3, n), scalars (n,); ``tgt_*`` is the target estimate (or the truth). All
    frame projections are done in one broadcast product (few NumPy calls for small batches).
    """
    r = tgt_p - own_p
    vrel = tgt_v - own_v
    lam, rng = unit(r)
    e_v, e_y, e_z, speed = _frame(own_v, lam)
    inv_r = 1.0 / np.maximum(rng, 1e-3)
    vc = -dot(r, vrel) * inv_r
    omega = cross(r, vrel) * (inv_r * inv_r)
    pn = vc * cross(omega, lam)
    tgo = np.minimum(np.maximum(rng / np.maximum(vc, 10.0), 0.05), 100.0)
    zem = r + vrel * tgo
    zem[2] += 0.5 * G0 * tgo * tgo
    inv_a = 1.0 / a_max
    # rows: vectors [a_ach, lam, omega, pn, zem, tgt_a]; columns: axes [e_v, e_y, e_z]
    proj = (np.stack([a_ach, lam, omega, pn, zem, tgt_a])[:, None] * np.stack([e_v, e_y, e_z])[None]).sum(2)
    zem_gain = 3.0 * inv_a / (tgo * tgo)

    out = np.empty((OBS_DIM, r.shape[1]))
    o = _START
    out[o["speed"]] = speed * 1e-3
    out[o["altitude"]] = own_p[2] * 2e-4
    out[o["climb"]] = e_v[2]
    out[o["fuel"]] = fuel_frac
    out[o["accel"]:o["accel"] + 2] = proj[0, 1:] * inv_a
    out[o["gravity"]] = G0 * e_y[2] * inv_a
    out[o["gravity"] + 1] = G0 * e_z[2] * inv_a
    out[o["accel_limit"]] = a_max * 1e-3
    out[o["range"]] = rng * 1e-4
    out[o["closing_speed"]] = vc * 1e-3
    out[o["los"]:o["los"] + 2] = proj[1, :2]
    out[o["los_rate"]:o["los_rate"] + 3] = proj[2] * 10.0
    out[o["pn_accel"]:o["pn_accel"] + 2] = proj[3, 1:] * inv_a
    out[o["zem_accel"]:o["zem_accel"] + 2] = proj[4, 1:] * zem_gain
    out[o["time_to_go"]] = tgo * 0.1
    out[o["target_accel"]:o["target_accel"] + 3] = proj[5] * inv_a
    out[o["pos_std"]] = np.log10(1.0 + pos_std) / 3.0
    out[o["vel_std"]] = np.log10(1.0 + vel_std) / 3.0
    out[o["since_detection"]] = since_det
    out[o["detected"]] = detected
    np.clip(out, -OBS_LIMIT, OBS_LIMIT, out=out)
    return out.T.astype(np.float32), e_y, e_z


assert OBS_DIM == 28, OBS_DIM
