"""hlynr/ATC-v0: PettingZoo conformance, layout, scenarios, separation metrics and reward."""

from __future__ import annotations

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test, parallel_seed_test, state_test
from pettingzoo.utils.conversions import parallel_to_aec

from hlynr.envs.atc import END_KEYS, ATCEngine, ATCEnv, ATCParams
from hlynr.envs.atc import conflict as G
from hlynr.envs.atc import layout as L
from hlynr.envs.atc.mvp import DirectParams, make_direct
from hlynr.envs.atc.units import KT, NM, compass_bearing, heading_vector, to_heading_up, wrap_angle
from hlynr.registries import PETTINGZOO_ENVS

SCENARIOS = ["head_on", "parallel", "t_formation", "canonical_crossing", "converging", "random"]


def _direct(env: ATCEnv):
    return make_direct(env.observation_space("aircraft_0"), env.action_space("aircraft_0"),
                       DirectParams()).act


@pytest.mark.parametrize("scenario", ["canonical_crossing", "random"])
def test_parallel_api_and_seed(scenario: str) -> None:
    kw = dict(scenario=scenario, max_aircraft=6, n_aircraft=5, k_intruders=3, max_steps=60)
    parallel_api_test(ATCEnv(**kw), num_cycles=200)
    parallel_seed_test(lambda: ATCEnv(**kw), num_cycles=50)


def test_state_space_contains_state_and_agent_state() -> None:
    kw = dict(scenario="random", max_aircraft=5, n_aircraft=5, k_intruders=2, max_steps=30)
    state_test(parallel_to_aec(ATCEnv(**kw)), ATCEnv(**kw), num_cycles=50)  # PettingZoo's own
    env = ATCEnv(scenario="random", max_aircraft=5, n_aircraft=5, k_intruders=2)
    env.reset(seed=1)
    s = env.state()
    assert env.state_space.contains(s) and s.shape == (5 * 8 + 1,)
    assert s[0] == 1.0 and np.count_nonzero(s[:40]) > 30
    a = env.agent_state("aircraft_3")
    assert a.shape == (s.size + 5,) and a[s.size + 3] == 1.0 and a[s.size:].sum() == 1.0


def test_registered_and_validated() -> None:
    entry = PETTINGZOO_ENVS.get("hlynr/ATC-v0")
    assert entry.params is ATCParams
    assert entry.factory(scenario="head_on").params.aircraft_count == 2
    with pytest.raises(ValueError, match="max_aircraft"):
        ATCParams(scenario="canonical_crossing", max_aircraft=3)
    with pytest.raises(ValueError, match="pz_radius_n"):
        ATCParams(pz_radius_n=5.0)
    with pytest.raises(ValueError, match="cruise_speed_kt"):
        ATCParams(cruise_speed_kt=350.0)


def test_layout_declared_and_k_independent_of_n() -> None:
    for n, k in ((2, 5), (20, 3), (20, 19)):
        env = ATCEnv(scenario="random", max_aircraft=n, n_aircraft=n, k_intruders=k)
        lay = env.entity_layout
        assert (lay.own_size, lay.slot_size, lay.slots) == (L.OWN_SIZE, L.SLOT_SIZE, k)
        assert env.observation_space("aircraft_0").shape == (lay.size,)
        obs, _ = env.reset(seed=0)
        row = obs["aircraft_0"]
        flags = [row[lay.slot_offset(j) + lay.valid_index] for j in range(k)]
        assert flags == [1.0] * min(k, n - 1) + [0.0] * max(0, k - (n - 1))
        dists = [row[lay.slot_offset(j) + L.SLOT["distance"].start] for j in range(min(k, n - 1))]
        assert dists == sorted(dists)  # nearest first
        pad = row[lay.slot_offset(min(k, n - 1)):]
        assert not pad.any()


