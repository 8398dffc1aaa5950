"""The IMM track: against filterpy's IMMEstimator (test-only oracle), NEES consistency, and in the env."""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pytest
from filterpy.kalman import IMMEstimator, KalmanFilter
from scipy.stats import chi2

from hlynr.envs.intercept import BatchedInterceptVecEnv, InterceptCore, InterceptEnv, InterceptParams
from hlynr.tracking import imm
from hlynr.tracking.kalman import ca_init, ca_predict, ca_update
from hlynr.tracking.tracker import IMMTracker


def _model_filter(kind: str, var: float, dt: float, x0: np.ndarray, p0: np.ndarray) -> KalmanFilter:
    c = 1.0 if kind == "ca" else 0.0
    kf = KalmanFilter(dim_x=3, dim_z=1)
    kf.F = np.array([[1.0, dt, c * 0.5 * dt * dt], [0.0, 1.0, c * dt], [0.0, 0.0, c]])
    kf.H = np.array([[1.0, 0.0, 0.0]])
    g = np.array([0.5 * dt * dt, dt, c])
    kf.Q = var * np.outer(g, g)
    kf.x = x0.reshape(3, 1).copy()
    kf.P = p0.copy()
    return kf


@pytest.mark.parametrize("models", [
    [("cv", 3.0, 2.0), ("ca", 60.0, 1.0)],
    [("ca", 20.0, 2.0), ("ca", None, 0.5)],  # noise from the per-env q_var
    [("cv", 5.0, 3.0), ("ca", 30.0, 1.0), ("ca", None, 0.3)],
])
def test_imm_equals_filterpy(models: list[tuple[str, float | None, float]]) -> None:
    """Every axis of every env is filterpy's IMMEstimator on that axis: model states and
    covariances, mode probabilities and the mixture. A step without a detection is filterpy's
    predict followed by ``mu = cbar`` (the Markov chain alone)."""
    rng = np.random.default_rng(0)
    n, steps, dt = 4, 150, 0.05
    q = rng.uniform(10.0, 100.0, n) ** 2
    tr = IMMTracker(n, dt, models)
    p, v = rng.normal(0, 1000, (3, n)), rng.normal(0, 300, (3, n))
    pv, vv, av = rng.uniform(10, 500, n), rng.uniform(100, 5000, n), rng.uniform(10, 400, n)
    tr.init_idx(np.arange(n), tr.init_block(p, v, pv, vv, av))
    m = len(models)
    oracles = []
    for ax in range(3):
        row = []
        for i in range(n):
            x0, p0 = np.array([p[ax, i], v[ax, i], 0.0]), np.diag([pv[i], vv[i], av[i]])
            filters = [_model_filter(kind, q[i] if noise is None else noise**2, dt, x0, p0)
                       for kind, noise, _ in models]
            row.append(IMMEstimator(filters, np.full(m, 1.0 / m), tr.pi))
        oracles.append(row)
    true_p, true_v = p.copy(), v.copy()
    for k in range(steps):
        true_v += 150.0 * np.sign(np.sin(k / 15.0)) * dt  # a target switching its acceleration
        true_p += true_v * dt
        r = rng.uniform(5.0, 400.0, n)
        z = true_p + np.sqrt(r) * rng.normal(0, 1, (3, n))
        mask = rng.random(n) < 0.8
        tr.step(np.full(n, k + 1), z, r, mask, q)
        for ax in range(3):
            for i in range(n):
                o = oracles[ax][i]
                o.predict()
                if mask[i]:
                    for f in o.filters:
                        f.R = np.array([[r[i]]])
                    o.update(np.array([[z[ax, i]]]))
                else:
                    o.mu = o.cbar.copy()
                    o._compute_mixing_probabilities()
                    o._compute_state_estimate()
    mean, cov = imm.combine(tr.x, tr.P, tr.mu)
    for ax in range(3):
        for i in range(n):
            o = oracles[ax][i]
            np.testing.assert_allclose(tr.mu[:, ax, i], o.mu, rtol=1e-8, atol=1e-12)
            for j, f in enumerate(o.filters):
                np.testing.assert_allclose(tr.x[j, :, ax, i], f.x.ravel(), rtol=1e-8, atol=1e-8)
                e = tr.P[j, :, ax, i]
                full = np.array([[e[0], e[1], e[2]], [e[1], e[3], e[4]], [e[2], e[4], e[5]]])
                np.testing.assert_allclose(full, f.P, rtol=1e-8, atol=1e-8)
            np.testing.assert_allclose(mean[:, ax, i], o.x.ravel(), rtol=1e-8, atol=1e-8)
            e = cov[:, ax, i]
            np.testing.assert_allclose(np.array([[e[0], e[1], e[2]], [e[1], e[3], e[4]], [e[2], e[4], e[5]]]),
                                       o.P, rtol=1e-8, atol=1e-8)
    # the track the env reads: the mixture, covariance entries averaged over the axes
    np.testing.assert_allclose(tr.track.X[:9], mean.reshape(9, n))
    np.testing.assert_allclose(tr.track.X[9:15], cov.mean(axis=1), rtol=1e-12)


