"""APN and the optimal guidance law (OGL) against their closed forms on constructed geometries,
and the rule that a radar-fed baseline acts on the track only, never on the truth."""

from __future__ import annotations

from typing import Any

import mpmath
import numpy as np
import pytest
from pydantic import ValidationError

import hlynr.guidance  # noqa: F401  (registers the baselines)
from hlynr.envs.intercept import OBS_DIM, OBS_SLICES, BatchedInterceptVecEnv, InterceptCore
from hlynr.envs.intercept.critic import TRUTH_DIM
from hlynr.envs.intercept.env import action_space, observation_space
from hlynr.envs.intercept.observation import build_observation
from hlynr.envs.intercept.params import G0
from hlynr.guidance.laws import (
    TGO_MIN,
    augmented_pn,
    lag_weight,
    ogl_gain,
    optimal_guidance,
    proportional_navigation,
)
from hlynr.registries import BASELINES

A_MAX = 25.0 * G0
UP = np.array([0.0, 0.0, 1.0])


def _obs(own_p: Any, own_v: Any, tgt_p: Any, tgt_v: Any, tgt_a: Any = (0, 0, 0), own_a: Any = (0, 0, 0)
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One observation (1, OBS_DIM) of the given world states (as a perfect track would give it)
    and the action frame axes ``e_y``, ``e_z`` (3,)."""
    col = [np.asarray(x, dtype=np.float64).reshape(3, 1) for x in (own_p, own_v, own_a, tgt_p, tgt_v, tgt_a)]
    one, zero = np.ones(1), np.zeros(1)
    obs, e_y, e_z = build_observation(col[0], col[1], col[2], one, np.full(1, A_MAX), col[3], col[4], col[5],
                                      zero, zero, zero, one)
    return obs, e_y[:, 0], e_z[:, 0]


def _gain(x: float) -> float:
    """Zarchan's lag-compensated OGL navigation ratio, evaluated in 50-digit arithmetic."""
    with mpmath.workdps(50):
        xm = mpmath.mpf(x)
        e = mpmath.exp(-xm)
        return float(6 * xm**2 * (e - 1 + xm) / (2 * xm**3 + 3 + 6 * xm - 6 * xm**2 - 12 * xm * e - 3 * e**2))


def _ogl_world(own_p: Any, own_v: Any, tgt_p: Any, tgt_v: Any, tgt_a: Any, own_a: Any, n: float, tau: float,
               target_tau: float | None, e_y: np.ndarray, e_z: np.ndarray) -> np.ndarray:
    """The OGL command written out in world vectors: ``N'(x)/t_go^2`` times the zero-effort miss
    perpendicular to the LOS, ``ZEM = r + v t_go + a_T w_T - a_M T^2 (e^-x + x - 1)``, ``t_go =
    R / Vc``, ``a_M`` the achieved acceleration less the part cancelling gravity; projected on
    the action frame, over ``a_max``, plus gravity compensation."""
    r = np.subtract(tgt_p, own_p, dtype=np.float64)
    v = np.subtract(tgt_v, own_v, dtype=np.float64)
    rng = np.linalg.norm(r)
    lam = r / rng
    vc = -r @ v / rng
    tgo = rng / vc
    e_v = np.asarray(own_v, dtype=np.float64) / np.linalg.norm(own_v)
    a_m = np.asarray(own_a, dtype=np.float64) - G0 * (UP - (UP @ e_v) * e_v)
    a_t = np.asarray(tgt_a, dtype=np.float64)
    if target_tau is None:
        disp_t = 0.5 * tgo * tgo
    else:
        y = tgo / target_tau
        disp_t = target_tau**2 * (np.exp(-y) + y - 1.0)
    if tau > 0:
        x = tgo / tau
        gain = n / 3.0 * _gain(x)
        disp_m = tau**2 * (np.exp(-x) + x - 1.0)
    else:
        gain, disp_m = n, 0.0
    zem = r + v * tgo + a_t * disp_t - a_m * disp_m
    zem -= (zem @ lam) * lam
    a = gain * zem / tgo**2
    return np.array([a @ e_y, a @ e_z]) / A_MAX + G0 * np.array([UP @ e_y, UP @ e_z]) / A_MAX


HEAD_ON = dict(own_p=(0, 0, 1000), own_v=(800, 0, 0), tgt_p=(5000, 0, 1000), tgt_v=(-500, 0, 0))
CROSSING = dict(own_p=(0, 0, 500), own_v=(700, 300, 100), tgt_p=(4000, 2500, 2000), tgt_v=(-300, -350, -50))


def test_ogl_gain_matches_zarchan_and_its_limits() -> None:
    for x in np.geomspace(1e-3, 1e4, 60):
        assert ogl_gain(np.array([x]))[0] == pytest.approx(_gain(x), rel=1e-9)
    # both sides of the switch to the series agree with the exact value
    for x in (0.2 - 1e-9, 0.2, 0.2 + 1e-9):
        assert ogl_gain(np.array([x]))[0] == pytest.approx(_gain(x), rel=1e-9)
    assert ogl_gain(np.array([1e6]))[0] == pytest.approx(3.0, rel=1e-5)  # no lag: N' = 3
    assert ogl_gain(np.array([1e-4]))[0] == pytest.approx(10.0 / 1e-4, rel=1e-4)  # 10 / x near the end
    assert lag_weight(np.array([1e-4]))[0] == pytest.approx(0.5, rel=1e-4)
    assert lag_weight(np.array([1e4]))[0] == pytest.approx(1e-4, rel=1e-3)


def test_head_on_target_accelerating_perpendicular_to_the_los() -> None:
    """Head-on, the LOS along the velocity: no LOS rate, so PN commands only gravity
    compensation; the OGL adds ``N'(x) a_T / 2`` along the target's acceleration. With the LOS on
    the velocity, ``e_y`` is "up" and ``e_z = e_v x up = -y``. The interceptor holds 1 g up
    (gravity compensation), so the lag term has nothing to carry."""
    a_t = (0.0, 50.0, 0.0)
    hold = (0.0, 0.0, G0)
    obs, e_y, e_z = _obs(**HEAD_ON, tgt_a=a_t, own_a=hold)
    np.testing.assert_allclose(e_y, [0, 0, 1], atol=1e-12)
    np.testing.assert_allclose(e_z, [0, -1, 0], atol=1e-12)
    g = G0 / A_MAX
    np.testing.assert_allclose(proportional_navigation(obs, 4.0)[0], [g, 0.0], atol=1e-7)
    np.testing.assert_allclose(augmented_pn(obs, 4.0)[0], [g, -2.0 * 50.0 / A_MAX], rtol=1e-6)
    # no lag: APN with N' = 3; R = 5 km, Vc = 1300 m/s, t_go = 3.846 s
    np.testing.assert_allclose(optimal_guidance(obs, 3.0, tau=0.0)[0], [g, -1.5 * 50.0 / A_MAX], rtol=1e-6)
    x = 5000.0 / 1300.0 / 0.1
    np.testing.assert_allclose(optimal_guidance(obs, 3.0, tau=0.1)[0], [g, -_gain(x) * 0.5 * 50.0 / A_MAX],
                               rtol=1e-6)
    for n, tau, target_tau in [(3.0, 0.1, None), (4.0, 0.3, 0.5), (5.0, 0.0, 1.0)]:
        np.testing.assert_allclose(
            optimal_guidance(obs, n, tau, target_tau)[0],
            _ogl_world(**HEAD_ON, tgt_a=a_t, own_a=hold, n=n, tau=tau, target_tau=target_tau,
                       e_y=e_y, e_z=e_z), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(("n", "tau", "target_tau"), [(3.0, 0.0, None), (3.0, 0.1, None), (4.0, 0.1, 0.35),
                                                      (6.0, 0.6, 2.0)])
def test_crossing_geometry_with_target_and_own_acceleration(n: float, tau: float, target_tau: float | None) -> None:
    """A crossing engagement with a target acceleration that has a component along the LOS
    (removed) and an achieved interceptor acceleration (the lag term): the law on the
    observation equals the world-vector form within float32 rounding of the observation."""
    a_t = (30.0, -60.0, 45.0)
    own_v = np.array(CROSSING["own_v"], dtype=np.float64)
    e_v = own_v / np.linalg.norm(own_v)
    own_a = np.cross(e_v, [0.3, -0.8, 0.5]) * 90.0  # lateral: perpendicular to the velocity
    obs, e_y, e_z = _obs(**CROSSING, tgt_a=a_t, own_a=own_a)
    want = _ogl_world(**CROSSING, tgt_a=a_t, own_a=own_a, n=n, tau=tau, target_tau=target_tau, e_y=e_y, e_z=e_z)
    np.testing.assert_allclose(optimal_guidance(obs, n, tau, target_tau)[0], want, rtol=2e-5, atol=2e-6)
    # APN: N' Vc Omega x LOS + N'/2 a_T perpendicular to the LOS, in world vectors
    r = np.subtract(CROSSING["tgt_p"], CROSSING["own_p"], dtype=np.float64)
    v = np.subtract(CROSSING["tgt_v"], CROSSING["own_v"], dtype=np.float64)
    lam = r / np.linalg.norm(r)
    omega = np.cross(r, v) / (r @ r)
    at_perp = np.asarray(a_t) - (np.asarray(a_t) @ lam) * lam
    a = n * (-r @ v / np.linalg.norm(r)) * np.cross(omega, lam) + 0.5 * n * at_perp
    want_apn = np.array([a @ e_y, a @ e_z]) / A_MAX + G0 * np.array([e_y[2], e_z[2]]) / A_MAX
    np.testing.assert_allclose(augmented_pn(obs, n)[0], want_apn, rtol=2e-5, atol=2e-6)


def test_lag_to_zero_limit_and_pn_reduction() -> None:
    """As the assumed lag goes to 0 the OGL tends to its no-lag form; with no target
    acceleration and no lag it is PN with N' = 3 (and ``N`` scales it to PN with N' = N)."""
    own_v = np.array(CROSSING["own_v"], dtype=np.float64)
    own_a = np.cross(own_v / np.linalg.norm(own_v), [0.0, 0.0, 1.0]) * 60.0
    obs, _, _ = _obs(**CROSSING, tgt_a=(20.0, 40.0, -30.0), own_a=own_a)
    no_lag = optimal_guidance(obs, 3.0, tau=0.0)
    gaps = [np.abs(optimal_guidance(obs, 3.0, tau=tau) - no_lag).max() for tau in (0.1, 1e-2, 1e-3, 1e-4)]
    assert all(b < a for a, b in zip(gaps, gaps[1:], strict=False)) and gaps[-1] < 1e-4
    obs0, _, _ = _obs(**CROSSING, own_a=own_a)  # a_T = 0
    np.testing.assert_array_equal(optimal_guidance(obs0, 3.0, tau=0.0), proportional_navigation(obs0, 3.0))
    np.testing.assert_array_equal(optimal_guidance(obs0, 5.0, tau=0.0), proportional_navigation(obs0, 5.0))
    np.testing.assert_allclose(optimal_guidance(obs0, 3.0, tau=1e-5), proportional_navigation(obs0, 3.0),
                               rtol=1e-4)


def test_tgo_to_zero_is_guarded() -> None:
    """At and below the smallest time-to-go the command stays finite and equals its value at
    ``TGO_MIN``; an all-zero observation gives a finite (zero) command."""
    obs, _, _ = _obs(own_p=(0, 0, 0), own_v=(800, 0, 0), tgt_p=(30, 1, 0.5), tgt_v=(-500, 20, 5),
                     tgt_a=(0, 80, 0), own_a=(0, 100, 0))
    at_min = obs.copy()
    at_min[:, OBS_SLICES["time_to_go"]] = TGO_MIN / 10.0
    for tgo in (0.0, 1e-9, 0.01, TGO_MIN):
        o = obs.copy()
        o[:, OBS_SLICES["time_to_go"]] = tgo / 10.0
        for tau in (0.0, 0.1, 5.0):
            u = optimal_guidance(o, 3.0, tau, 0.3)
            assert np.isfinite(u).all()
            np.testing.assert_array_equal(u, optimal_guidance(at_min, 3.0, tau, 0.3))
    zero = np.zeros((2, OBS_DIM), dtype=np.float32)
    for tau in (0.0, 0.1, 5.0):
        np.testing.assert_array_equal(optimal_guidance(zero, 4.0, tau, 0.5), 0.0)


def test_ogl_baseline_registered_with_validated_params() -> None:
    entry = BASELINES.get("ogl")
    assert entry.env_overrides == {"sensor": {"filter": "ca"}}
    assert BASELINES.get("ogl_imm").env_overrides == {"sensor": {"filter": "imm"}}
    assert BASELINES.get("ogl_imm").params is entry.params
    assert "hlynr/Intercept-v0" in entry.env_ids
    p = entry.params()
    assert (p.N, p.tau, p.target_tau) == (3.0, 0.1, None)
    for bad in ({"N": 0.0}, {"tau": -0.1}, {"target_tau": 0.0}, {"gain": 3.0}):
        with pytest.raises(ValidationError):
            entry.params(**bad)
    obs, _, _ = _obs(**CROSSING, tgt_a=(0, 50, 0))
    pol = entry.policy(observation_space(), action_space(), {"N": 4, "target_tau": 0.35})
    np.testing.assert_allclose(pol.predict(obs)[0],
                               np.clip(optimal_guidance(obs, 4.0, 0.1, 0.35), -1, 1).astype(np.float32))


def test_ca_track_acceleration_reaches_apn_and_ogl() -> None:
    """On a CA track the observation's target acceleration is the filter's estimate in the
    action frame, so it moves the APN and OGL commands; on a CV track it is zero."""
    core = InterceptCore(8, {"scenario": "manoeuvring", "sensor": {"filter": "ca"}})
    core.seed_idx(np.arange(8), list(range(8)))
    obs = core.reset_idx(np.arange(8))
    for _ in range(40):
        obs = core.step(np.zeros((8, 2)))[0]
    a = core.tracker.track.a  # (3, 8) world axes
    e_v = core.mv / np.linalg.norm(core.mv, axis=0)
    want = np.stack([(a * e).sum(0) for e in (e_v, core.e_y, core.e_z)], axis=1) / (25.0 * G0)
    np.testing.assert_allclose(obs[:, OBS_SLICES["target_accel"]], want, rtol=1e-5, atol=1e-6)
    assert np.abs(want).max() > 0.05
    assert np.abs(augmented_pn(obs, 4.0) - proportional_navigation(obs, 4.0)).max() > 0.01
    assert np.abs(optimal_guidance(obs, 3.0, 0.0) - proportional_navigation(obs, 3.0)).max() > 0.01
    cv = InterceptCore(8, {"scenario": "manoeuvring", "sensor": {"filter": "cv"}})
    cv.seed_idx(np.arange(8), list(range(8)))
    assert not cv.reset_idx(np.arange(8))[:, OBS_SLICES["target_accel"]].any()


@pytest.mark.parametrize("sensor", [{"filter": "ca"}, {"filter": "imm"}])
@pytest.mark.parametrize(("name", "params"), [("ogl", {"N": 4, "target_tau": 0.35}), ("apn", {"N": 3})])
def test_radar_baselines_never_act_on_the_truth(name: str, params: dict[str, Any], sensor: dict[str, Any]) -> None:
    """A radar-fed baseline flying the env without detections: moving the true threat changes
    nothing it sees or commands (its track never reads the truth)."""
    entry = BASELINES.get(name)

    def run(perturb: bool) -> np.ndarray:
        core = InterceptCore(2, {"scenario": "manoeuvring", "radar_max_range": 1.0,
                                 "sensor": {"mode": "radar", **sensor}})
        pol = entry.policy(observation_space(), action_space(), params)
        core.seed_idx(np.arange(2), [5, 6])
        obs = core.reset_idx(np.arange(2))
        acts = []
        for k in range(60):
            if perturb and k == 10:
                core.tp += np.array([[300.0], [-200.0], [100.0]])
                core.tv += 50.0
            act = pol.predict(obs)[0]
            acts.append(act)
            obs = core.step(act)[0]
        return np.stack(acts)

    np.testing.assert_array_equal(run(False), run(True))


def test_zeroing_the_truth_block_changes_no_baseline_action() -> None:
    """The critic rows carry the truth beside the observation; a baseline fed the observation
    part of a row with the truth block zeroed commands what it commands from the env's
    observation, and it refuses a whole critic row."""
    venv = BatchedInterceptVecEnv(16, seed=3, scenario="manoeuvring", sensor={"filter": "ca"})
    try:
        obs = venv.reset()
        pols = [BASELINES.get(n).policy(venv.observation_space, venv.action_space, p)
                for n, p in (("ogl", {}), ("apn", {}), ("pn", {"N": 6}))]
        for _ in range(30):
            rows = venv.critic_observations().copy()
            assert np.abs(rows[:, :TRUTH_DIM]).max() > 0
            rows[:, :TRUTH_DIM] = 0.0
            for pol in pols:
                np.testing.assert_array_equal(pol.predict(rows[:, TRUTH_DIM:])[0], pol.predict(obs)[0])
            obs = venv.step(pols[0].predict(obs)[0])[0]
        with pytest.raises(ValueError, match="shape"):
            BASELINES.get("ogl").policy(venv.critic_observation_space, venv.action_space, {})
    finally:
        venv.close()
