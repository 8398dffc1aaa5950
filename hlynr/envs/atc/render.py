"""The renderer of ``hlynr/ATC-v0``: the sector as a controller's plan view (NM, ft, kt).

A frame (:func:`draw_frame`) shows the sector, every aircraft flying (a marker and a one-minute
velocity vector along its heading, its slot id and, with several flight levels, its level),
its protected zone drawn as a circle of *half* the separation minimum (``pz_radius / 2``, so
two circles overlap exactly when the pair is closer than the minimum), its exit (a square with
the id) and its track so far. Colours give the separation state of each aircraft: green (no
conflict), amber (a predicted loss of separation within the look-ahead, joined to the other
aircraft by a thin amber line), red (a loss of separation now, joined by a red line). Text gives
the sim time and the counts.

:func:`snapshot` reads one step of one copy from an :class:`~hlynr.envs.atc.engine.ATCEngine`
(or the batched :class:`~hlynr.envs.atc.rows.ATCRowsEngine`) by name; :func:`scene` the
episode's static data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hlynr.envs.atc import scenarios
from hlynr.envs.atc.engine import ATCEngine
from hlynr.envs.atc.env import VIDEO_TIMELAPSE
from hlynr.envs.atc.rows import ATCRowsEngine
from hlynr.envs.atc.units import FT, NM, heading_vector
from hlynr.envs.drawing import MUTED, TEXT, Color, Frame, PlacedView, format_time, nice_length, place, text_size
from hlynr.envs.rendering import DEFAULT_SIZE, Renderer, Size

OK: Color = (30, 150, 60)
CONFLICT: Color = (235, 150, 0)
LOS: Color = (215, 25, 25)
SECTOR: Color = (150, 150, 150)
EXIT: Color = (95, 95, 95)
TRAIL: Color = (185, 185, 185)
ROUTE: Color = (215, 215, 215)

VECTOR_S = 60.0
"""Velocity vectors show where each aircraft will be in this many seconds."""


@dataclass(frozen=True)
class ATCSnapshot:
    """One step of one sector: what a frame draws (SI: m, rad, m/s; ``M = max_aircraft`` slots)."""

    t: float
    """Sim time (s)."""
    pos: np.ndarray
    """Positions (M, 2) (east, north)."""
    heading: np.ndarray
    """Compass headings (M,) (rad, clockwise from north)."""
    speed: np.ndarray
    """Airspeeds (M,)."""
    alt: np.ndarray
    """Altitudes (M,) (m)."""
    exit: np.ndarray
    """Exit points (M, 2)."""
    flying: np.ndarray
    """Aircraft in the sector (M,) bool (not an unused slot, not past its exit)."""
    los: np.ndarray
    """Pairs in loss of separation now (M, M) bool, symmetric."""
    conflict: np.ndarray
    """Pairs with a loss of separation predicted within the look-ahead (M, M) bool, symmetric
    (a pair in a loss of separation now is in ``los`` only)."""

    def states(self) -> np.ndarray:
        """Per aircraft: 2 in a loss of separation, 1 in a conflict, 0 otherwise (M,) int."""
        return np.where(self.los.any(axis=1), 2, np.where(self.conflict.any(axis=1), 1, 0))


@dataclass(frozen=True)
class ATCScene:
    """The static data of one episode's frames."""

    pz_radius: float
    """Protected-zone radius = separation minimum (m); circles are drawn at half of it."""
    exit_radius: float
    sector_radius: float
    """Radius of the sector circle drawn (m): the random sector, or the presets' leg length."""
    lookahead: float
    lo: tuple[float, float]
    hi: tuple[float, float]
    """World box (east, north) of the view (m)."""
    layers: int
    """Flight levels in use (1: no level labels)."""


def _engine(engine: ATCEngine | ATCRowsEngine, copy: int) -> ATCEngine:
    return engine.engine_of(copy) if isinstance(engine, ATCRowsEngine) else engine


def snapshot(engine: ATCEngine | ATCRowsEngine, copy: int = 0) -> ATCSnapshot:
    """The state of ``copy`` of ``engine`` now (for a copy whose episode just ended: its last
    step, before its aircraft went dark)."""
    eng, c = _engine(engine, copy), int(copy)
    flying = (eng.end_active if eng.done[c] else eng.active)[c].copy()
    pair = flying[:, None] & flying[None, :] & ~np.eye(len(flying), dtype=bool)
    los = pair & eng.co_alt[c] & (eng.dist[c] < eng.R)
    return ATCSnapshot(
        t=float(eng.steps[c] * eng.lim.dt), pos=eng.pos[c].copy(), heading=eng.heading[c].copy(),
        speed=eng.speed[c].copy(), alt=eng.alt[c].copy(), exit=eng.exit[c].copy(), flying=flying,
        los=los, conflict=pair & eng.in_conf[c] & ~los,
    )


