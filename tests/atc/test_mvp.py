"""MVP and direct baselines: hand-worked encounters, and BlueSky's own MVP as an oracle."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hlynr.envs.atc import ATCEnv
from hlynr.envs.atc.mvp import MVPParams, direct_conflict, mvp_velocity
from hlynr.envs.atc.units import KT, NM, wrap_angle
from hlynr.registries import BASELINES

V = 250 * KT
P = MVPParams()
RM = 5 * NM * 1.01


def _one(own_speed: float, rel_pos, rel_vel, dalt: float = 0.0, p: MVPParams = P):
    newv, conf = mvp_velocity(np.array([own_speed]), np.array([[rel_pos]], dtype=float),
                              np.array([[rel_vel]], dtype=float), np.array([[dalt]]),
                              np.array([[True]]), p)
    return newv[0], bool(conf[0])


def test_head_on_hand_worked() -> None:
    """20 NM apart nose to nose at 250 kt: dcpa = 0, so the head-on guard picks the side."""
    d, w = 20 * NM, 2 * V
    newv, conf = _one(V, (0.0, d), (0.0, -w))
    tcpa = d / w  # 144.0 s
    # guard: dcpa := 10 m along (d_y, -d_x)/|d| = +x (right); intruder outside the zone: erratum
    erratum = math.cos(math.asin(RM / d) - math.asin(10.0 / d))
    dv = (RM / erratum - 10.0) * 10.0 / (tcpa * 10.0)
    assert conf and tcpa == pytest.approx(144.0, abs=0.01)
    assert dv == pytest.approx(67.05, abs=0.01)
    assert newv == pytest.approx([-dv, V])  # v - dv: turn left, 27.5 deg, 282 kt
    assert math.degrees(math.atan2(newv[0], newv[1])) == pytest.approx(-27.5, abs=0.05)


def test_crossing_90_deg_hand_worked_and_resolves() -> None:
    """Intruder from the right on a 90-degree crossing, 2 NM ahead of a collision course."""
    own_v = np.array([0.0, V])
    rel_pos = np.array([20 * NM, 22 * NM])
    int_v = np.array([-V, 0.0])
    rel_vel = int_v - own_v
    newv, conf = _one(V, rel_pos, rel_vel)
    tcpa = -rel_pos @ rel_vel / (rel_vel @ rel_vel)
    dcpa = rel_pos + rel_vel * tcpa
    dabs = np.linalg.norm(dcpa)
    assert conf and dabs == pytest.approx(math.sqrt(2) * NM, rel=1e-9)  # 2 NM / sqrt(2)
    dist = np.linalg.norm(rel_pos)
    erratum = math.cos(math.asin(RM / dist) - math.asin(dabs / dist))
    dv = (RM / erratum - dabs) * dcpa / (tcpa * dabs)
    assert newv == pytest.approx(own_v - dv)
    # the intruder passes ahead (dcpa points up-left): own turns right and slows
    assert newv[0] > 0 and np.linalg.norm(newv) < V
    # resolving alone (intruder holds) puts the new CPA at the margin radius
    w1 = int_v - newv
    t1 = -rel_pos @ w1 / (w1 @ w1)
    assert np.linalg.norm(rel_pos + w1 * t1) == pytest.approx(RM, rel=0.01)


def test_overtaking_hand_worked() -> None:
    """300 kt behind a 200 kt aircraft 10 NM ahead, 1 NM to the right: conflict in 184 s."""
    rel_pos, rel_vel = np.array([1 * NM, 10 * NM]), np.array([0.0, -100 * KT])
    newv, conf = _one(300 * KT, rel_pos, rel_vel)
    tcpa = 10 * NM / (100 * KT)  # 360 s, beyond the look-ahead; t_in = 360 - 176 = 184 s
    assert conf and tcpa - math.sqrt(25 - 1) * NM / (100 * KT) == pytest.approx(183.6, abs=0.1)
    dist = math.hypot(1, 10) * NM
    erratum = math.cos(math.asin(RM / dist) - math.asin(NM / dist))
    assert newv == pytest.approx([-(RM / erratum - NM) / tcpa, 300 * KT])  # sidestep left


def test_parallel_hand_worked() -> None:
    """Same speed, abreast: 6 NM is no conflict (relative speed 0); 4 NM is a LoS to escape."""
    newv, conf = _one(V, (6 * NM, 0.0), (0.0, 0.0))
    assert not conf and newv == pytest.approx([0.0, V])
    newv, conf = _one(V, (4 * NM, 0.0), (0.0, 0.0))
    assert conf and newv[0] < -1000.0  # |tcpa| ~ 0: a large push away from the intruder
    env = ATCEnv(scenario="head_on", max_aircraft=2, k_intruders=1)
    mvp = BASELINES.get("mvp").policy(env.observation_space("aircraft_0"), env.action_space("aircraft_0"))
    env.reset(seed=0)
    eng = env.engine
    eng.pos[0] = [[0.0, 0.0], [4 * NM, 0.0]]
    eng.heading[0], eng.speed[0] = 0.0, V
    eng._geom()
    act = mvp.act(eng.observe()[0])
    assert act[0] == pytest.approx([-1.0, 1.0])  # hard left, speed limit up
    assert act[1] == pytest.approx([1.0, 1.0])   # the other turns right (its own view)


def test_heading_only_and_speed_only() -> None:
    d, w = 20 * NM, 2 * V
    both, _ = _one(V, (0.0, d), (0.0, -w))
    env = ATCEnv(scenario="head_on", max_aircraft=2, k_intruders=1, rotate=False, jitter_nm=0.0,
                 speed_jitter_kt=0.0)
    env.reset(seed=0)
    eng = env.engine
    eng.pos[0] = [[0.0, 0.0], [0.0, d]]
    eng._geom()
    rows = eng.observe()[0]
    space = (env.observation_space("aircraft_0"), env.action_space("aircraft_0"))
    mag = float(np.linalg.norm(both))  # 282 kt, inside the 200-300 kt limits
    for mode, dpsi, gs in (("heading", math.atan2(both[0], both[1]), V),
                           ("speed", 0.0, mag), ("both", math.atan2(both[0], both[1]), mag)):
        pol = BASELINES.get("mvp").policy(*space, {"mode": mode})
        h, s, conf = pol.resolution(rows)
        assert conf[0] and h[0] == pytest.approx(dpsi, abs=1e-5), mode
        assert s[0] == pytest.approx(gs, rel=1e-5), mode
    with pytest.raises(ValueError):
        BASELINES.get("mvp").policy(*space, {"margin": 0.5})


def test_vertical_separation_is_no_conflict() -> None:
    _, conf = _one(V, (0.0, 20 * NM), (0.0, -2 * V), dalt=1000 * 0.3048)
    assert not conf  # |dalt| = H is not inside the zone
    _, conf = _one(V, (0.0, 20 * NM), (0.0, -2 * V), dalt=900 * 0.3048)
    assert conf


def test_resume_holds_until_past_cpa() -> None:
    """Intruder ahead on a reciprocal track, 1.2 margin radii to the right: no conflict now.
    Resuming a route 20 deg to the right would bring it back; 20 deg left would not."""
    rel_pos, rel_vel = np.array([[[1.2 * RM, 8 * NM]]]), np.array([[[0.0, -2 * V]]])
    args = (np.zeros((1, 1)), np.array([[True]]), P)
    assert not _one(V, rel_pos[0, 0], rel_vel[0, 0])[1]
    right = V * np.array([[math.sin(math.radians(20)), math.cos(math.radians(20))]])
    left = right * np.array([[-1.0, 1.0]])
    assert direct_conflict(np.array([V]), right, rel_pos, rel_vel, *args)[0]
    assert not direct_conflict(np.array([V]), left, rel_pos, rel_vel, *args)[0]
    # once past the CPA nothing holds the aircraft off its route
    assert not direct_conflict(np.array([V]), right, rel_pos * [1, -1], rel_vel, *args)[0]


def test_mvp_beats_direct_on_every_scenario(rollout) -> None:
    for scenario in ("head_on", "parallel", "t_formation", "canonical_crossing", "converging", "random"):
        env = ATCEnv(scenario=scenario, max_aircraft=6, n_aircraft=6, k_intruders=5)
        space = (env.observation_space("aircraft_0"), env.action_space("aircraft_0"))
        los = {}
        for name in ("direct", "mvp"):
            pol = BASELINES.get(name).policy(*space)
            los[name] = sum(rollout(env, pol.act, s)[1]["los_events"] for s in range(3))
        assert los["mvp"] < 0.3 * los["direct"], (scenario, los)


# --- BlueSky's own MVP as an oracle -------------------------------------------------------

@pytest.fixture(scope="module")
def bluesky(pytestconfig):
    """BlueSky initialised headless, flat-earth geometry (lat = north m, lon = east m); its
    settings and navigation-data cache live in pytest's cache folder."""
    bs = pytest.importorskip("bluesky")
    bs.init(mode="sim", detached=True, workdir=str(pytestconfig.cache.mkdir("bluesky")))
    from bluesky.traffic.asas import statebased

    def flat(lat1, lon1, lat2, lon2):  # qdr[i, j] from i to j (deg), distance in NM
        n_, e_ = np.asarray(lat2).reshape(1, -1) - np.asarray(lat1).reshape(-1, 1), \
            np.asarray(lon2).reshape(1, -1) - np.asarray(lon1).reshape(-1, 1)
        return np.degrees(np.arctan2(e_, n_)), np.hypot(e_, n_) / NM

    statebased.geo.kwikqdrdist_matrix = flat
    bs.stack.stack("CDMETHOD STATEBASED")
    bs.stack.stack("RESO MVP")
    bs.stack.process()
    bs.traf.cr.resofach = P.margin
    return bs


