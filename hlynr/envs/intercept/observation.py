"""The Intercept observation layout (the single source of truth) and its builder.

The observation is computed from the interceptor's own state (known exactly) and a *target
estimate*: the radar/Kalman track with ``sensor.mode: radar`` (the default), the true threat
state with ``sensor.mode: truth``.
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
The guidance laws, the baselines and the docs all use these names.
"""

from __future__ import annotations

import numpy as np

from hlynr.envs.fields import field_slices
from hlynr.envs.intercept.params import G0
from hlynr.envs.intercept.physics import cross_wrapped, dot, norm, perpendicular_basis

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

OBS_SLICES, OBS_DIM = field_slices(OBS_FIELDS)
"""The slice of every observation field, and the length of the observation vector."""
_START: dict[str, int] = {name: sl.start for name, sl in OBS_SLICES.items()}
OBS_LIMIT = 10.0
"""Every observation entry is clipped to [-OBS_LIMIT, OBS_LIMIT]."""

INPUT_ROWS: dict[str, slice | int] = {
    "tgt_p": slice(0, 3), "own_p": slice(3, 6), "tgt_v": slice(6, 9), "own_v": slice(9, 12),
    "own_a": slice(12, 15), "fuel_frac": 15, "a_max": 16, "tgt_a": slice(17, 20), "pos_std": 20,
    "vel_std": 21, "since_det": 22, "detected": 23,
}
"""Rows of the observation-input matrix (one column per env) taken by :func:`observe_inputs`: the
arguments of :func:`build_observation` (``own_a`` is ``a_ach``). The first 15 rows are in the
order of the engine's state matrix, so they are copied in one call."""
INPUT_SCALARS: dict[str, int] = {k: r for k, r in INPUT_ROWS.items() if isinstance(r, int)}
"""The single-row entries of :data:`INPUT_ROWS` (row indices, for row arithmetic)."""
N_INPUTS = 24
"""Number of rows of the observation-input matrix."""


