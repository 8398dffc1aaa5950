"""A batched interacting-multiple-model (IMM) filter, per Cartesian axis, in closed form.

Every model is a linear filter on the same per-axis state ``[p, v, a]`` with a position
measurement (``H = [1, 0, 0]``):

* ``ca``: constant acceleration, ``F = [[1, T, T^2/2], [0, 1, T], [0, 0, 1]]``, process noise
  ``var * g g^T``, ``g = [T^2/2, T, 1]`` (``var``: variance of the acceleration change over one
  step; :mod:`hlynr.tracking.kalman`'s CA filter);
* ``cv``: constant velocity in the same state, ``F = [[1, T, 0], [0, 1, 0], [0, 0, 0]]`` (the
  acceleration is zero), process noise ``var * [[T^4/4, T^3/2, 0], [T^3/2, T^2, 0], [0, 0, 0]]``
  (``var``: acceleration variance; the CV filter's).

Both are ``F = [[1, T, c T^2/2], [0, 1, c T], [0, 0, c]]`` with ``c = 1`` (CA) or 0 (CV), so one
closed form predicts every model. A Markov chain ``Pi[i, j]`` (the probability of switching from
model ``i`` to ``j`` in one step) links the models. One IMM cycle (Blom and Bar-Shalom 1988, as
filterpy's ``IMMEstimator``):

1. mixing: ``cbar_j = sum_i Pi[i, j] mu_i``, ``w[i, j] = Pi[i, j] mu_i / cbar_j``; model ``j``
   starts from ``x0_j = sum_i w[i, j] x_i`` and ``P0_j = sum_i w[i, j] (P_i + (x_i - x0_j)(x_i -
   x0_j)^T)``;
2. each model predicts from its mixed start;
3. on a detection each model updates and ``mu_j`` is proportional to ``cbar_j`` times the
   Gaussian likelihood of its innovation; without one ``mu_j = cbar_j`` (the Markov chain
   alone; filterpy leaves ``mu`` unchanged when ``update`` is skipped);
4. the output is the mixture's mean ``sum_j mu_j x_j`` and covariance ``sum_j mu_j (P_j + (x_j
   - x)(x_j - x)^T)``.

Each axis is its own IMM (its own mode probabilities): the axes share the models, the
measurement variance and the process noise, but not the innovations, so a manoeuvre in one
plane switches only the axes it shows in. Arrays: states ``x`` (M, 3, 3, N) (model, ``p, v, a``,
axis, env), covariances ``P`` (M, 6, 3, N) (entries ``pp, pv, pa, vv, va, aa``), mode
probabilities ``mu`` (M, 3, N). Everything is element-wise, so env ``i`` gets the same numbers in
any batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

PP, PV, PA, VV, VA, AA = range(6)
"""Indices of the covariance entries in ``P[:, k]``."""


def transition_matrix(sojourn: Sequence[float], dt: float) -> np.ndarray:
    """``Pi[i, j]``: probability of switching from model ``i`` to ``j`` in one step ``dt``; model
    ``i`` stays with probability ``exp(-dt / sojourn[i])`` (mean time in it: ``sojourn[i]`` s) and
    otherwise moves to each other model with equal probability."""
    m = len(sojourn)
    stay = np.exp(-dt / np.asarray(sojourn, dtype=np.float64))
    pi = np.tile(((1.0 - stay) / (m - 1))[:, None], (1, m))
    np.fill_diagonal(pi, stay)
    return pi


def process_noise(kinds: Sequence[str], dt: float) -> np.ndarray:
    """Process-noise entries per unit variance ``(M, 6)`` (``pp, pv, pa, vv, va, aa``) of each model."""
    h = 0.5 * dt * dt
    out = np.empty((len(kinds), 6))
    for i, kind in enumerate(kinds):
        if kind == "ca":
            out[i] = [h * h, h * dt, h, dt * dt, dt, 1.0]
        elif kind == "cv":
            out[i] = [h * h, h * dt, 0.0, dt * dt, 0.0, 0.0]
        else:
            raise ValueError(f"unknown IMM model '{kind}'; known: cv, ca")
    return out


def outer_entries(d: np.ndarray) -> np.ndarray:
    """The six entries ``pp, pv, pa, vv, va, aa`` of ``d d^T`` for ``d`` (..., 3, axes, N)."""
    d0, d1, d2 = d[..., 0, :, :], d[..., 1, :, :], d[..., 2, :, :]
    return np.stack([d0 * d0, d0 * d1, d0 * d2, d1 * d1, d1 * d2, d2 * d2], axis=-3)


def mix(x: np.ndarray, P: np.ndarray, mu: np.ndarray, pi: np.ndarray
        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The mixed starting states and covariances of every model and the predicted mode
    probabilities ``cbar`` (M, 3, N)."""
    w = pi[:, :, None, None] * mu[:, None]  # (i, j, axis, N): Pi[i, j] mu_i
    cbar = np.add.reduce(w, 0)
    w = w / cbar
    x0 = np.add.reduce(w[:, :, None] * x[:, None], 0)  # (j, 3, axis, N)
    d = x[:, None] - x0[None]  # (i, j, 3, axis, N)
    P0 = np.add.reduce(w[:, :, None] * (P[:, None] + outer_entries(d)), 0)
    return x0, P0, cbar