def _bluesky_resolve(bs, pos, hdg, spd, alt):
    if bs.traf.ntraf:
        bs.traf.delete(np.arange(bs.traf.ntraf))
    n = len(hdg)
    for i in range(n):
        bs.traf.cre(f"AC{i}", "B744", 0.0, 0.0, 0.0, alt[i], spd[i])
    bs.traf.lat[:], bs.traf.lon[:] = pos[:, 1], pos[:, 0]
    bs.traf.trk[:], bs.traf.hdg[:] = np.degrees(hdg) % 360, np.degrees(hdg) % 360
    bs.traf.gs[:], bs.traf.tas[:] = spd, spd
    bs.traf.gseast[:], bs.traf.gsnorth[:] = spd * np.sin(hdg), spd * np.cos(hdg)
    bs.traf.alt[:], bs.traf.vs[:] = alt, 0.0
    bs.traf.perf.vmin[:], bs.traf.perf.vmax[:] = 200 * KT, 300 * KT
    bs.traf.cd.update(bs.traf, bs.traf)
    trk, gs, _, _ = bs.traf.cr.resolve(bs.traf.cd, bs.traf, bs.traf)
    inconf = np.array(bs.traf.cd.inconf, dtype=bool)
    return np.radians(np.asarray(trk)), np.asarray(gs), inconf


