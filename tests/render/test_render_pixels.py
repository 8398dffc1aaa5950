"""Frames of constructed states have the expected colours where it matters, at the pixels the
panels' world-to-pixel transforms give (every expected value is computed here, none recorded)."""

from __future__ import annotations

import numpy as np
import pytest

from hlynr.envs.atc import ATCEnv
from hlynr.envs.atc import render as atc
from hlynr.envs.atc.units import NM
from hlynr.envs.drawing import frame_pixel, nice_length
from hlynr.envs.intercept import InterceptEnv
from hlynr.envs.intercept import render as ic
from hlynr.envs.swarm import SwarmInterceptEnv
from hlynr.envs.swarm import render as sw


def _at(frame: np.ndarray, px: tuple[int, int]) -> tuple[int, ...]:
    col, row = px
    return tuple(int(c) for c in frame[row, col])


def test_nice_length() -> None:
    assert [nice_length(x) for x in (0.7, 1.0, 3.9, 7.2, 19.0, 2500.0)] == [0.5, 1.0, 2.0, 5.0, 10.0, 2000.0]


# ---------------------------------------------------------------- ATC
def _atc_state() -> tuple[atc.ATCSnapshot, atc.ATCScene]:
    pos = np.array([[-10.0, 0.0], [-7.0, 0.0], [15.0, 20.0], [25.0, -15.0], [10.0, -15.0]]) * NM
    m = len(pos)
    los = np.zeros((m, m), dtype=bool)
    conflict = np.zeros((m, m), dtype=bool)
    los[0, 1] = los[1, 0] = True  # 3 NM apart, inside the 5 NM minimum
    conflict[3, 4] = conflict[4, 3] = True
    snap = atc.ATCSnapshot(
        t=600.0, pos=pos, heading=np.zeros(m), speed=np.full(m, 128.6), alt=np.zeros(m),
        exit=pos + [0.0, 30 * NM], flying=np.ones(m, dtype=bool), los=los, conflict=conflict)
    scene = atc.ATCScene(pz_radius=5 * NM, exit_radius=2 * NM, sector_radius=40 * NM, lookahead=300.0,
                         lo=(-45 * NM, -45 * NM), hi=(45 * NM, 45 * NM), layers=1)
    return snap, scene


def test_atc_colours_by_separation_state_at_the_aircraft_pixels() -> None:
    snap, scene = _atc_state()
    frame = atc.draw_frame([snap], scene)
    placed = atc.view(scene)
    expected = [atc.LOS, atc.LOS, atc.OK, atc.CONFLICT, atc.CONFLICT]
    for i, colour in enumerate(expected):
        assert _at(frame, frame_pixel(placed, *snap.pos[i])) == colour, i
    # the protected-zone circle (half the minimum) crosses the aircraft's east-west line there
    for i in (0, 2):
        edge = frame_pixel(placed, snap.pos[i][0], snap.pos[i][1] + 0.5 * scene.pz_radius)
        near = [_at(frame, (edge[0], edge[1] + d)) for d in (-1, 0, 1)]
        assert expected[i] in near
    # a flight that has left the sector is not drawn
    gone = atc.ATCSnapshot(**{**snap.__dict__, "flying": np.array([True, True, False, True, True])})
    assert _at(atc.draw_frame([gone], scene), frame_pixel(placed, *snap.pos[2])) != atc.OK


def test_atc_env_snapshot_flags_are_the_engine_flags() -> None:
    """Head-on traffic: the snapshot's losses of separation and conflicts are the engine's."""
    env = ATCEnv(scenario="head_on", jitter_nm=0.0, speed_jitter_kt=0.0, rotate=False, render_mode="rgb_array")
    env.reset(seed=0)
    seen_los = False
    while env.agents:
        env.step({a: np.zeros(2) for a in env.agents})
        snap = env._episode.steps[-1]
        eng = env.engine
        if env.agents:
            np.testing.assert_array_equal(snap.los, eng.in_los[0])
            np.testing.assert_array_equal(snap.conflict, eng.in_conf[0] & ~eng.in_los[0])
        if snap.los.any():
            seen_los = True
            frame = env.render()
            placed = atc.view(env._episode.scene)
            for i in np.flatnonzero(snap.flying):
                assert _at(frame, frame_pixel(placed, *snap.pos[i])) == atc.LOS
    assert seen_los


# ---------------------------------------------------------------- Intercept
def _engagement() -> tuple[list[ic.InterceptSnapshot], ic.InterceptScene, np.ndarray]:
    """Interceptor along +x at 800 m/s, threat along -x at 200 m/s 30 m to the side: closest
    approach 30 m at t = 0.85 s, between two control steps."""
    steps = []
    times = np.round(np.arange(0.0, 1.0001, 0.1), 10)
    for t in times:
        own = np.array([800.0 * t, 0.0, 100.0 + 100.0 * t])
        threat = np.array([850.0 - 200.0 * t, 30.0, 100.0 + 100.0 * t])
        steps.append(ic.InterceptSnapshot(
            t=float(t), threat_pos=threat, threat_vel=np.array([-200.0, 0.0, 100.0]), own_pos=own,
            own_vel=np.array([800.0, 0.0, 100.0]), accel_cmd=np.array([0.0, 50.0, 0.0]), fuel=30.0,
            estimate_pos=threat + [5.0, 5.0, 0.0], estimate_std=3.0, detected=True,
            min_dist=30.0 if t >= 0.85 else float(np.linalg.norm(threat - own)),
            t_cpa=0.85 if t >= 0.85 else float(t), reason="miss" if t == times[-1] else ""))
    scene = ic.make_scene(steps[0], kill_radius=10.0, fuel_mass=40.0, accel_limit=245.0)
    return steps, scene, np.array([680.0, 0.0, 185.0])


