"""The renderer of ``hlynr/Swarm-v0``: the engagement seen from above (SI units, world frame
centred on the defended zone, threat axis +x).

A frame (:func:`draw_frame`) shows the defended zone, the target's path so far and its heading,
every interceptor (an arrow along its velocity, its id) with its path and its detection range
(a circle of ``detect_range``), lost interceptors as grey crosses, and, in the step where the
target is intercepted, the interceptor that got it (a gold ring). Text gives the sim time, the
agents alive, their mean fuel, the closest approach so far and, at the end, the outcome.

:func:`snapshot` reads one step of one copy from a :class:`~hlynr.envs.swarm.engine.SwarmEngine`
by name; :func:`scene` the episode's static data; :func:`interceptors` finds the agent(s) that
intercepted from two consecutive snapshots by the engine's own rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hlynr.envs.drawing import MUTED, TEXT, Color, Frame, PlacedView, format_time, nice_length, place, text_size
from hlynr.envs.rendering import DEFAULT_SIZE, Renderer, Size
from hlynr.envs.swarm.engine import SwarmEngine
from hlynr.envs.swarm.outcome import segment_cpa

TARGET: Color = (205, 35, 35)
AGENT: Color = (25, 85, 205)
AGENT_PATH: Color = (150, 175, 225)
DETECT: Color = (185, 205, 240)
LOST: Color = (140, 140, 140)
HIT: Color = (225, 160, 0)
ZONE: Color = (250, 215, 215)
ZONE_LINE: Color = (205, 110, 110)


@dataclass(frozen=True)
class SwarmSnapshot:
    """One step of one swarm engagement: what a frame draws (m, m/s; ``M = max_agents`` slots)."""

    t: float
    """Sim time (s)."""
    steps: int
    """Steps taken in the episode."""
    pos: np.ndarray
    """Interceptor positions (M, 2)."""
    vel: np.ndarray
    """Interceptor velocities (M, 2)."""
    fuel: np.ndarray
    """Fuel fractions (M,)."""
    active: np.ndarray
    """Slots in use this episode (M,) bool."""
    alive: np.ndarray
    """Active and not lost (M,) bool."""
    target_pos: np.ndarray
    """True target position (2,)."""
    target_vel: np.ndarray
    """True target velocity (2,)."""
    miss: float
    """Smallest agent-target distance so far (m; inf before the first step)."""


@dataclass(frozen=True)
class SwarmScene:
    """The static data of one episode's frames."""

    zone_radius: float
    kill_radius: float
    detect_range: float
    max_steps: int
    target_speed: float
    evasion: str
    lo: tuple[float, float]
    hi: tuple[float, float]
    """World box (x, y) of the view (m)."""


def snapshot(engine: SwarmEngine, copy: int = 0) -> SwarmSnapshot:
    """The state of ``copy`` of ``engine`` now."""
    st = engine.state
    c = int(copy)
    return SwarmSnapshot(
        t=float(st.t[c]), steps=int(st.steps[c]), pos=st.pos[c].copy(), vel=st.vel[c].copy(),
        fuel=st.fuel[c].copy(), active=st.active[c].copy(), alive=st.alive[c].copy(),
        target_pos=st.tpos[c].copy(), target_vel=st.tvel[c].copy(), miss=float(st.miss[c]),
    )


def scene(engine: SwarmEngine, copy: int = 0) -> SwarmScene:
    """The scene of the episode ``copy`` of ``engine`` is in (call at its start: the view holds
    the zone, the agents' start box and the target's start)."""
    p = engine.table.models[int(copy)]
    first = snapshot(engine, copy)
    x0, x1, y0, y1 = p.start_box
    xs = [-p.zone_radius, p.zone_radius, x0, x1, float(first.target_pos[0])]
    ys = [-p.zone_radius, p.zone_radius, y0, y1, float(first.target_pos[1])]
    xs += first.pos[first.active, 0].tolist()
    ys += first.pos[first.active, 1].tolist()
    pad = max(0.06 * max(max(xs) - min(xs), max(ys) - min(ys)), p.detect_range * 0.5)
    return SwarmScene(
        zone_radius=p.zone_radius, kill_radius=p.kill_radius, detect_range=p.detect_range,
        max_steps=p.max_steps, target_speed=p.target_speed, evasion=p.evasion,
        lo=(min(xs) - pad, min(ys) - pad), hi=(max(xs) + pad, max(ys) + pad),
    )


def interceptors(prev: SwarmSnapshot, cur: SwarmSnapshot, scene: SwarmScene) -> np.ndarray:
    """The agents (M,) bool that intercepted the target in the step from ``prev`` to ``cur``:
    alive at its start and passing within ``kill_radius`` of the target inside the step (closest
    approach of the linear relative motion), unless the target entered the zone first (the
    engine's rule, :func:`hlynr.envs.swarm.outcome.engagement`)."""
    tau, dist = segment_cpa(prev.target_pos[None, :] - prev.pos, cur.target_pos[None, :] - cur.pos)
    inside = prev.alive & (dist <= scene.kill_radius)
    if not inside.any():
        return inside
    tau_hit = float(np.where(inside, tau, 1.0).min())
    tau_esc, d_zone = segment_cpa(prev.target_pos[None, :], cur.target_pos[None, :])
    if d_zone[0] <= scene.zone_radius and not tau_hit <= tau_esc[0]:
        return np.zeros_like(inside)
    return inside


