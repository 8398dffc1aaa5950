"""The renderer of ``hlynr/Intercept-v0``: one engagement as a top view and a side view (SI units).

A frame (:func:`draw_frame`) shows, in the top view (x east, y north) and the side view (ground
distance along the threat's approach axis, altitude), the threat's and the interceptor's paths so
far, the line of sight, the radar track (estimate, with its 1-sigma and 2-sigma circles) beside
the true threat and the commanded lateral acceleration (an arrow, full length at the
acceleration limit). A zoomed panel centred on the true threat shows the track error and its
uncertainty at a scale where they are visible. Text gives the sim time, range, closing speed,
fuel and radar state; once the episode has ended, the closest-approach point and the miss
distance are marked.

:func:`snapshot` reads one step of one engagement from an
:class:`~hlynr.envs.intercept.core.InterceptCore` by name; :func:`scene` the episode's static
data. Both envs use them (``InterceptEnv(render_mode="rgb_array")`` and
``BatchedInterceptVecEnv(..., render_mode="rgb_array")``); any other holder of the same numbers
(a trajectory record) can build :class:`InterceptSnapshot` records and draw them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hlynr.envs.drawing import (
    MUTED,
    TEXT,
    Color,
    Frame,
    Panel,
    PlacedView,
    format_time,
    nice_length,
    place,
    text_size,
)
from hlynr.envs.intercept.core import InterceptCore
from hlynr.envs.intercept.params import G0
from hlynr.envs.intercept.reward import TERMINATION_REASONS, Reason
from hlynr.envs.rendering import DEFAULT_SIZE, Renderer, Size

THREAT: Color = (205, 35, 35)
INTERCEPTOR: Color = (25, 85, 205)
ESTIMATE: Color = (235, 130, 0)
LOS: Color = (120, 120, 120)
ACCEL: Color = (0, 140, 70)
CPA: Color = (165, 0, 165)
DEFENDED: Color = (60, 60, 60)
GROUND: Color = (150, 120, 80)
KILL: Color = (220, 150, 150)


@dataclass(frozen=True)
class InterceptSnapshot:
    """One step of one engagement: what a frame draws (SI units, world frame x east, y north, z up)."""

    t: float
    """Sim time (s)."""
    threat_pos: np.ndarray
    """True threat position (3,) (m)."""
    threat_vel: np.ndarray
    """True threat velocity (3,) (m/s)."""
    own_pos: np.ndarray
    """Interceptor position (3,) (m)."""
    own_vel: np.ndarray
    """Interceptor velocity (3,) (m/s)."""
    accel_cmd: np.ndarray
    """Commanded lateral acceleration (3,) (m/s^2) of the step that led here (zero at a reset)."""
    fuel: float
    """Fuel left (kg)."""
    estimate_pos: np.ndarray | None
    """The radar track's threat position estimate (3,) (m); ``None`` in truth mode."""
    estimate_std: float
    """1-sigma of the estimate per axis (m) (the filter's variance is the same on every axis)."""
    detected: bool
    """The radar detected the threat this step."""
    min_dist: float
    """Closest approach so far (m)."""
    t_cpa: float
    """Time of that closest approach (s)."""
    reason: str = ""
    """Why the episode ended at this step (a termination reason name), ``""`` while it runs."""


@dataclass(frozen=True)
class InterceptScene:
    """The static data of one episode's frames: parameters and fixed panel bounds."""

    kill_radius: float
    fuel_mass: float
    accel_limit: float
    """Lateral acceleration limit (m/s^2): the full length of the acceleration arrow."""
    top_lo: tuple[float, float]
    top_hi: tuple[float, float]
    """World box (x, y) of the top view (m)."""
    axis: tuple[float, float]
    """Unit ground vector of the side view's horizontal axis (from the defended point toward the
    threat's start)."""
    side_lo: tuple[float, float]
    side_hi: tuple[float, float]
    """World box (along-axis distance, altitude) of the side view (m)."""


def _vec(a: np.ndarray) -> np.ndarray:
    return np.array(a, dtype=np.float64, copy=True)


