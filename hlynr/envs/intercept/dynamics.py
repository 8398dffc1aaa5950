"""Dynamics of one control step: threat manoeuvres and the physics sub-steps, in place on the state.

Works on the named views of the state matrix (:class:`~hlynr.envs.intercept.layout.StateViews`);
the force models are the pure functions of :mod:`hlynr.envs.intercept.physics`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hlynr.envs.intercept import rng
from hlynr.envs.intercept.layout import StateViews
from hlynr.envs.intercept.params import Maneuver
from hlynr.envs.intercept.physics import (
    autopilot_step,
    closest_approach,
    fuel_flow,
    interceptor_accel,
    sin32,
    target_accel,
    unit,
)

WEAVE, STEP, RANDOM = int(Maneuver.WEAVE), int(Maneuver.STEP), int(Maneuver.RANDOM)
"""Plain-int codes for array comparisons (NumPy compares an IntEnum member several times slower)."""


@dataclass
class ManeuverMix:
    """Which manoeuvre models occur among the envs (lets the step skip selections)."""

    all_weave: bool = False
    """Every env weaves (e.g. ``standard``)."""
    has_weave: bool = False
    has_other: bool = False
    """Some env flies a step or random-switching manoeuvre."""

    @classmethod
    def of(cls, code: np.ndarray) -> ManeuverMix:
        """The mix of the manoeuvre codes ``code`` (n,)."""
        weave = code == WEAVE
        all_weave = bool(weave.all())
        return cls(all_weave, all_weave or bool(weave.any()),
                   not all_weave and bool((code >= STEP).any()))


def maneuver_magnitude(sv: StateViews, code: np.ndarray, level: np.ndarray, idx: np.ndarray | slice,
                       t: np.ndarray, mix: ManeuverMix) -> np.ndarray:
    """Signed threat manoeuvre acceleration (m/s^2) of envs ``idx`` at times ``t``."""
    v = sv.views
    code = code[idx]
    level = level[idx]
    if mix.all_weave:  # no selection needed
        x = v["man_omega"][idx] * t
        x += v["man_phase"][idx]
        return level * np.sin(x.astype(np.float32))  # = level * sin32(x) (exact promotion)
    out = np.zeros(code.shape)
    if mix.has_weave:
        out = np.where(code == WEAVE, sin32(v["man_omega"][idx] * t + v["man_phase"][idx]), out)
    if mix.has_other:
        sign = v["man_sign"][idx]
        out = np.where(code == STEP, np.where(t >= v["man_tstep"][idx], sign, 0.0), out)
        out = np.where(code == RANDOM, sign, out)
    return level * out


def flip_random_switches(sv: StateViews, code: np.ndarray, ep_key: np.ndarray, k: np.ndarray,
                         flip_p: np.ndarray) -> None:
    """Random-switching threats flip sign at Poisson events (one draw per control step)."""
    uf = rng.uniforms(ep_key, rng.STREAM_TARGET, k, 1)[0]
    flip = (code == RANDOM) & (uf < flip_p)
    sign = sv.views["man_sign"]
    np.negative(sign, out=sign, where=flip)


def integrate(sv: StateViews, P: dict[str, np.ndarray], D: dict[str, np.ndarray], a_cmd: np.ndarray,
              code: np.ndarray, mix: ManeuverMix, substeps: int, dtp: float, dt: float
              ) -> tuple[np.ndarray, np.ndarray]:
    """The ``substeps`` physics sub-steps of one control step, in place on the state (time
    advanced too), with the closest-approach bookkeeping; returns which envs came within the
    kill radius, and the relative position ``tp - mp`` at the end."""
    alpha = D["alpha"]
    thrust, isp, cd_area, dry = P["thrust"], P["isp"], P["cd_area"], P["dry_mass"]
    isp_g0 = D["isp_g0"]
    kill = P["kill_radius"]
    level = D["level"]
    hit = np.zeros(a_cmd.shape[1], dtype=bool)
    pos, vel, acc = sv.pos, sv.vel, sv.acc  # (2, 3, n): threat, interceptor
    v = sv.views
    tp, mp, tv, mv = v["tp"], v["mp"], v["tv"], v["mv"]
    acc_t, acc_m = sv.acc_rows
    ma, fuel, t, min_dist, t_cpa = v["ma"], v["fuel"], v["t"], v["min_dist"], v["t_cpa"]
    cos_psi, sin_psi = v["man_cos"], v["man_sin"]
    every = slice(None)
    r1 = tp - mp
    for j in range(substeps):
        t_sub = t + j * dtp
        # every env has fuel (min > 0, False with a NaN): skip the masking (same numbers)
        powered = None if np.minimum.reduce(fuel) > 0.0 else fuel > 0.0
        v_hat, speed = unit(mv)
        autopilot_step(ma, a_cmd, alpha, v_hat, powered, out=ma)
        mass = dry + fuel
        interceptor_accel(mv, v_hat, speed, ma, mass, powered, thrust, cd_area, mp[2], out=acc_m)
        np.maximum(fuel - fuel_flow(thrust, mass, ma, isp, powered, isp_g0) * dtp, 0.0, out=fuel)
        target_accel(tv, cos_psi, sin_psi, maneuver_magnitude(sv, code, level, every, t_sub, mix), out=acc_t)
        r0 = r1  # relative position at the sub-step start
        acc *= dtp
        vel += acc  # semi-implicit Euler: velocities first, then positions with the new ones
        pos += vel * dtp
        r1 = tp - mp
        dmin, s = closest_approach(r0, r1)
        better = dmin < min_dist
        np.copyto(min_dist, dmin, where=better)
        np.copyto(t_cpa, t_sub + s * dtp, where=better)
        hit |= dmin <= kill
    t += dt
    return hit, r1