def test_intruder_slot_is_heading_up_geometry() -> None:
    eng = ATCEngine(ATCParams(scenario="head_on", max_aircraft=2, k_intruders=1, rotate=False,
                              jitter_nm=0.0, speed_jitter_kt=0.0))
    eng.reset([0])
    eng.pos[0] = [[0.0, 0.0], [3 * NM, 4 * NM]]
    eng.heading[0] = [np.pi / 2, np.pi]  # east, south
    eng._geom()
    row = eng.observe()[0, 0]
    s = L.OWN_SIZE
    rel = row[s + L.SLOT["rel_pos"].start: s + L.SLOT["rel_pos"].stop] * L.REL_SCALE
    # heading east: the intruder north-east is ahead-left -> right = +4 NM*(-1), forward = 3 NM
    assert rel == pytest.approx([-4 * NM, 3 * NM], rel=1e-5)
    assert row[s + L.SLOT["distance"].start] * L.REL_SCALE == pytest.approx(5 * NM, rel=1e-5)
    v = eng.vel[0]
    tcpa, dcpa = G.cpa(v[None, 1] * 0 + (eng.pos[0, 1] - eng.pos[0, 0]), v[1] - v[0])
    assert row[s + L.SLOT["tcpa"].start] * L.TCPA_SCALE == pytest.approx(tcpa, rel=1e-4)
    assert row[s + L.SLOT["dcpa"].start] * L.PZ_SCALE == pytest.approx(dcpa, rel=1e-4)
    assert compass_bearing(to_heading_up(heading_vector(np.array(0.3)), np.array(0.1))) == pytest.approx(0.2)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenarios_start_separated_and_direct_routes_are_efficient(scenario: str, rollout) -> None:
    env = ATCEnv(scenario=scenario, max_aircraft=8, n_aircraft=8, k_intruders=4)
    for seed in range(3):
        env.reset(seed=seed)
        eng = env.engine
        pres = eng.present[0]
        assert pres.sum() == env.params.aircraft_count
        d = eng.dist[0][np.ix_(pres, pres)] + np.eye(pres.sum()) * 1e9
        assert d.min() > env.params.pz_radius_nm * NM  # nobody starts inside a protected zone
        _, last = rollout(env, _direct(env), seed)
        assert set(END_KEYS) <= set(last)
        assert last["exits_reached"] == 1.0
        assert last["path_efficiency"] > 0.995 and abs(last["extra_distance_nm"]) < 0.5


def test_named_scenarios_conflict_without_resolution(rollout) -> None:
    for scenario, events in (("head_on", 1), ("parallel", 2), ("t_formation", 3), ("canonical_crossing", 6)):
        env = ATCEnv(scenario=scenario, jitter_nm=0.0, speed_jitter_kt=0.0)
        _, last = rollout(env, _direct(env), 0)
        assert last["los_events"] == events, scenario
        assert last["conflict_free"] == 0.0 and not last["is_success"]
        assert last["conflicts"] >= events
        assert 0.0 < last["intrusion_severity_mean"] <= last["intrusion_severity_max"] <= 1.0


def test_los_counted_as_events_not_steps(rollout) -> None:
    """A head-on pass at 500 kt closing stays inside the 5 NM zone for ~7 steps: one event."""
    env = ATCEnv(scenario="head_on", jitter_nm=0.0, speed_jitter_kt=0.0, rotate=False)
    steps, last = rollout(env, _direct(env), 0)
    eng_steps_inside = sum(1 for s in steps if s["rew"]["aircraft_0"] < -0.5)
    assert eng_steps_inside >= 5
    assert last["los_events"] == 1.0
    assert last["min_separation_nm"] < 0.05  # straight through each other
    assert last["intrusion_severity_max"] > 0.99


def test_pass_inside_one_step_is_an_event() -> None:
    """Both step ends 5.4 NM apart, the pass 2 NM abeam between them: an event."""
    eng = ATCEngine(ATCParams(scenario="head_on", max_aircraft=2, k_intruders=1, dt_s=60.0,
                              cruise_speed_kt=300.0, rotate=False, jitter_nm=0.0, speed_jitter_kt=0.0))
    eng.reset([0])
    step = eng.speed[0, 0] * 60.0  # 5 NM per step each
    eng.pos[0] = [[0.0, -step / 2], [2 * NM, step / 2]]
    eng.heading[0] = [0.0, np.pi]
    eng._geom()
    eng.in_los[:] = False
    _, _, _, _, _ = eng.step(np.zeros((1, 2, 2)))
    assert eng.metrics.los[0] == 1
    assert eng.metrics.min_sep[0] == pytest.approx(2 * NM, rel=1e-6)
    assert eng.dist[0, 0, 1] > 5 * NM  # both step ends outside the zone


def test_reward_terms_and_bounds(rollout) -> None:
    env = ATCEnv(scenario="head_on", jitter_nm=0.0, speed_jitter_kt=0.0, los_entry_penalty=0.0,
                 los_depth_penalty=0.0, drift_per_deg=0.0, team_weight=0.0)
    steps, _ = rollout(env, _direct(env), 0)
    ret = sum(s["rew"]["aircraft_0"] for s in steps)
    path_km = (2 * 40.0 - 2.0) * NM / 1000.0  # start -> exit circle
    assert ret == pytest.approx(0.04 * path_km, rel=1e-3)  # progress only: telescopes
    full = ATCEnv(scenario="head_on", jitter_nm=0.0, speed_jitter_kt=0.0)
    steps, _ = rollout(full, _direct(full), 0)
    r = np.array([s["rew"]["aircraft_0"] for s in steps])
    assert r.min() < -25.0  # the entry step
    assert (r >= -25.0 - 1.0 - 0.6 - 0.1).all()  # entry + depth + team change + progress bound
    team = ATCEnv(scenario="head_on", jitter_nm=0.0, speed_jitter_kt=0.0, progress_per_km=0.0,
                  los_entry_penalty=0.0, los_depth_penalty=0.0, drift_per_deg=0.0)
    steps, _ = rollout(team, _direct(team), 0)
    assert abs(sum(s["rew"]["aircraft_0"] for s in steps)) <= 0.6 + 1e-9