def _nees_run(filt: str) -> np.ndarray:
    """Mean NEES per step over 300 targets per axis whose acceleration noise switches between
    2 and 40 m/s^2 per step (the Markov chain of the IMM's two CA models); 9 dof (3 axes)."""
    rng = np.random.default_rng(1)
    n, steps, dt, r = 300, 400, 0.05, 100.0
    sig = np.array([2.0, 40.0])
    tr = IMMTracker(n, dt, [("ca", sig[0], 2.0), ("ca", sig[1], 0.5)])
    p0 = np.array([100.0, 400.0, 25.0])
    zero, full = np.zeros((3, n)), lambda x: np.full(n, x)
    tr.init_idx(np.arange(n), tr.init_block(zero, zero, full(p0[0]), full(p0[1]), full(p0[2])))
    single = ca_init(zero, zero, zero, full(p0[0]), full(p0[1]), full(p0[2]))
    x_true = rng.normal(0, 1, (3, 3, n)) * np.sqrt(p0)[:, None, None]  # (p v a, axis, env)
    mode = rng.integers(0, 2, (3, n))
    f = np.array([[1, dt, 0.5 * dt * dt], [0, 1, dt], [0, 0, 1]])
    g = np.array([0.5 * dt * dt, dt, 1.0])
    out = []
    for k in range(steps):
        mode = np.where(rng.random((3, n)) < tr.pi[mode, mode], mode, 1 - mode)
        x_true = np.einsum("ij,jan->ian", f, x_true) + g[:, None, None] * (sig[mode] * rng.normal(0, 1, (3, n)))
        z = x_true[0] + np.sqrt(r) * rng.normal(0, 1, (3, n))
        if filt == "imm":
            tr.step(np.full(n, k + 1), z, full(r), np.ones(n, dtype=bool), full(1.0))
            mean, c = imm.combine(tr.x, tr.P, tr.mu)
        else:  # one CA filter with the quiet model's noise
            ca_predict(single, dt, sig[0] ** 2)
            ca_update(single, z, full(r), np.ones(n, dtype=bool))
            mean = single.x
            c = np.broadcast_to(single.cov[:, None, :], (6, 3, n))
        cov = np.array([[c[0], c[1], c[2]], [c[1], c[3], c[4]], [c[2], c[4], c[5]]])
        err = np.moveaxis(x_true - mean, 0, -1)  # (axis, n, 3)
        inv = np.linalg.inv(np.moveaxis(cov, (0, 1), (-2, -1)))
        out.append(np.einsum("ani,anij,anj->n", err, inv, err).mean())
    return np.array(out)


def test_imm_nees_is_consistent_where_one_filter_is_not() -> None:
    """On targets that follow the IMM's own switching model the average NEES stays near its 9
    degrees of freedom (the IMM is an approximation: most steps fall inside the 95 % interval
    of an exact filter); one CA filter tuned for the quiet mode is overconfident."""
    n, dof = 300, 9
    lo, hi = chi2.ppf(0.025, dof * n) / n, chi2.ppf(0.975, dof * n) / n
    nees = _nees_run("imm")
    assert abs(nees[50:].mean() - dof) < 0.1 * dof
    assert np.mean((nees[50:] > lo) & (nees[50:] < hi)) > 0.7
    assert _nees_run("ca")[50:].mean() > 2 * dof


def test_transition_matrix_and_noise() -> None:
    pi = imm.transition_matrix([2.0, 0.5, 1.0], 0.05)
    np.testing.assert_allclose(pi.sum(1), 1.0)
    np.testing.assert_allclose(np.diag(pi), np.exp(-0.05 / np.array([2.0, 0.5, 1.0])))
    q = imm.process_noise(["cv", "ca"], 0.1)
    np.testing.assert_allclose(q[0], [0.1**4 / 4, 0.1**3 / 2, 0, 0.01, 0, 0])
    np.testing.assert_allclose(q[1], [0.1**4 / 4, 0.1**3 / 2, 0.005, 0.01, 0.1, 1.0])
    with pytest.raises(ValueError, match="cv, ca"):
        imm.process_noise(["singer"], 0.1)
    with pytest.raises(ValueError, match="at least 2"):
        IMMTracker(2, 0.05, [("ca", 1.0, 1.0)])


