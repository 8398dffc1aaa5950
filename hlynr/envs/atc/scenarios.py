"""Initial traffic of ``hlynr/ATC-v0``: named presets with seeded jitter, and random sector traffic.

Coordinates are metres ``(east, north)`` with the sector centre at the origin. Each aircraft has
a start point, an exit point (its waypoint), an initial heading straight at the exit, a speed
and an altitude. Named presets (``leg_nm`` = L from each start to the centre, all aircraft at
the same speed, so without resolution every conflict comes to a head near the centre at the same
time, about ``L / cruise speed`` after the start):

* ``head_on``: two aircraft on reciprocal tracks through the centre (CPA distance 0);
* ``parallel``: one northbound aircraft and two southbound ones on parallel tracks 3 NM either
  side of it (two head-on conflicts with a 3 NM CPA, the southbound pair 6 NM apart);
* ``t_formation``: an eastbound/westbound head-on pair and a northbound crosser, all through the
  centre;
* ``canonical_crossing``: four aircraft from north, east, south and west through the centre
  (90 deg crossings);
* ``converging``: four aircraft from the southern half (bearings 135, 160, 200, 225 deg from the
  centre) to exits in the northern half (335, 350, 10, 25 deg), converging near the centre at
  25-65 deg track differences.

Jitter: every start and exit point moves by an independent uniform ``+- jitter_nm`` in east and
north, every speed by ``+- speed_jitter_kt``; with ``rotate`` the whole picture turns by a
uniform random angle. ``file:PATH`` (:mod:`hlynr.envs.atc.scenario_files`): the file's start
and exit points (projected about its reference point), speeds (true airspeed) and altitudes take
the place of the preset's, with the same seeded jitter, rotation and flight-level draw (added
to the file's altitude), in the same order, so a preset written to a file with
``hlynr scenario export --base`` gives the preset's episodes for the same seeds.

``random``: ``n_aircraft`` aircraft start on the rim of a circular sector
whose radius gives ``density`` aircraft per 1000 NM^2, at random bearings kept at least 1.5
protected-zone radii apart (the best of 32 tries), each heading to an exit on the far rim within
+-60 deg of the diametrically opposite point.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hlynr.envs.atc.params import ATCParams
from hlynr.envs.atc.units import FT, KT, NM, compass_bearing

_PRESETS: dict[str, tuple[tuple[float, float, float, float], ...]] = {
    # start (east, north), exit (east, north) in units of the leg length L (parallel offsets in NM)
    "head_on": ((0, -1, 0, 1), (0, 1, 0, -1)),
    "t_formation": ((-1, 0, 1, 0), (1, 0, -1, 0), (0, -1, 0, 1)),
    "canonical_crossing": ((0, 1, 0, -1), (1, 0, -1, 0), (0, -1, 0, 1), (-1, 0, 1, 0)),
}
_PARALLEL_OFFSET_NM = 3.0
_CONVERGING_BEARINGS = ((135.0, 335.0), (160.0, 350.0), (200.0, 10.0), (225.0, 25.0))
_RANDOM_TRIES = 32


@dataclass
class Traffic:
    """Initial traffic of ``n`` episodes with ``m`` slots: arrays ``(n, m, ...)``, SI units."""

    pos: np.ndarray
    heading: np.ndarray
    speed: np.ndarray
    alt: np.ndarray
    exit: np.ndarray
    present: np.ndarray


def _preset_points(name: str, leg: float) -> np.ndarray:
    """``(N, 4)`` start/exit points (metres) of a named preset before jitter and rotation."""
    if name == "parallel":
        d = _PARALLEL_OFFSET_NM * NM
        return np.array([[0, -leg, 0, leg], [d, leg, d, -leg], [-d, leg, -d, -leg]], dtype=float)
    if name == "converging":
        b = np.deg2rad(np.array(_CONVERGING_BEARINGS))
        return leg * np.stack([np.sin(b[:, 0]), np.cos(b[:, 0]), np.sin(b[:, 1]), np.cos(b[:, 1])], axis=1)
    return leg * np.array(_PRESETS[name], dtype=float)


def sector_radius(p: ATCParams) -> float:
    """Radius (m) of the circular sector of ``random`` traffic: ``n_aircraft`` at ``density``."""
    area_nm2 = p.n_aircraft * 1000.0 / p.density
    return float(np.sqrt(area_nm2 / np.pi) * NM)


def _random_points(p: ATCParams, rngs: list[np.random.Generator]) -> np.ndarray:
    """``(n, N, 4)`` start/exit points of random sector traffic, one generator per episode."""
    n, k = len(rngs), p.n_aircraft
    r = sector_radius(p)
    cand = np.stack([g.uniform(0.0, 2 * np.pi, (k, _RANDOM_TRIES)) for g in rngs])
    spread = np.stack([g.uniform(-np.pi / 3, np.pi / 3, k) for g in rngs])
    min_gap = 1.5 * p.pz_radius_nm * NM
    chosen = np.zeros((n, k))
    for i in range(k):
        pts = r * np.stack([np.sin(cand[:, i]), np.cos(cand[:, i])], axis=-1)  # (n, tries, 2)
        if i == 0:
            chosen[:, 0] = cand[:, 0, 0]
            continue
        prev = r * np.stack([np.sin(chosen[:, :i]), np.cos(chosen[:, :i])], axis=-1)  # (n, i, 2)
        gap = np.linalg.norm(pts[:, :, None] - prev[:, None], axis=-1).min(axis=2)  # (n, tries)
        ok = gap >= min_gap
        pick = np.where(ok.any(axis=1), ok.argmax(axis=1), gap.argmax(axis=1))
        chosen[:, i] = cand[np.arange(n), i, pick]
    b_exit = chosen + np.pi + spread
    return r * np.stack([np.sin(chosen), np.cos(chosen), np.sin(b_exit), np.cos(b_exit)], axis=-1)


def generate(p: ATCParams, rngs: list[np.random.Generator]) -> Traffic:
    """Initial traffic for one episode per generator in ``rngs`` (``max_aircraft`` slots each)."""
    n, m, k = len(rngs), p.max_aircraft, p.aircraft_count
    traffic = p.scenario_file
    speed0: np.ndarray | float = p.cruise_speed_kt * KT
    alt0: np.ndarray | float = 0.0
    if p.scenario == "random":
        pts = _random_points(p, rngs)
    else:
        if traffic is not None:
            base = traffic.points()
            speed0, alt0 = traffic.speeds(), traffic.altitudes()
        else:
            base = _preset_points(p.scenario, p.leg_nm * NM)
        jit = p.jitter_nm * NM
        pts = base[None] + np.stack([g.uniform(-jit, jit, (k, 4)) for g in rngs])
    if p.rotate:
        ang = np.array([g.uniform(0.0, 2 * np.pi) for g in rngs])[:, None]
        c, s = np.cos(ang), np.sin(ang)
        out = np.empty_like(pts)
        for j in (0, 2):  # rotate start and exit points clockwise by ang (compass rotation)
            e, nn = pts[..., j], pts[..., j + 1]
            out[..., j], out[..., j + 1] = e * c + nn * s, -e * s + nn * c
        pts = out
    sj = p.speed_jitter_kt * KT
    speed = speed0 + np.stack([g.uniform(-sj, sj, k) for g in rngs])
    speed = np.clip(speed, p.min_speed_kt * KT, p.max_speed_kt * KT)
    layers = np.stack([g.integers(0, p.altitude_layers, k) for g in rngs])
    alt = alt0 + layers * p.layer_spacing_ft * FT
    tr = Traffic(
        pos=np.zeros((n, m, 2)), heading=np.zeros((n, m)), speed=np.zeros((n, m)),
        alt=np.zeros((n, m)), exit=np.zeros((n, m, 2)), present=np.zeros((n, m), dtype=bool),
    )
    tr.pos[:, :k] = pts[..., 0:2]
    tr.exit[:, :k] = pts[..., 2:4]
    tr.heading[:, :k] = compass_bearing(tr.exit[:, :k] - tr.pos[:, :k])
    tr.speed[:, :k] = speed
    tr.alt[:, :k] = alt
    tr.present[:, :k] = True
    return tr
