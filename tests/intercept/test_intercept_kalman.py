"""Kalman filters against filterpy (test-only oracle) and NEES consistency."""

from __future__ import annotations

import numpy as np
import pytest
from filterpy.common import Q_discrete_white_noise
from filterpy.kalman import KalmanFilter
from scipy.stats import chi2

from hlynr.tracking.kalman import ca_init, ca_predict, ca_update, cv_init, cv_predict, cv_update


def _oracle(dim: int, dt: float, var: float, x0: np.ndarray, p0: np.ndarray) -> KalmanFilter:
    kf = KalmanFilter(dim_x=dim, dim_z=1)
    if dim == 2:
        kf.F = np.array([[1.0, dt], [0.0, 1.0]])
    else:
        kf.F = np.array([[1.0, dt, 0.5 * dt * dt], [0.0, 1.0, dt], [0.0, 0.0, 1.0]])
    kf.H = np.zeros((1, dim))
    kf.H[0, 0] = 1.0
    kf.Q = Q_discrete_white_noise(dim=dim, dt=dt, var=var)
    kf.x = x0.reshape(dim, 1).copy()
    kf.P = p0.copy()
    return kf


@pytest.mark.parametrize("kind", ["cv", "ca"])
def test_filter_equals_filterpy(kind: str) -> None:
    rng = np.random.default_rng(0)
    n, steps, dt = 4, 150, 0.05
    dim = 2 if kind == "cv" else 3
    q = rng.uniform(1.0, 50.0, n)
    p = rng.normal(0, 1000, (3, n))
    v = rng.normal(0, 300, (3, n))
    a = rng.normal(0, 20, (3, n))
    pv, vv, av = rng.uniform(10, 500, n), rng.uniform(100, 5000, n), rng.uniform(10, 400, n)
    track = cv_init(p, v, pv, vv) if kind == "cv" else ca_init(p, v, a, pv, vv, av)
    oracles = [[_oracle(dim, dt, q[i], np.array([p[ax, i], v[ax, i], a[ax, i]][:dim]),
                        np.diag([pv[i], vv[i], av[i]][:dim])) for i in range(n)] for ax in range(3)]
    for _ in range(steps):
        z = rng.normal(0, 1000, (3, n))
        r = rng.uniform(1.0, 2500.0, n)
        mask = rng.random(n) < 0.7
        if kind == "cv":
            cv_predict(track, dt, q)
            cv_update(track, z, r, mask)
        else:
            ca_predict(track, dt, q)
            ca_update(track, z, r, mask)
        for ax in range(3):
            for i in range(n):
                kf = oracles[ax][i]
                kf.predict()
                if mask[i]:
                    kf.update(np.array([[z[ax, i]]]), R=np.array([[r[i]]]))
    for ax in range(3):
        for i in range(n):
            kf = oracles[ax][i]
            est = [track.p[ax, i], track.v[ax, i]] + ([track.a[ax, i]] if kind == "ca" else [])
            np.testing.assert_allclose(est, kf.x.ravel(), rtol=1e-9, atol=1e-9)
            cov = np.array([[track.pp[i], track.pv[i]], [track.pv[i], track.vv[i]]]) if kind == "cv" else \
                np.array([[track.pp[i], track.pv[i], track.pa[i]], [track.pv[i], track.vv[i], track.va[i]],
                          [track.pa[i], track.va[i], track.aa[i]]])
            np.testing.assert_allclose(cov, kf.P, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("kind", ["cv", "ca"])
def test_nees_within_chi_square_bounds(kind: str) -> None:
    """Matched model: the average NEES over many runs stays inside its chi-square interval."""
    rng = np.random.default_rng(1)
    n, steps, dt, var, r = 300, 400, 0.05, 25.0, 100.0
    dim = 2 if kind == "cv" else 3
    g = np.array([0.5 * dt * dt, dt]) if kind == "cv" else np.array([0.5 * dt * dt, dt, 1.0])
    f = np.array([[1, dt], [0, 1]]) if kind == "cv" else np.array([[1, dt, 0.5 * dt * dt], [0, 1, dt], [0, 0, 1]])
    p0 = np.array([100.0, 400.0, 25.0][:dim])
    x_true = rng.normal(0, 1, (3, n, dim)) * np.sqrt(p0)  # axis, env, state; estimate starts at 0
    zero = np.zeros((3, n))
    track = cv_init(zero, zero, p0[0], p0[1]) if kind == "cv" else ca_init(zero, zero, zero, *p0)
    mean_nees = []
    for _ in range(steps):
        x_true = x_true @ f.T + np.sqrt(var) * rng.normal(0, 1, (3, n, 1)) * g
        z = x_true[..., 0] + np.sqrt(r) * rng.normal(0, 1, (3, n))
        mask = np.ones(n, dtype=bool)
        if kind == "cv":
            cv_predict(track, dt, var)
            cv_update(track, z, np.full(n, r), mask)
            est = np.stack([track.p, track.v], axis=-1)
            cov = np.array([[track.pp, track.pv], [track.pv, track.vv]])  # (d, d, n)
        else:
            ca_predict(track, dt, var)
            ca_update(track, z, np.full(n, r), mask)
            est = np.stack([track.p, track.v, track.a], axis=-1)
            cov = np.array([[track.pp, track.pv, track.pa], [track.pv, track.vv, track.va],
                            [track.pa, track.va, track.aa]])
        err = x_true - est  # (3, n, d)
        inv = np.linalg.inv(np.moveaxis(cov, -1, 0))  # (n, d, d)
        nees = np.einsum("ani,nij,anj->n", err, inv, err)  # summed over the 3 axes: 3*dim dof
        mean_nees.append(nees.mean())
    dof = 3 * dim
    lo, hi = chi2.ppf(0.025, dof * n) / n, chi2.ppf(0.975, dof * n) / n
    inside = np.mean((np.array(mean_nees) > lo) & (np.array(mean_nees) < hi))
    assert inside > 0.9, (inside, lo, hi, np.mean(mean_nees))
    assert abs(np.mean(mean_nees[50:]) - dof) < 0.1 * dof