def test_imm_sensor_parameters() -> None:
    p = InterceptParams(sensor={"filter": "imm"})
    assert [m[0] for m in p.sensor.imm_models()] == ["cv", "ca"]
    p = InterceptParams(sensor={"filter": "imm", "process_noise": 80.0,
                                "imm": {"models": [{"kind": "ca", "noise": 20}, {"kind": "ca", "sojourn": 0.5}]}})
    assert p.sensor.imm_models() == (("ca", 20.0, 2.0), ("ca", None, 0.5))
    with pytest.raises(ValueError, match="filter: imm only"):
        InterceptParams(sensor={"filter": "ca", "imm": {}})
    with pytest.raises(ValueError, match="models"):
        InterceptParams(sensor={"filter": "imm", "imm": {"models": [{"kind": "ca"}]}})
    with pytest.raises(ValueError, match="kind"):
        InterceptParams(sensor={"filter": "imm", "imm": {"models": [{"kind": "cv"}, {"kind": "singer"}]}})
    # models without a noise take process_noise (default: the CA default of the scenario)
    core = InterceptCore(2, {"scenario": "manoeuvring", "sensor": {"filter": "imm", "process_noise": 80.0}})
    assert core.tracker is not None and core.tracker.noise_var == (9.0, None)
    np.testing.assert_allclose(core.tracker._noise(core.D["q_var"])[1, 5], 6400.0)


IMM_SENSOR: dict[str, Any] = {"filter": "imm", "process_noise": 100.0,
                              "imm": {"models": [{"kind": "cv", "noise": 5.0}, {"kind": "ca", "sojourn": 1.0}]}}


@pytest.mark.parametrize("kw", [{"scenario": "manoeuvring"}, {"scenario": "sensor", "radar_delay": 0.1}])
def test_imm_batched_equals_single_envs(kw: dict[str, Any]) -> None:
    """Env ``i`` of a batch follows exactly the single env's trajectory with the IMM track
    (automatic resets and a measurement delay included), and pickles."""
    n, seed = 3, 7
    venv = BatchedInterceptVecEnv(n, seed=seed, sensor=IMM_SENSOR, **kw)
    envs = [InterceptEnv(sensor=IMM_SENSOR, **kw) for _ in range(n)]
    obs_b = venv.reset()
    obs_s = np.stack([e.reset(seed=seed + i)[0] for i, e in enumerate(envs)])
    np.testing.assert_array_equal(obs_b, obs_s)
    rng = np.random.default_rng(0)
    ends = 0
    for _ in range(200):
        act = rng.uniform(-1, 1, (n, 2)).astype(np.float32)
        obs_b, rew_b, done_b, _ = venv.step(act)
        for i, e in enumerate(envs):
            o, r, term, trunc, _ = e.step(act[i])
            assert done_b[i] == (term or trunc) and rew_b[i] == np.float32(r)
            if term or trunc:
                ends += 1
                o, _ = e.reset()
            np.testing.assert_array_equal(obs_b[i], o)
    assert ends >= 1
    copy = pickle.loads(pickle.dumps(venv.core))
    np.testing.assert_array_equal(copy.tracker.x, venv.core.tracker.x)
    venv.close()


def test_imm_track_follows_a_manoeuvring_threat() -> None:
    """The in-env IMM track stays close to a 12.5 g manoeuvring threat, like the CA track."""
    errs = {}
    for name, sensor in (("imm", IMM_SENSOR), ("ca", {"filter": "ca", "process_noise": 100.0})):
        core = InterceptCore(64, {"scenario": "manoeuvring", "sensor": sensor})
        core.seed_idx(np.arange(64), list(range(64)))
        core.reset_idx(np.arange(64))
        pos_err = []
        for _ in range(80):
            _, _, term, trunc, _ = core.step(np.zeros((64, 2)))
            p = core.tracker.estimate()[0]
            live = ~(term | trunc)
            pos_err.append(np.linalg.norm(p - core.tp, axis=0)[live])
            done = np.flatnonzero(~live)
            if done.size:
                core.reset_idx(done)
        errs[name] = np.median(np.concatenate(pos_err))
    assert errs["imm"] < 15.0 and errs["imm"] < 1.5 * errs["ca"], errs
