"""Latitude/longitude <-> the flat sector of ``hlynr/ATC-v0``, and calibrated <-> true airspeed.

**Projection.** The engine is flat-earth: metres ``(east, north)`` with the sector centre at the
origin. A scenario file places its aircraft by latitude and longitude; :class:`Projection` maps
them to the plane with an equirectangular projection about the file's reference point
``(lat0, lon0)`` (the sector centre)::

    east  = R * (lon - lon0) * cos(lat0)          (angles in radians)
    north = R * (lat - lat0)

with ``R = 6 371 000 m`` (the Earth radius of BlueSky's flat "kwik" distance functions). The
inverse is exact, so positions round-trip to floating-point precision. The projection is exact
at the reference point; away from it, east-west distances are off by about ``tan(lat0) * dlat``
(``dlat``: the latitude offset in radians): at 52 deg N, 0.4 % 10 NM north or south of the
centre, 1.5 % at 40 NM. Keep sectors small (or near the equator) when the geometry has to match
a geodesic simulator to a fraction of a mile.

**Airspeed.** BlueSky's ``CRE`` takes calibrated airspeed (CAS); the engine flies true airspeed
(TAS, = ground speed: no wind). :func:`cas_to_tas` and :func:`tas_to_cas` convert with the ISA
standard atmosphere (troposphere and lower stratosphere, to 20 km) exactly as BlueSky's
``vcas2tas`` / ``vtas2cas`` do; at sea level the two speeds are the same.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EARTH_RADIUS = 6_371_000.0
"""Metres; the radius of BlueSky's ``kwikdist``."""

# ISA as bluesky.tools.aero computes it
_P0, _RHO0, _T0, _T_STRAT, _R_AIR = 101325.0, 1.225, 288.15, 216.65, 287.05287
_RHO_EXP, _H_TROPOPAUSE, _H_SCALE_STRAT = 4.256848030018761, 11000.0, 6341.552161


@dataclass(frozen=True)
class Projection:
    """Equirectangular projection about ``(lat0, lon0)`` (degrees); see the module docstring."""

    lat0: float
    lon0: float

    def to_xy(self, lat: np.ndarray | float, lon: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """``(east, north)`` metres of positions in degrees."""
        dlon = (np.asarray(lon, dtype=float) - self.lon0 + 180.0) % 360.0 - 180.0
        east = EARTH_RADIUS * np.radians(dlon) * np.cos(np.radians(self.lat0))
        north = EARTH_RADIUS * np.radians(np.asarray(lat, dtype=float) - self.lat0)
        return east, north

    def to_latlon(self, east: np.ndarray | float, north: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """``(lat, lon)`` degrees of plane positions in metres (the exact inverse of :meth:`to_xy`)."""
        lat = self.lat0 + np.degrees(np.asarray(north, dtype=float) / EARTH_RADIUS)
        lon = self.lon0 + np.degrees(np.asarray(east, dtype=float) / (EARTH_RADIUS * np.cos(np.radians(self.lat0))))
        return lat, (lon + 180.0) % 360.0 - 180.0


def _atmosphere(h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ISA pressure (Pa) and density (kg/m^3) at altitude ``h`` (m)."""
    t = np.maximum(_T0 - 0.0065 * h, _T_STRAT)
    rho = _RHO0 * (t / _T0) ** _RHO_EXP * np.exp(-np.maximum(0.0, h - _H_TROPOPAUSE) / _H_SCALE_STRAT)
    return rho * _R_AIR * t, rho


def cas_to_tas(cas: np.ndarray | float, h: np.ndarray | float) -> np.ndarray:
    """True airspeed (m/s) of calibrated airspeed ``cas`` (m/s) at altitude ``h`` (m), ISA."""
    p, rho = _atmosphere(np.asarray(h, dtype=float))
    cas = np.asarray(cas, dtype=float)
    qdyn = _P0 * ((1.0 + _RHO0 * cas * cas / (7.0 * _P0)) ** 3.5 - 1.0)
    return np.sqrt(7.0 * p / rho * ((1.0 + qdyn / p) ** (2.0 / 7.0) - 1.0))


def tas_to_cas(tas: np.ndarray | float, h: np.ndarray | float) -> np.ndarray:
    """Calibrated airspeed (m/s) of true airspeed ``tas`` (m/s) at altitude ``h`` (m), ISA."""
    p, rho = _atmosphere(np.asarray(h, dtype=float))
    tas = np.asarray(tas, dtype=float)
    qdyn = p * ((1.0 + rho * tas * tas / (7.0 * p)) ** 3.5 - 1.0)
    return np.sqrt(7.0 * _P0 / _RHO0 * ((qdyn / _P0 + 1.0) ** (2.0 / 7.0) - 1.0))