def snapshot(core: InterceptCore, i: int = 0, reason: int = int(Reason.RUNNING)) -> InterceptSnapshot:
    """The state of engagement ``i`` of ``core`` now; ``reason``: the termination code of the step
    that led here (:class:`~hlynr.envs.intercept.reward.Reason`, ``RUNNING`` while it runs)."""
    tracker = core.tracker
    est: np.ndarray | None = None
    std, detected = 0.0, True
    if tracker is not None:
        track = tracker.track
        est = _vec(track.p[:, i])
        std = float(np.sqrt(max(float(track.pp[i]), 0.0)))
        detected = bool(tracker.detected[i])
    return InterceptSnapshot(
        t=float(core.t[i]), threat_pos=_vec(core.tp[:, i]), threat_vel=_vec(core.tv[:, i]),
        own_pos=_vec(core.mp[:, i]), own_vel=_vec(core.mv[:, i]),
        accel_cmd=_vec(core.last_accel_cmd[:, i]), fuel=float(core.fuel[i]), estimate_pos=est,
        estimate_std=std, detected=detected, min_dist=float(core.min_dist[i]), t_cpa=float(core.t_cpa[i]),
        reason="" if reason == int(Reason.RUNNING) else TERMINATION_REASONS[reason],
    )


def scene(core: InterceptCore, i: int = 0) -> InterceptScene:
    """The scene of the episode engagement ``i`` of ``core`` is in (call at its start: the panel
    bounds come from the initial positions)."""
    params = core.models[i].resolve()
    return make_scene(snapshot(core, i), params.kill_radius, params.fuel_mass, params.accel_limit)


def make_scene(first: InterceptSnapshot, kill_radius: float, fuel_mass: float, accel_limit: float
               ) -> InterceptScene:
    """The scene of an episode starting at ``first``: the top view holds the defended point (the
    origin, which the threat flies at), the threat and the launcher; the side view the same
    along the threat's approach axis, from the ground to above the threat."""
    tp, mp = first.threat_pos, first.own_pos
    xs = np.array([0.0, tp[0], mp[0]])
    ys = np.array([0.0, tp[1], mp[1]])
    pad = max(0.08 * max(np.ptp(xs), np.ptp(ys)), 500.0)
    top_lo = (float(xs.min() - pad), float(ys.min() - pad))
    top_hi = (float(xs.max() + pad), float(ys.max() + pad))
    g = float(np.hypot(tp[0], tp[1]))
    axis = (float(tp[0] / g), float(tp[1] / g)) if g > 1e-6 else (1.0, 0.0)
    s = np.array([0.0, g, mp[0] * axis[0] + mp[1] * axis[1]])
    z_top = max(float(tp[2]), float(mp[2]), 500.0) * 1.15
    pad_s = max(0.05 * np.ptp(s), 300.0)
    return InterceptScene(
        kill_radius=float(kill_radius), fuel_mass=float(fuel_mass), accel_limit=float(accel_limit),
        top_lo=top_lo, top_hi=top_hi, axis=axis,
        side_lo=(float(s.min() - pad_s), -0.04 * z_top), side_hi=(float(s.max() + pad_s), z_top),
    )


def closest_approach_points(steps: Sequence[InterceptSnapshot]) -> tuple[np.ndarray, np.ndarray]:
    """Interceptor and threat positions (3,) each at the closest approach of the last step's
    ``t_cpa``, linearly interpolated between the snapshots around it."""
    last = steps[-1]
    t = last.t_cpa
    for a, b in zip(steps[:-1], steps[1:]):
        if a.t <= t <= b.t:
            s = 0.0 if b.t <= a.t else (t - a.t) / (b.t - a.t)
            return a.own_pos + s * (b.own_pos - a.own_pos), a.threat_pos + s * (b.threat_pos - a.threat_pos)
    ref = steps[0] if t <= steps[0].t else last
    return ref.own_pos, ref.threat_pos


def side_coordinates(xyz: np.ndarray, axis: tuple[float, float]) -> np.ndarray:
    """Side-view coordinates (along-axis distance, altitude) (n, 2) of points ``xyz`` (n, 3)."""
    xyz = np.asarray(xyz, dtype=float).reshape(-1, 3)
    return np.stack([xyz[:, 0] * axis[0] + xyz[:, 1] * axis[1], xyz[:, 2]], axis=1)


def layout(size: Size) -> dict[str, tuple[int, int, int, int]]:
    """Pixel rectangles ``(left, top, width, height)`` of the panels of a frame of ``size``."""
    w, h = size
    split = round(0.60 * h)
    right = round(0.64 * w)
    low = split + text_size(h) + 10
    return {
        "top": (4, 4, right - 8, split - 8),
        "zoom": (right, 4, w - right - 4, split - 8),
        "legend": (4, split, w - 8, low - split - 4),
        "side": (4, low, right - 8, h - low - 4),
        "text": (right, low, w - right - 4, h - low - 4),
    }


