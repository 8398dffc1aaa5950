"""PettingZoo API conformance, physics helpers and episode rules of hlynr/Swarm-v0."""

from __future__ import annotations

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test

from hlynr.envs.swarm import STAGES, SwarmInterceptEnv, layout
from hlynr.envs.swarm.baselines import InterceptPointPolicy
from hlynr.envs.swarm.outcome import segment_cpa
from hlynr.envs.swarm.sensing import PlanarCVTrack
from hlynr.registries import PETTINGZOO_ENVS
from hlynr.tracking.kalman import cv_predict, cv_update


@pytest.mark.parametrize("stage", ["basic", "advanced"])
def test_parallel_api(stage: str) -> None:
    parallel_api_test(SwarmInterceptEnv(stage=stage, max_steps=120), num_cycles=200)


def test_registered_ids_and_presets() -> None:
    for name, preset in STAGES.items():
        env = PETTINGZOO_ENVS.get(f"hlynr/Swarm-{name}-v0").factory()
        assert env.params.target_speed == preset["target_speed"]
        assert env.params.n_agents == preset["n_agents"]
    assert PETTINGZOO_ENVS.get("hlynr/Swarm-v0").factory(n_agents=2).params.n_agents == 2


def test_cpa_catches_pass_between_step_ends() -> None:
    # 2000 m/s closing, 0.1 s step: 100 m before and 100 m after the pass, CPA 3 m inside.
    tau, d = segment_cpa(np.array([[100.0, 3.0]]), np.array([[-100.0, 3.0]]))
    assert d[0] == pytest.approx(3.0) and tau[0] == pytest.approx(0.5)
    tau, d = segment_cpa(np.array([[300.0, 0.0]]), np.array([[200.0, 0.0]]))  # still closing
    assert d[0] == pytest.approx(200.0) and tau[0] == 1.0


def test_env_detects_intercept_inside_step() -> None:
    """A head-on pass that crosses between two step ends is an intercept."""
    env = SwarmInterceptEnv(n_agents=1, max_agents=2, k_neighbours=1, target_speed=1900.0,
                            kill_radius=10.0, evasion="none")
    env.reset(seed=0)
    st = env.engine.state
    st.pos[0, 0] = st.tpos[0] + st.tvel[0] * 0.05 * 1.0  # 95 m ahead of the target, on track
    st.vel[0, 0] = -st.tvel[0] / np.linalg.norm(st.tvel[0]) * 100.0
    _, _, term, trunc, info = env.step({a: np.zeros(2) for a in env.agents})
    first = info["interceptor_0"]
    assert term["interceptor_0"] and not trunc["interceptor_0"]
    assert first["is_success"] and first["miss_distance"] < 10.0
    # the end-of-step distance is far outside the kill radius: only the in-step CPA catches it
    assert np.linalg.norm(st.tpos[0] - st.pos[0, 0]) > 50.0