def _frame(own_v: np.ndarray, lam: np.ndarray, out: np.ndarray | None = None
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(e_v, e_y, e_z, speed)`` from own velocity and the unit line of sight ``lam``; the three
    axes are written into ``out`` (3, 5, n) if given: rows e_v, e_y, e_z, each wrapped (rows
    x, y, z, x, y; e_z is not wrapped), see :func:`~hlynr.envs.intercept.physics.cross_wrapped`."""
    if out is None:
        out = np.empty((3, 5, own_v.shape[1]))
    e_v, e_y, e_z = out[0, :3], out[1, :3], out[2, :3]
    speed = norm(own_v)
    np.divide(own_v, np.maximum(speed, 1e-12), out=e_v)  # = unit(own_v)
    c = dot(lam, e_v)
    perp = lam - c * e_v
    s = norm(perp)
    if np.minimum.reduce(s) > 1e-6:  # every LOS off the velocity (False with a NaN)
        np.divide(perp, s, out=e_y)
    else:
        ok = s > 1e-6
        _, fallback = perpendicular_basis(e_v)
        e_y[...] = np.where(ok, perp / np.where(ok, s, 1.0), fallback)
    out[0:2, 3:] = out[0:2, :2]  # wrap e_v, e_y
    cross_wrapped(out[0], out[1], out=e_z)
    return e_v, e_y, e_z, speed


def build_observation(
    own_p: np.ndarray, own_v: np.ndarray, a_ach: np.ndarray, fuel_frac: np.ndarray,
    a_max: np.ndarray, tgt_p: np.ndarray, tgt_v: np.ndarray, tgt_a: np.ndarray,
    pos_std: np.ndarray, vel_std: np.ndarray, since_det: np.ndarray, detected: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Observations ``(n, OBS_DIM)`` float32 and the action frame ``(e_y, e_z)`` (3, n) each.

    Vectors are (3, n), scalars (n,); ``tgt_*`` is the target estimate (or the truth). All
    frame projections are done in one broadcast product (few NumPy calls for small batches).
    """
    obs, frame = _build(own_p, own_v, a_ach, fuel_frac, a_max, tgt_p, tgt_v, tgt_a,
                        np.stack([pos_std, vel_std]), np.stack([since_det, detected]))
    return obs, frame[1, :3], frame[2, :3]


def _build(own_p: np.ndarray, own_v: np.ndarray, a_ach: np.ndarray, fuel_frac: np.ndarray,
           a_max: np.ndarray, tgt_p: np.ndarray, tgt_v: np.ndarray, tgt_a: np.ndarray,
           std: np.ndarray, flags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`build_observation` with ``std = [pos_std, vel_std]`` and ``flags = [since_det,
    detected]`` as (2, n) blocks (they fill adjacent observation rows); returns the observations
    and the wrapped frame array (3, 5, n) of :func:`_frame` (rows e_v, e_y, e_z)."""
    n = own_p.shape[1]
    # vectors to project, each stored wrapped (rows x, y, z, x, y; see ``cross_wrapped``):
    # [a_ach, lam, omega, pn, zem, tgt_a]
    vec = np.empty((6, 5, n))
    lam, omega, pn, zem = vec[1, :3], vec[2, :3], vec[3, :3], vec[4, :3]
    vec[0, :3] = a_ach
    vec[5, :3] = tgt_a
    rel = np.empty((2, 5, n))  # r, vrel (wrapped)
    r, vrel = rel[0, :3], rel[1, :3]
    np.subtract(tgt_p, own_p, out=r)
    np.subtract(tgt_v, own_v, out=vrel)
    rel[:, 3:] = rel[:, :2]
    rng = norm(r)
    np.divide(r, np.maximum(rng, 1e-12), out=lam)  # = unit(r)
    frame = np.empty((3, 5, n))
    e_v, e_y, e_z, speed = _frame(own_v, lam, frame)
    inv_r = 1.0 / np.maximum(rng, 1e-3)
    vc = -dot(r, vrel) * inv_r
    cross_wrapped(rel[0], rel[1], out=omega)
    omega *= inv_r * inv_r
    vec[1:3, 3:] = vec[1:3, :2]  # wrap lam, omega
    cross_wrapped(vec[2], vec[1], out=pn)
    pn *= vc
    tgo = np.minimum(np.maximum(rng / np.maximum(vc, 10.0), 0.05), 100.0)
    np.add(r, vrel * tgo, out=zem)
    zem[2] += 0.5 * G0 * tgo * tgo
    inv_a = 1.0 / a_max
    # rows: vectors [a_ach, lam, omega, pn, zem, tgt_a]; columns: axes [e_v, e_y, e_z]
    proj = (vec[:, None, :3] * frame[None, :, :3]).sum(2)
    zem_gain = 3.0 * inv_a / (tgo * tgo)

    out = np.empty((OBS_DIM, n))
    o = _START

    def row(name: str, size: int = 1) -> np.ndarray:
        """The output rows of field ``name`` (results are written into them directly)."""
        return out[o[name]:o[name] + size]

    np.multiply(speed, 1e-3, out=row("speed")[0])
    np.multiply(own_p[2], 2e-4, out=row("altitude")[0])
    out[o["climb"]] = e_v[2]
    out[o["fuel"]] = fuel_frac
    np.multiply(proj[0, 1:], inv_a, out=row("accel", 2))
    np.multiply(G0 * frame[1:3, 2], inv_a, out=row("gravity", 2))  # g e_y[2], g e_z[2]
    np.multiply(a_max, 1e-3, out=row("accel_limit")[0])
    np.multiply(rng, 1e-4, out=row("range")[0])
    np.multiply(vc, 1e-3, out=row("closing_speed")[0])
    row("los", 2)[...] = proj[1, :2]
    np.multiply(proj[2], 10.0, out=row("los_rate", 3))
    np.multiply(proj[3, 1:], inv_a, out=row("pn_accel", 2))
    np.multiply(proj[4, 1:], zem_gain, out=row("zem_accel", 2))
    np.multiply(tgo, 0.1, out=row("time_to_go")[0])
    np.multiply(proj[5], inv_a, out=row("target_accel", 3))
    np.divide(np.log10(1.0 + std), 3.0, out=out[o["pos_std"]:o["pos_std"] + 2])  # pos_std, vel_std
    out[o["since_detection"]:o["since_detection"] + 2] = flags  # since_detection, detected
    # clipping after the cast gives the same numbers (rounding is monotone, +-10 exact in float32)
    obs = out.astype(np.float32)
    np.clip(obs, -OBS_LIMIT, OBS_LIMIT, out=obs)
    return obs.T, frame


def observe_inputs(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`build_observation` of the input matrix ``x`` (N_INPUTS, n) (rows ``INPUT_ROWS``):
    the observations ``(n, OBS_DIM)`` and the action frame ``(e_y, e_z)`` as one (2, 3, n) array."""
    R, S = INPUT_ROWS, INPUT_SCALARS
    obs, frame = _build(
        x[R["own_p"]], x[R["own_v"]], x[R["own_a"]], x[R["fuel_frac"]], x[R["a_max"]], x[R["tgt_p"]],
        x[R["tgt_v"]], x[R["tgt_a"]], x[S["pos_std"]:S["pos_std"] + 2], x[S["since_det"]:S["since_det"] + 2],
    )
    return obs, frame[1:3, :3]


assert OBS_DIM == 28, OBS_DIM
# _build and observe_inputs write/read these pairs as adjacent rows
assert _START["vel_std"] == _START["pos_std"] + 1 and _START["detected"] == _START["since_detection"] + 1
assert INPUT_SCALARS["vel_std"] == INPUT_SCALARS["pos_std"] + 1
assert INPUT_SCALARS["detected"] == INPUT_SCALARS["since_det"] + 1