def views(scene: InterceptScene, size: Size = DEFAULT_SIZE) -> dict[str, PlacedView]:
    """The world-to-pixel transforms of the ``top`` and ``side`` panels of a frame (see
    :func:`hlynr.envs.drawing.frame_pixel`); the side view's world x is :func:`side_coordinates`."""
    rects = layout(size)
    return {"top": place(scene.top_lo, scene.top_hi, rects["top"], margin=0.02),
            "side": place(scene.side_lo, scene.side_hi, rects["side"], margin=0.02)}


def _markers(p: Panel, cur: InterceptSnapshot, pts: dict[str, np.ndarray], scene: InterceptScene) -> None:
    """Line of sight, track estimate, acceleration arrow and the two bodies (projected points)."""
    own, threat = pts["own"][-1], pts["threat"][-1]
    p.segment(own, threat, LOS, dash=5)
    if "est" in pts:
        est = pts["est"]
        for k, width in ((2.0, 1), (1.0, 1)):
            p.circle(est, k * cur.estimate_std, outline=ESTIMATE, width=width)
        p.cross(est, 4, ESTIMATE, width=2)
    a = pts["accel"]
    a_len = float(np.hypot(a[0], a[1]))
    if a_len > 1e-9:
        p.arrow(own, a, 48.0 * min(a_len / max(scene.accel_limit, 1e-9), 1.0), ACCEL)
    p.triangle(threat, pts["threat_vel"], 7, THREAT)
    p.triangle(own, pts["own_vel"], 7, INTERCEPTOR)


def draw_frame(steps: Sequence[InterceptSnapshot], scene: InterceptScene, size: Size = DEFAULT_SIZE) -> np.ndarray:
    """The frame of ``steps[-1]`` (earlier steps draw the paths) as an ``(H, W, 3)`` uint8 array."""
    frame = Frame(size)
    cur = steps[-1]
    rects = layout(frame.size)
    placed = views(scene, frame.size)
    own_path = np.array([s.own_pos for s in steps])
    threat_path = np.array([s.threat_pos for s in steps])
    ended = bool(cur.reason)
    cpa = closest_approach_points(steps) if ended else None

    # ---- top view
    top, at = frame.panel(placed["top"])
    top.grid(_grid_step(top))
    top.square((0.0, 0.0), 4, DEFENDED, width=2)
    top.label((0.0, 0.0), "defended point", DEFENDED, offset=(7, 4))
    top.polyline(threat_path[:, :2], THREAT, 2)
    top.polyline(own_path[:, :2], INTERCEPTOR, 2)
    pts = {"own": own_path[:, :2], "threat": threat_path[:, :2], "accel": cur.accel_cmd[:2],
           "threat_vel": cur.threat_vel[:2], "own_vel": cur.own_vel[:2]}
    if cur.estimate_pos is not None:
        pts["est"] = cur.estimate_pos[:2]
    _markers(top, cur, pts, scene)
    if cpa is not None:
        _cpa_marker(top, cpa[0][:2], cur)
    top.title("top view: x east, y north")
    top.scale_bar()
    frame.paste(top, at)

    # ---- side view
    side, at = frame.panel(placed["side"])
    side.grid(_grid_step(side))
    side.segment((scene.side_lo[0] - 1e5, 0.0), (scene.side_hi[0] + 1e5, 0.0), GROUND, width=2)
    side.square((0.0, 0.0), 4, DEFENDED, width=2)
    own_s, threat_s = side_coordinates(own_path, scene.axis), side_coordinates(threat_path, scene.axis)
    side.polyline(threat_s, THREAT, 2)
    side.polyline(own_s, INTERCEPTOR, 2)
    spts = {"own": own_s, "threat": threat_s, "accel": side_coordinates(cur.accel_cmd, scene.axis)[0],
            "threat_vel": side_coordinates(cur.threat_vel, scene.axis)[0],
            "own_vel": side_coordinates(cur.own_vel, scene.axis)[0]}
    if cur.estimate_pos is not None:
        spts["est"] = side_coordinates(cur.estimate_pos, scene.axis)[0]
    _markers(side, cur, spts, scene)
    if cpa is not None:
        _cpa_marker(side, side_coordinates(cpa[0], scene.axis)[0], cur)
    side.title("side view: along the threat's approach, altitude")
    side.scale_bar()
    frame.paste(side, at)

    left, top_px, _, _ = rects["legend"]
    frame.legend_row((left + 2, top_px + 1), [
        (THREAT, "threat"), (INTERCEPTOR, "interceptor"), (ESTIMATE, "track, 1/2 sigma"),
        (ACCEL, "accel. cmd"), (CPA, "closest approach"), (LOS, "line of sight")])

    # ---- zoom on the threat: the track error and its uncertainty
    _zoom(frame, rects["zoom"], cur, scene, cpa)

    # ---- readouts
    left, top_px, _, _ = rects["text"]
    r = cur.threat_pos - cur.own_pos
    rng = float(np.linalg.norm(r))
    closing = -float(np.dot(r, cur.threat_vel - cur.own_vel)) / max(rng, 1e-9)
    lines: list[tuple[str, Color] | str] = [
        f"t = {format_time(cur.t)}",
        f"range {rng:,.0f} m",
        f"closing {closing:,.0f} m/s",
        f"fuel {cur.fuel:.1f} kg ({100 * cur.fuel / max(scene.fuel_mass, 1e-9):.0f}%)",
        f"accel. cmd {np.linalg.norm(cur.accel_cmd) / G0:.1f} g",
    ]
    if cur.estimate_pos is not None:
        lines.append((f"radar: {'detected' if cur.detected else 'coasting'}", TEXT if cur.detected else MUTED))
    else:
        lines.append(("sensor: truth", MUTED))
    if ended:
        hit = cur.reason == TERMINATION_REASONS[Reason.INTERCEPT]
        lines.append((cur.reason.replace("_", " ").upper(), CPA if hit else THREAT))
        lines.append((f"miss {cur.min_dist:.1f} m at {cur.t_cpa:.2f} s", CPA))
    frame.lines((left + 4, top_px), lines)
    return frame.array()