def predict(x: np.ndarray, P: np.ndarray, c: np.ndarray, q: np.ndarray, dt: float) -> None:
    """In-place predict of every model: ``x = F x``, ``P = F P F^T + Q``; ``c`` (M,): 1 (CA) or 0
    (CV); ``q`` (M, 6, 1 or N): the process-noise entries (times the variance)."""
    cc = c[:, None, None]
    h, k = 0.5 * dt * dt * cc, dt * cc
    p, v, a = x[:, 0], x[:, 1], x[:, 2]
    p += dt * v + h * a
    v += k * a
    a *= cc
    pp, pv, pa, vv, va, aa = (P[:, i] for i in range(6))
    m00 = pp + dt * pv + h * pa  # M = F P, from the old entries
    m01 = pv + dt * vv + h * va
    m02 = pa + dt * va + h * aa
    m11 = vv + k * va
    m12 = va + k * aa
    qq = q[:, :, None]
    np.add(m00 + dt * m01 + h * m02, qq[:, PP], out=pp)
    np.add(m01 + k * m02, qq[:, PV], out=pv)
    np.add(cc * m02, qq[:, PA], out=pa)
    np.add(m11 + k * m12, qq[:, VV], out=vv)
    np.add(cc * m12, qq[:, VA], out=va)
    np.add(cc * cc * aa, qq[:, AA], out=aa)


def update(x: np.ndarray, P: np.ndarray, z: np.ndarray, r_var: np.ndarray, mask: np.ndarray
           ) -> np.ndarray:
    """In-place update of every model with the position measurement ``z`` (3, N) of variance
    ``r_var`` (N,) where ``mask`` (N,); returns the log-likelihoods of the innovations (M, 3, N)
    without the common ``-log(2 pi) / 2``."""
    pp, pv, pa = P[:, PP], P[:, PV], P[:, PA]
    s = pp + r_var
    y = z - x[:, 0]
    loglik = -0.5 * (y * y / s + np.log(s))
    g = np.where(mask, 1.0 / s, 0.0)
    k0, k1, k2 = g * pp, g * pv, g * pa
    x[:, 0] += k0 * y
    x[:, 1] += k1 * y
    x[:, 2] += k2 * y
    # entries from the old pp, pv, pa first
    P[:, VV] -= k1 * pv
    P[:, VA] -= k1 * pa
    P[:, AA] -= k2 * pa
    P[:, PV] -= k0 * pv
    P[:, PA] -= k0 * pa
    P[:, PP] -= k0 * pp
    return loglik


def mode_probabilities(cbar: np.ndarray, loglik: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Posterior mode probabilities (M, 3, N): ``cbar`` times the likelihoods, normalised, where
    ``mask``; ``cbar`` elsewhere."""
    lw = np.log(cbar) + loglik
    w = np.exp(lw - np.maximum.reduce(lw, 0))
    post = w / np.add.reduce(w, 0)
    return np.where(mask, post, cbar)


def combine(x: np.ndarray, P: np.ndarray, mu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mixture's mean (3, 3, N) (``p, v, a``, axis, env) and covariance entries (6, 3, N)."""
    mean = np.add.reduce(mu[:, None] * x, 0)
    cov = np.add.reduce(mu[:, None] * (P + outer_entries(x - mean[None])), 0)
    return mean, cov