def _previous_cpa(rel0: np.ndarray, rel1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The swarm's own closest-approach formula before it used the intercept engine's."""
    d = rel1 - rel0
    dd = np.einsum("...i,...i->...", d, d)
    tau = np.clip(-np.einsum("...i,...i->...", rel0, d) / np.maximum(dd, 1e-9), 0.0, 1.0)
    tau = np.where(dd > 1e-9, tau, 0.0)
    return tau, np.linalg.norm(rel0 + tau[..., None] * d, axis=-1)


def test_shared_closest_approach_is_bit_identical_to_the_previous_one() -> None:
    rng = np.random.default_rng(0)
    r0 = rng.normal(0, 300.0, (5000, 2))
    r1 = r0 + rng.normal(0, 100.0, (5000, 2))
    for got, want in zip(segment_cpa(r0, r1), _previous_cpa(r0, r1)):
        np.testing.assert_array_equal(got, want)


def test_shared_kalman_equals_the_previous_swarm_filter_to_rounding() -> None:
    """The shared filter on planar tracks against the swarm's former closed form: the same maths,
    equal to a few ulps (not bit-identical: ``q·(dt·dt)`` vs ``(q·dt)·dt``, ``pp - k·pp`` vs
    ``(1 - k)·pp``)."""
    rng = np.random.default_rng(2)
    n, dt, q = 64, 0.1, 100.0**2
    pos, vel = rng.normal(0, 1000, (n, 2)), rng.normal(0, 300, (n, 2))
    cov = np.stack([np.full(n, 400.0), np.zeros(n), np.full(n, 9e6)], axis=1)
    trk = PlanarCVTrack(np.concatenate([pos.T, vel.T, cov.T]).copy())
    for _ in range(50):
        pp, pv, vv = cov.T
        cov = np.stack([pp + 2 * dt * pv + dt * dt * vv + q * dt**4 / 4, pv + dt * vv + q * dt**3 / 2,
                        vv + q * dt * dt], axis=1)
        pos = pos + vel * dt
        cv_predict(trk, dt, q)
        z, r, mask = pos + rng.normal(0, 20, (n, 2)), np.full(n, 400.0), rng.uniform(size=n) < 0.7
        pp, pv, vv = cov.T
        kp, kv = pp / (pp + r), pv / (pp + r)
        m = mask[:, None]
        pos, vel = np.where(m, pos + kp[:, None] * (z - pos), pos), np.where(m, vel + kv[:, None] * (z - pos), vel)
        cov = np.where(m, np.stack([(1 - kp) * pp, (1 - kp) * pv, vv - kv * pv], axis=1), cov)
        cv_update(trk, z.T, r, mask)
    np.testing.assert_allclose(trk.X[0:2].T, pos, rtol=1e-12)
    np.testing.assert_allclose(trk.X[2:4].T, vel, rtol=1e-10)
    np.testing.assert_allclose(trk.X[4:7].T, cov, rtol=1e-10)


def test_planar_shared_kalman_matches_filterpy() -> None:
    """The shared closed-form CV filter on planar tracks equals filterpy's (both axes)."""
    filterpy = pytest.importorskip("filterpy.kalman")
    dt, sa, r = 0.1, 30.0, 25.0**2
    kfs = []
    for x0 in (10.0, -40.0):
        kf = filterpy.KalmanFilter(dim_x=2, dim_z=1)
        kf.F = np.array([[1, dt], [0, 1]])
        kf.H = np.array([[1.0, 0.0]])
        kf.Q = sa**2 * np.array([[dt**4 / 4, dt**3 / 2], [dt**3 / 2, dt**2]])
        kf.R = np.array([[r]])
        kf.x = np.array([[x0], [0.0]])
        kf.P = np.diag([r, 3000.0**2])
        kfs.append(kf)
    trk = PlanarCVTrack(np.array([[10.0], [-40.0], [0.0], [0.0], [r], [0.0], [3000.0**2]]))
    rng = np.random.default_rng(0)
    for k in range(30):
        z = np.array([10.0 + 500.0 * dt * (k + 1), -40.0 - 200.0 * dt * (k + 1)]) + rng.normal(0, 25.0, 2)
        for kf, zi in zip(kfs, z):
            kf.predict()
            kf.update(np.array([[zi]]))
        cv_predict(trk, dt, sa**2)
        cv_update(trk, z[:, None], np.array([r]), np.array([True]))
    for a, kf in enumerate(kfs):
        assert trk.vecs[0][a, 0] == pytest.approx(kf.x[0, 0], abs=1e-9)
        assert trk.vecs[1][a, 0] == pytest.approx(kf.x[1, 0], abs=1e-9)
        assert [c[0] for c in trk.covs] == pytest.approx([kf.P[0, 0], kf.P[0, 1], kf.P[1, 1]], rel=1e-9)


@pytest.mark.parametrize("stage", ["intermediate", "advanced"])
def test_evading_target_reaches_zone(stage: str, rollout) -> None:
    """With no kill possible, every target track (evasion included) ends in the defended zone."""
    env = SwarmInterceptEnv(stage=stage, kill_radius=1e-3)
    for seed in range(8):
        steps, last = rollout(env, InterceptPointPolicy().act, seed)
        assert last["escaped"] == 1.0 and not steps[-1]["trunc"]["interceptor_0"], seed


def test_track_needs_detection_cue_or_sharing() -> None:
    """Without radar cueing, far agents hold no track; with it, every live agent does."""
    far = dict(spawn_range=(14000.0, 14000.0), detect_range=2000.0)
    obs, _ = SwarmInterceptEnv(radar_cueing=False, **far).reset(seed=1)
    assert all(o[layout.SL["trk_valid"]][0] == 0.0 for o in obs.values())
    env = SwarmInterceptEnv(radar_cueing=True, **far)
    obs, _ = env.reset(seed=1)
    for i, a in enumerate(env.possible_agents):
        valid = obs[a][layout.SL["trk_valid"]][0]
        assert valid == (1.0 if i < env.params.n_agents else 0.0)
        if valid:
            assert obs[a][layout.SL["src_radar"]][0] == 1.0
            est = obs[a][layout.SL["trk_pos"]] * layout.POS_SCALE
            err = np.linalg.norm(est - env.engine.state.tpos[0])
            assert 0.0 < err < 300.0  # noisy (20 m + 3 mrad x 14 km) but close


def test_baseline_beats_idle_on_basic(zero_policy, rollout) -> None:
    env = SwarmInterceptEnv(stage="basic")
    base = np.mean([rollout(env, InterceptPointPolicy().act, s)[1]["is_success"] for s in range(6)])
    idle = np.mean([rollout(env, zero_policy, s)[1]["is_success"] for s in range(6)])
    assert base >= 0.9 and idle <= 0.3


def test_team_reward_is_bounded(rollout) -> None:
    env = SwarmInterceptEnv(stage="intermediate")
    p = env.params
    lo = -(p.escape_penalty + p.approach_weight + p.fuel_weight + p.spread_weight + p.loss_weight)
    hi = p.intercept_bonus + p.approach_weight
    rng = np.random.default_rng(0)
    for seed in range(4):
        steps, _ = rollout(env, lambda rows: rng.uniform(-1, 1, (rows.shape[0], 2)), seed)
        ret = sum(s["info"]["interceptor_0"]["team_reward"] for s in steps)
        assert lo - 1e-9 <= ret <= hi + 1e-9