def _grid_step(p: Panel) -> float:
    """A round grid spacing giving about six lines across the panel."""
    return nice_length(p.view.width / p.view.scale / 6.0)


def _cpa_marker(p: Panel, at: np.ndarray, cur: InterceptSnapshot) -> None:
    p.dot(at, 6, None, outline=CPA, width=2)
    p.cross(at, 3, CPA, width=2)
    p.label(at, f"miss {cur.min_dist:.1f} m", CPA, offset=(9, -8))


def _zoom(frame: Frame, rect: tuple[int, int, int, int], cur: InterceptSnapshot, scene: InterceptScene,
          cpa: tuple[np.ndarray, np.ndarray] | None) -> None:
    """A top view centred on the true threat, scaled to show the track error and its 2-sigma circle."""
    centre = cur.threat_pos[:2]
    err = 0.0 if cur.estimate_pos is None else float(np.linalg.norm(cur.estimate_pos[:2] - centre))
    reach = max(err + 2.0 * cur.estimate_std, 2.0 * scene.kill_radius, 10.0)
    if cpa is not None:
        reach = max(reach, float(np.linalg.norm(cpa[0][:2] - cpa[1][:2])) + scene.kill_radius)
    half = 1.25 * reach
    lo, hi = (centre[0] - half, centre[1] - half), (centre[0] + half, centre[1] + half)
    p, at = frame.panel(place(lo, hi, rect, margin=0.0))
    p.grid(_grid_step(p))
    p.circle(centre, scene.kill_radius, outline=KILL)
    p.text((p.view.width - 6, p.view.height - 6), f"kill radius {scene.kill_radius:g} m", KILL, anchor="rb")
    if cur.estimate_pos is not None:
        est = cur.estimate_pos[:2]
        p.circle(est, 2.0 * cur.estimate_std, outline=ESTIMATE, width=1)
        p.circle(est, cur.estimate_std, outline=ESTIMATE, width=2)
        p.cross(est, 4, ESTIMATE, width=2)
    own = cur.own_pos[:2]
    if np.all(np.abs(own - centre) < half):
        p.triangle(own, cur.own_vel[:2], 6, INTERCEPTOR)
    if cpa is not None:
        p.segment(cpa[0][:2] - cpa[1][:2] + centre, centre, CPA, width=1)
        p.dot(cpa[0][:2] - cpa[1][:2] + centre, 4, None, outline=CPA, width=2)
    p.dot(centre, 3, THREAT)
    p.title("zoom on the threat: track error")
    p.scale_bar(fraction=0.4)
    frame.paste(p, at)
    if not math.isfinite(err):  # pragma: no cover - a diverged filter: say so
        frame.text((rect[0] + 4, rect[1] + rect[3] - 14), "track diverged", THREAT)


def render_fps(core: InterceptCore) -> float:
    """Frames per second of real time: one frame per control step."""
    return 1.0 / core.dt


RENDERER: Renderer[InterceptCore, InterceptSnapshot, InterceptScene] = Renderer(
    snapshot=snapshot, scene=scene, draw=draw_frame, fps=render_fps)
"""The Intercept renderer for a batched VecEnv's copies."""