def test_detour_term_charges_the_distance_flown_beyond_progress() -> None:
    quiet = dict(scenario="head_on", rotate=False, jitter_nm=0.0, speed_jitter_kt=0.0, progress_per_km=0.0,
                 los_entry_penalty=0.0, los_depth_penalty=0.0, drift_per_deg=0.0, team_weight=0.0)
    eng = ATCEngine(ATCParams(**quiet, detour_per_km=1.0))
    eng.reset([0])
    dtg0 = np.linalg.norm(eng.exit - eng.pos, axis=-1)[0]
    straight = sum(eng.step(np.zeros((1, 4, 2)))[1][0] for _ in range(10))
    assert np.abs(straight[:2]).max() < 1e-6  # the direct route costs nothing
    turn = np.zeros((1, 4, 2))
    turn[0, :2, 0] = 0.6
    ret = sum(eng.step(turn)[1][0] for _ in range(12))
    flown = eng.metrics.flown[0, :2]
    progress = dtg0[:2] - np.linalg.norm(eng.exit - eng.pos, axis=-1)[0, :2]
    assert (flown - progress).min() > 5 * NM  # a real detour
    np.testing.assert_allclose(ret[:2], -(flown - progress) / 1000.0, rtol=1e-6)
    off = ATCEngine(ATCParams(**quiet))
    off.reset([0])
    assert not any(off.step(turn)[1].any() for _ in range(12))  # 0 switches it off


def test_curriculum_apply_params_switches_scenario() -> None:
    env = ATCEnv(scenario="head_on", max_aircraft=4, k_intruders=3)
    env.reset(seed=0)
    assert env.engine.present[0].sum() == 2
    env.apply_params(scenario="canonical_crossing")
    assert env.engine.present[0].sum() == 2  # takes effect at the next reset
    env.reset(seed=0)
    assert env.engine.present[0].sum() == 4
    with pytest.raises(ValueError, match="sizes the spaces"):
        env.apply_params(max_aircraft=8)
    with pytest.raises(ValueError, match="unknown ATC parameter"):
        env.apply_params(scenaro="random")


def test_engine_batches_equal_single_copies() -> None:
    p = ATCParams(scenario="random", max_aircraft=6, n_aircraft=6, k_intruders=3, max_steps=30)
    batch = ATCEngine(p, n_copies=3)
    ob = batch.reset([5, 6, 7])
    singles = [ATCEngine(p) for _ in range(3)]
    os_ = [e.reset([5 + i])[0] for i, e in enumerate(singles)]
    rng = np.random.default_rng(0)
    for _ in range(30):
        np.testing.assert_array_equal(ob, np.stack(os_))
        a = rng.uniform(-1, 1, (3, 6, 2))
        ob, rb, tb, cb, ib = batch.step(a)
        outs = [e.step(a[i:i + 1]) for i, e in enumerate(singles)]
        os_ = [o[0][0] for o in outs]
        np.testing.assert_allclose(rb, np.concatenate([o[1] for o in outs]), atol=1e-6)
        assert list(cb) == [bool(o[3][0]) for o in outs]
    assert all(i for i in ib) and ib[1] == outs[1][4][0]


def test_dynamics_respect_limits() -> None:
    p = ATCParams(scenario="head_on", rotate=False, jitter_nm=0.0, speed_jitter_kt=0.0)
    eng = ATCEngine(p)
    eng.reset([0])
    h0, v0 = eng.heading.copy(), eng.speed.copy()
    eng.step(np.ones((1, 4, 2)))
    dh = np.rad2deg(wrap_angle(eng.heading - h0))[0, :2]
    assert dh == pytest.approx([30.0, 30.0])  # 3 deg/s for 10 s
    assert (eng.speed - v0)[0, :2] == pytest.approx([10 * KT, 10 * KT])  # 1 kt/s for 10 s
    for _ in range(20):
        eng.step(np.ones((1, 4, 2)))
    assert eng.speed[0, :2] == pytest.approx([300 * KT, 300 * KT])
