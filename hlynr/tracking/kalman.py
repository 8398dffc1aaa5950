"""Batched per-axis Kalman filters in closed form: constant velocity (CV) and constant acceleration (CA).

Each Cartesian axis is an independent linear filter with the same model, the same process noise
and the same measurement variance, so the covariance is identical for the three axes and stored
once per environment. States have shape ``(3, N)`` (axis, env); covariance entries have shape
``(N,)``. Process noise is the discrete white-noise model (filterpy's ``Q_discrete_white_noise``):

* CV ``[p, v]``: ``Q = var * [[T^4/4, T^3/2], [T^3/2, T^2]]`` (``var``: acceleration variance);
* CA ``[p, v, a]``: ``Q = var * g g^T`` with ``g = [T^2/2, T, 1]`` (``var``: variance of the
  acceleration change over one step).

Both filters predict every step and update only where a detection arrived (``mask``); the update
is the standard ``K = P H^T / S`` form (equal to filterpy's Joseph form in exact arithmetic).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class CVTrack:
    """CV filter state: position ``p`` and velocity ``v`` (3, N); covariance ``pp, pv, vv`` (N,)."""

    p: np.ndarray
    v: np.ndarray
    pp: np.ndarray
    pv: np.ndarray
    vv: np.ndarray


@dataclass
class CATrack:
    """CA filter state: ``p, v, a`` (3, N) and the six covariance entries (N,)."""

    p: np.ndarray
    v: np.ndarray
    a: np.ndarray
    pp: np.ndarray
    pv: np.ndarray
    pa: np.ndarray
    vv: np.ndarray
    va: np.ndarray
    aa: np.ndarray


def cv_predict(t: CVTrack, dt: float, q_var: np.ndarray | float) -> None:
    """In-place CV predict: ``x = F x``, ``P = F P F^T + Q``."""
    t.p += dt * t.v
    pp, pv, vv = t.pp, t.pv, t.vv
    t.pp = pp + 2.0 * dt * pv + dt * dt * vv + q_var * (0.25 * dt**4)
    t.pv = pv + dt * vv + q_var * (0.5 * dt**3)
    t.vv = vv + q_var * (dt * dt)


def cv_update(t: CVTrack, z: np.ndarray, r_var: np.ndarray, mask: np.ndarray) -> None:
    """In-place CV update with position measurement ``z`` (3, N), variance ``r_var`` (N,), where ``mask``."""
    s = t.pp + r_var
    k0 = np.where(mask, t.pp / s, 0.0)
    k1 = np.where(mask, t.pv / s, 0.0)
    y = z - t.p
    t.p += k0 * y
    t.v += k1 * y
    pp, pv, vv = t.pp, t.pv, t.vv
    t.pp = pp - k0 * pp
    t.pv = pv - k0 * pv
    t.vv = vv - k1 * pv


def ca_predict(t: CATrack, dt: float, q_var: np.ndarray | float) -> None:
    """In-place CA predict: ``x = F x``, ``P = F P F^T + Q`` (closed form of the 3x3 product)."""
    h = 0.5 * dt * dt
    t.p += dt * t.v + h * t.a
    t.v += dt * t.a
    pp, pv, pa, vv, va, aa = t.pp, t.pv, t.pa, t.vv, t.va, t.aa
    # M = F P (rows 0, 1; row 2 = P row 2)
    m00 = pp + dt * pv + h * pa
    m01 = pv + dt * vv + h * va
    m02 = pa + dt * va + h * aa
    m11 = vv + dt * va
    m12 = va + dt * aa
    g0, g1 = h, dt
    t.pp = m00 + dt * m01 + h * m02 + q_var * (g0 * g0)
    t.pv = m01 + dt * m02 + q_var * (g0 * g1)
    t.pa = m02 + q_var * g0
    t.vv = m11 + dt * m12 + q_var * (g1 * g1)
    t.va = m12 + q_var * g1
    t.aa = aa + q_var


def ca_update(t: CATrack, z: np.ndarray, r_var: np.ndarray, mask: np.ndarray) -> None:
    """In-place CA update with position measurement ``z`` (3, N), variance ``r_var`` (N,), where ``mask``."""
    s = t.pp + r_var
    k0 = np.where(mask, t.pp / s, 0.0)
    k1 = np.where(mask, t.pv / s, 0.0)
    k2 = np.where(mask, t.pa / s, 0.0)
    y = z - t.p
    t.p += k0 * y
    t.v += k1 * y
    t.a += k2 * y
    pp, pv, pa, vv, va, aa = t.pp, t.pv, t.pa, t.vv, t.va, t.aa
    t.pp = pp - k0 * pp
    t.pv = pv - k0 * pv
    t.pa = pa - k0 * pa
    t.vv = vv - k1 * pv
    t.va = va - k1 * pa
    t.aa = aa - k2 * pa


def cv_init(p: np.ndarray, v: np.ndarray, p_var: np.ndarray, v_var: np.ndarray) -> CVTrack:
    """A CV track at ``p, v`` (3, N) with diagonal covariance ``p_var, v_var`` (N,)."""
    n = p.shape[1]
    return CVTrack(p.copy(), v.copy(), np.array(p_var, float) * np.ones(n), np.zeros(n),
                   np.array(v_var, float) * np.ones(n))


def ca_init(p: np.ndarray, v: np.ndarray, a: np.ndarray, p_var: np.ndarray, v_var: np.ndarray,
            a_var: np.ndarray) -> CATrack:
    """A CA track at ``p, v, a`` (3, N) with diagonal covariance (N,)."""
    n = p.shape[1]
    z = np.zeros(n)
    return CATrack(p.copy(), v.copy(), a.copy(), np.array(p_var, float) * np.ones(n), z.copy(),
                   z.copy(), np.array(v_var, float) * np.ones(n), z.copy(),
                   np.array(a_var, float) * np.ones(n))