def test_intercept_closest_approach_point_is_where_the_trajectory_says() -> None:
    steps, scene, own_cpa = _engagement()
    own, threat = ic.closest_approach_points(steps)
    np.testing.assert_allclose(own, own_cpa, atol=1e-9)
    assert np.linalg.norm(threat - own) == pytest.approx(30.0)
    frame = ic.draw_frame(steps, scene)
    placed = ic.views(scene)
    assert _at(frame, frame_pixel(placed["top"], own[0], own[1])) == ic.CPA
    s, z = ic.side_coordinates(own, scene.axis)[0]
    assert _at(frame, frame_pixel(placed["side"], s, z)) == ic.CPA
    # while the episode runs there is no closest-approach marker, and the threat is where it is
    running = ic.draw_frame(steps[:5], scene)
    assert _at(running, frame_pixel(placed["top"], own[0], own[1])) != ic.CPA
    tp = steps[4].threat_pos
    assert _at(running, frame_pixel(placed["top"], tp[0], tp[1])) == ic.THREAT


def test_intercept_env_final_frame_marks_its_miss() -> None:
    env = InterceptEnv(render_mode="rgb_array")
    env.reset(seed=2)
    info: dict = {}
    while not info:
        _, _, _, _, info = env.step(np.zeros(2))
    steps = list(env._episode.steps)
    assert steps[-1].reason == info["termination_reason"]
    assert steps[-1].min_dist == info["miss_distance"] and steps[-1].t_cpa == info["time_to_intercept"]
    own, _ = ic.closest_approach_points(steps)
    placed = ic.views(env._episode.scene)
    assert _at(env.render(), frame_pixel(placed["top"], own[0], own[1])) == ic.CPA


# ---------------------------------------------------------------- Swarm
def _swarm_step() -> tuple[sw.SwarmSnapshot, sw.SwarmSnapshot, sw.SwarmScene]:
    """Agent 1 passes 30 m from the target inside the step (kill radius 50 m); 0 and 2 are far."""
    vel = np.tile([150.0, 0.0], (3, 1))
    ones = np.ones(3, dtype=bool)

    def snap(t: float, pos: list[list[float]], tpos: list[float]) -> sw.SwarmSnapshot:
        return sw.SwarmSnapshot(t=t, steps=int(round(t * 10)), pos=np.array(pos), vel=vel, fuel=np.full(3, 0.5),
                                active=ones, alive=ones, target_pos=np.array(tpos),
                                target_vel=np.array([-1000.0, 0.0]), miss=30.0)

    prev = snap(4.0, [[2000.0, 1000.0], [4990.0, 0.0], [3000.0, -1500.0]], [5100.0, 30.0])
    cur = snap(4.1, [[2015.0, 1000.0], [5005.0, 0.0], [3015.0, -1500.0]], [5000.0, 30.0])
    scene = sw.SwarmScene(zone_radius=500.0, kill_radius=50.0, detect_range=2500.0, max_steps=300,
                          target_speed=1000.0, evasion="none", lo=(-1000.0, -3000.0), hi=(11000.0, 3000.0))
    return prev, cur, scene


def test_swarm_intercepting_agent_is_highlighted() -> None:
    prev, cur, scene = _swarm_step()
    np.testing.assert_array_equal(sw.interceptors(prev, cur, scene), [False, True, False])
    assert sw.outcome([prev, cur], scene) == "intercept"
    frame = sw.draw_frame([prev, cur], scene)
    placed = sw.view(scene)
    col, row = frame_pixel(placed, *cur.pos[1])
    assert _at(frame, (col, row - 11)) == sw.HIT  # the ring around agent 1
    for i in (0, 2):
        c, r = frame_pixel(placed, *cur.pos[i])
        assert _at(frame, (c, r)) == sw.AGENT
        assert _at(frame, (c, r - 11)) != sw.HIT
    # the step before: nobody intercepted yet
    assert not sw.interceptors(prev, prev, scene).any() and sw.outcome([prev], scene) == ""
    assert _at(sw.draw_frame([prev], scene), (col, row - 11)) != sw.HIT


def test_swarm_env_intercept_frame_highlights_the_engine_intercept() -> None:
    """The engine's in-step intercept (a head-on pass between two step ends) is the one drawn."""
    env = SwarmInterceptEnv(n_agents=1, max_agents=2, k_neighbours=1, target_speed=1900.0, kill_radius=10.0,
                            evasion="none", render_mode="rgb_array")
    env.reset(seed=0)
    st = env.engine.state
    st.pos[0, 0] = st.tpos[0] + st.tvel[0] * 0.05
    st.vel[0, 0] = -st.tvel[0] / np.linalg.norm(st.tvel[0]) * 100.0
    env._episode.start(sw.snapshot(env.engine), sw.scene(env.engine))  # the state placed by hand
    _, _, term, _, info = env.step({a: np.zeros(2) for a in env.agents})
    assert term["interceptor_0"] and info["interceptor_0"]["is_success"]
    prev, cur = env._episode.steps
    np.testing.assert_array_equal(sw.interceptors(prev, cur, env._episode.scene), [True, False])
    col, row = frame_pixel(sw.view(env._episode.scene), *cur.pos[0])
    assert _at(env.render(), (col, row - 11)) == sw.HIT