@pytest.mark.slow
@pytest.mark.parametrize("n", [2, 3, 6])
def test_matches_bluesky_mvp_on_random_encounters(bluesky, n: int) -> None:
    rng = np.random.default_rng(n)
    env = ATCEnv(scenario="random", max_aircraft=n, n_aircraft=n, k_intruders=n - 1, altitude_layers=2)
    space = (env.observation_space("aircraft_0"), env.action_space("aircraft_0"))
    pol = BASELINES.get("mvp").policy(*space, {"resume": "immediate"})
    checked = 0
    for trial in range(40):
        env.reset(seed=trial)
        eng = env.engine
        # close random encounters: within 25 NM, random tracks and speeds, two levels
        eng.pos[0] = rng.uniform(-12.5, 12.5, (n, 2)) * NM
        eng.heading[0] = rng.uniform(-np.pi, np.pi, n)
        eng.speed[0] = rng.uniform(210, 290, n) * KT
        eng.alt[0] = rng.choice([0.0, 300.0], n)
        eng._geom()
        dpsi, gs, conf = pol.resolution(eng.observe()[0])
        trk_bs, gs_bs, inconf = _bluesky_resolve(bluesky, eng.pos[0], eng.heading[0], eng.speed[0],
                                                 eng.alt[0])
        assert (conf == inconf).all(), trial
        for i in np.flatnonzero(conf):
            assert wrap_angle(eng.heading[0, i] + dpsi[i] - trk_bs[i]) == pytest.approx(0.0, abs=1e-4)
            assert gs[i] == pytest.approx(gs_bs[i], rel=1e-4)
            checked += 1
    assert checked >= 10



def test_resume_margin_holds_off_a_route_that_clears_the_zone_narrowly() -> None:
    """The way back (20 deg right) passes an intruder ahead at 1.15 zone radii: the default rule
    resumes, a resume margin of 1.3 holds, 1.1 resumes; once the intruder's CPA has passed
    nothing holds the aircraft."""
    r = 5 * NM
    right = V * np.array([[math.sin(math.radians(20)), math.cos(math.radians(20))]])
    rel_vel = np.array([[[0.0, -2 * V]]])
    w = rel_vel[0, 0] + np.array([0.0, V]) - right[0]  # relative velocity on the way back
    y = 8 * NM
    x = (y * w[0] - 1.15 * r * np.hypot(*w)) / w[1]  # |d x w| / |w| = 1.15 r, on the right
    rel_pos = np.array([[[x, y]]])
    dcpa = abs(x * w[1] - y * w[0]) / np.hypot(*w)
    assert dcpa == pytest.approx(1.15 * r)
    assert not _one(V, rel_pos[0, 0], rel_vel[0, 0])[1]  # no conflict at the current velocities
    valid, dalt = np.array([[True]]), np.zeros((1, 1))
    for resume_margin, held in ((1.0, False), (1.1, False), (1.3, True)):
        p = MVPParams(resume_margin=resume_margin)
        assert direct_conflict(np.array([V]), right, rel_pos, rel_vel, dalt, valid, p)[0] == held
        past = direct_conflict(np.array([V]), right, rel_pos * [1, -1], rel_vel, dalt, valid, p)[0]
        assert not past
    with pytest.raises(ValueError, match="past_cpa"):
        MVPParams(resume="immediate", resume_margin=1.2)