def scene(engine: ATCEngine | ATCRowsEngine, copy: int = 0) -> ATCScene:
    """The scene of the episode ``copy`` of ``engine`` is in (call at its start: the view holds
    the sector, every start and every exit)."""
    eng, c = _engine(engine, copy), int(copy)
    p = eng.params
    radius = scenarios.sector_radius(p) if p.scenario == "random" else p.leg_nm * NM
    if p.scenario_file is not None:  # a file's traffic: the farthest start or exit
        radius = float(np.linalg.norm(p.scenario_file.points().reshape(-1, 2), axis=1).max())
    present = eng.present[c]
    pts = np.concatenate([eng.pos[c][present], eng.exit[c][present], [[radius, radius], [-radius, -radius]]])
    reach = float(np.abs(pts).max()) + 0.5 * eng.R
    return ATCScene(
        pz_radius=eng.R, exit_radius=eng.exit_r, sector_radius=radius, lookahead=p.lookahead_s,
        lo=(-reach, -reach), hi=(reach, reach), layers=p.altitude_layers,
    )


def view(scene: ATCScene, size: Size = DEFAULT_SIZE) -> PlacedView:
    """The world-to-pixel transform of a frame's plan view (see :func:`hlynr.envs.drawing.frame_pixel`)."""
    w, h = size
    header = round(text_size(h) * 1.8)
    return place(scene.lo, scene.hi, (4, header, w - 8, h - header - 4), margin=0.01)


def draw_frame(steps: Sequence[ATCSnapshot], scene: ATCScene, size: Size = DEFAULT_SIZE) -> np.ndarray:
    """The frame of ``steps[-1]`` (earlier steps draw the tracks) as an ``(H, W, 3)`` uint8 array."""
    frame = Frame(size)
    w, h = frame.size
    cur = steps[-1]
    p, at = frame.panel(view(scene, frame.size))
    p.grid(nice_length(p.view.width / p.view.scale / NM / 8.0) * NM)
    p.circle((0.0, 0.0), scene.sector_radius, outline=SECTOR, width=2)
    flying = np.flatnonzero(cur.flying)
    states = cur.states()
    colors = (OK, CONFLICT, LOS)
    # exits and routes, tracks so far
    for i in flying:
        p.segment(cur.pos[i], cur.exit[i], ROUTE)
        p.square(cur.exit[i], 4, EXIT)
        p.label(cur.exit[i], str(i), EXIT, offset=(6, 4))
    if len(steps) > 1:
        track = np.array([s.pos for s in steps])
        seen = np.array([s.flying for s in steps])
        for i in flying:
            p.polyline(track[seen[:, i], i], TRAIL, 1)
    # pairs: conflicts, then losses of separation
    for kind, color in ((cur.conflict, CONFLICT), (cur.los, LOS)):
        ii, jj = np.nonzero(np.triu(kind, 1))
        for a, b in zip(ii.tolist(), jj.tolist()):
            p.segment(cur.pos[a], cur.pos[b], color, dash=4 if color == CONFLICT else 0.0)
    # protected zones, vectors, markers
    vec = heading_vector(cur.heading) * (cur.speed * VECTOR_S)[:, None]
    for i in flying:
        color = colors[states[i]]
        p.circle(cur.pos[i], 0.5 * scene.pz_radius, outline=color, width=2 if states[i] else 1)
        p.segment(cur.pos[i], cur.pos[i] + vec[i], color, width=2)
    for i in flying:
        color = colors[states[i]]
        p.dot(cur.pos[i], 4, color)
        tag = str(i) if scene.layers <= 1 else f"{i} FL{cur.alt[i] / FT / 100:03.0f}"
        p.label(cur.pos[i], tag, color, offset=(7, -5))
    p.legend([(OK, "separated"), (CONFLICT, f"conflict < {scene.lookahead:.0f} s"),
              (LOS, "loss of separation"), (EXIT, "exit")])
    p.scale_bar("NM", NM)
    frame.paste(p, at)

    n_conf = int(np.triu(cur.conflict, 1).sum())
    n_los = int(np.triu(cur.los, 1).sum())
    frame.text((6, 5), f"t = {format_time(cur.t)}   flying {len(flying)}   conflicts {n_conf}   "
                       f"LoS {n_los}   circles: {scene.pz_radius / NM / 2:g} NM = half the "
                       f"separation minimum", TEXT)
    if not len(flying) and len(steps) > 1:
        frame.text((w - 8, 5), "all exited", MUTED, anchor="ra")
    return frame.array()


def render_fps(engine: ATCEngine | ATCRowsEngine) -> float:
    """Frames per second of a time lapse of :data:`~hlynr.envs.atc.env.VIDEO_TIMELAPSE` (one minute
    of traffic per second of video)."""
    return VIDEO_TIMELAPSE / float(_engine(engine, 0).params.dt_s)


RENDERER: Renderer[ATCEngine | ATCRowsEngine, ATCSnapshot, ATCScene] = Renderer(
    snapshot=snapshot, scene=scene, draw=draw_frame, fps=render_fps)
"""The ATC renderer for a batched VecEnv's copies."""
