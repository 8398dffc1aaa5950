"""Unit conversions of ``hlynr/ATC-v0``: SI inside, aviation units at the interface.

Everything the engine stores and integrates is SI: metres, metres per second, seconds, radians.
Parameters and reported metrics use the units controllers use: nautical miles (NM) for
horizontal distances, knots (kt) for speeds, feet (ft) for altitudes, degrees for angles.

Exact definitions (ICAO): 1 NM = 1852 m, 1 kt = 1 NM/h = 1852/3600 m/s, 1 ft = 0.3048 m;
multiply by :data:`NM`, :data:`KT` or :data:`FT` to convert to SI, divide to convert back.

Headings and tracks are compass angles: measured clockwise from north, so a velocity of speed
``v`` on heading ``psi`` is ``(east, north) = v * (sin psi, cos psi)`` (BlueSky's convention).
"""

from __future__ import annotations

import numpy as np

NM = 1852.0
"""Metres per nautical mile."""
KT = 1852.0 / 3600.0
"""Metres per second per knot."""
FT = 0.3048
"""Metres per foot."""


def wrap_angle(a: np.ndarray) -> np.ndarray:
    """Angles wrapped to ``[-pi, pi)``."""
    return (np.asarray(a) + np.pi) % (2.0 * np.pi) - np.pi


def heading_vector(psi: np.ndarray) -> np.ndarray:
    """Unit ``(east, north)`` vectors of compass headings ``psi`` (rad), shape ``psi.shape + (2,)``."""
    return np.stack([np.sin(psi), np.cos(psi)], axis=-1)


def compass_bearing(v: np.ndarray) -> np.ndarray:
    """Compass bearing (rad, clockwise from north) of ``(east, north)`` vectors ``v[..., 2]``."""
    return np.arctan2(v[..., 0], v[..., 1])


def to_heading_up(v: np.ndarray, psi: np.ndarray) -> np.ndarray:
    """World ``(east, north)`` vectors in the heading-up frame of an aircraft on heading ``psi``.

    The heading-up frame is the world frame rotated so that the aircraft's heading points along
    +y: coordinates are ``(right, forward)``. It is right-handed like ``(east, north)``, so the
    compass bearing of a vector in it (:func:`compass_bearing`) is its bearing relative to the
    heading (positive = to the right). ``v[..., 2]`` and ``psi[...]`` broadcast.
    """
    s, c = np.sin(psi)[..., None], np.cos(psi)[..., None]
    e, n = v[..., 0:1], v[..., 1:2]
    return np.concatenate([e * c - n * s, e * s + n * c], axis=-1)