def outcome(steps: Sequence[SwarmSnapshot], scene: SwarmScene) -> str:
    """How the episode stands at ``steps[-1]``: ``"intercept"``, ``"escaped"``, ``"all lost"``,
    ``"time limit"`` (it ended in that step) or ``""`` (it runs)."""
    cur = steps[-1]
    if len(steps) >= 2:
        prev = steps[-2]
        if interceptors(prev, cur, scene).any():
            return "intercept"
        _, d_zone = segment_cpa(prev.target_pos[None, :], cur.target_pos[None, :])
        if d_zone[0] <= scene.zone_radius:
            return "escaped"
    if cur.steps > 0 and not cur.alive.any():
        return "all lost"
    if cur.steps >= scene.max_steps:
        return "time limit"
    return ""


def view(scene: SwarmScene, size: Size = DEFAULT_SIZE) -> PlacedView:
    """The world-to-pixel transform of a frame's plan view (see :func:`hlynr.envs.drawing.frame_pixel`)."""
    w, h = size
    header = round(text_size(h) * 1.8)
    return place(scene.lo, scene.hi, (4, header, w - 8, h - header - 4), margin=0.02)


def draw_frame(steps: Sequence[SwarmSnapshot], scene: SwarmScene, size: Size = DEFAULT_SIZE) -> np.ndarray:
    """The frame of ``steps[-1]`` (earlier steps draw the paths) as an ``(H, W, 3)`` uint8 array."""
    frame = Frame(size)
    w, h = frame.size
    cur = steps[-1]
    p, at = frame.panel(view(scene, frame.size))
    p.grid(nice_length(p.view.width / p.view.scale / 8.0))
    p.circle((0.0, 0.0), scene.zone_radius, outline=ZONE_LINE, fill=ZONE, width=2)
    p.label((0.0, -scene.zone_radius), "defended zone", ZONE_LINE, offset=(-40, 16))
    slots = np.flatnonzero(cur.active)
    for i in slots:
        p.polyline(np.array([s.pos[i] for s in steps]), AGENT_PATH, 1)
    for i in slots:
        if cur.alive[i]:
            p.circle(cur.pos[i], scene.detect_range, outline=DETECT)
    p.polyline(np.array([s.target_pos for s in steps]), TARGET, 2)
    hit = interceptors(steps[-2], cur, scene) if len(steps) >= 2 else np.zeros(len(cur.alive), dtype=bool)
    for i in slots:
        if cur.alive[i]:
            p.triangle(cur.pos[i], cur.vel[i], 7, AGENT)
            p.label(cur.pos[i], str(i), AGENT, offset=(7, -4))
        else:
            p.cross(cur.pos[i], 4, LOST, width=2)
            p.label(cur.pos[i], f"{i} lost", LOST, offset=(7, -4))
        if hit[i]:
            p.dot(cur.pos[i], 12, None, outline=HIT, width=3)
    p.triangle(cur.target_pos, cur.target_vel, 8, TARGET)
    p.label(cur.target_pos, "target", TARGET, offset=(9, 12))
    p.legend([(TARGET, "target"), (AGENT, "interceptor"), (DETECT, "detection range"), (LOST, "lost"),
              (HIT, "intercepted it")])
    p.scale_bar()
    frame.paste(p, at)

    alive = int(cur.alive.sum())
    n = int(cur.active.sum())
    fuel = float(cur.fuel[cur.active].mean()) if n else 0.0
    miss = f"{cur.miss:,.0f} m" if np.isfinite(cur.miss) else "-"
    frame.text((6, 5), f"t = {format_time(cur.t)}   alive {alive}/{n}   fuel {100 * fuel:.0f}%   "
                       f"closest {miss}   target {scene.target_speed:.0f} m/s, evasion {scene.evasion}", TEXT)
    result = outcome(steps, scene)
    if result:
        text = result.upper()
        if result == "intercept":
            text += " by " + ", ".join(f"interceptor_{i}" for i in np.flatnonzero(hit))
        frame.text((w - 8, 5), text, HIT if result == "intercept" else (TARGET if result != "time limit" else MUTED),
                   anchor="ra")
    return frame.array()


def render_fps(engine: SwarmEngine) -> float:
    """Frames per second of real time: one frame per step of the first copy's ``dt``."""
    return 1.0 / float(engine.table.dt[0])


RENDERER: Renderer[SwarmEngine, SwarmSnapshot, SwarmScene] = Renderer(
    snapshot=snapshot, scene=scene, draw=draw_frame, fps=render_fps)
"""The swarm renderer for a batched VecEnv's copies."""
