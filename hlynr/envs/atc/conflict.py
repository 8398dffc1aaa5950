"""Separation geometry of ``hlynr/ATC-v0``: closest point of approach, conflicts, losses of separation.

All functions are batched over leading axes. For an ownship ``i`` and intruder ``j`` with relative
position ``d = p_j - p_i`` and relative velocity ``w = v_j - v_i`` (horizontal, metres and m/s):

* ``tcpa = -(d . w) / |w|^2`` (``|w|^2`` floored at 1e-6 as in BlueSky's state-based detection),
  ``dcpa = |d + w tcpa|``;
* a **conflict** is a predicted loss of separation within the look-ahead, by BlueSky's state-based
  rule: ``dcpa < R``, the horizontal interval inside the zone ``tcpa -+ sqrt(R^2 - dcpa^2)/|w|``
  overlaps the vertical one and starts before the look-ahead and ends after now. Aircraft fly
  level here, so the vertical interval is everything when ``|dalt| < H`` and nothing otherwise;
* a **loss of separation** (LoS) is ``distance < R`` and ``|dalt| < H`` (R = protected-zone
  radius, H = its half height).

Within a step, relative motion is taken as linear between the step ends
(:func:`segment_min_distance`), so a pass that enters and leaves the zone inside one step still
counts.
"""

from __future__ import annotations

import numpy as np


def pair_geometry(pos: np.ndarray, vel: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pairwise ``(d, w, dist, w2)`` for ``pos, vel (..., m, 2)``: ``d[..., i, j] = p_j - p_i``."""
    d = pos[..., None, :, :] - pos[..., :, None, :]
    w = vel[..., None, :, :] - vel[..., :, None, :]
    dist = np.sqrt(np.einsum("...k,...k->...", d, d))
    w2 = np.maximum(np.einsum("...k,...k->...", w, w), 1e-6)
    return d, w, dist, w2


def cpa(d: np.ndarray, w: np.ndarray, w2: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(tcpa, dcpa)`` of relative positions and velocities ``d, w (..., 2)``."""
    if w2 is None:
        w2 = np.maximum(np.einsum("...k,...k->...", w, w), 1e-6)
    tcpa = -np.einsum("...k,...k->...", d, w) / w2
    dc = d + w * tcpa[..., None]
    return tcpa, np.sqrt(np.einsum("...k,...k->...", dc, dc))


def conflicts(
    dist: np.ndarray, tcpa: np.ndarray, w2: np.ndarray, dalt: np.ndarray,
    radius: float, height: float, lookahead: float,
) -> np.ndarray:
    """Boolean conflict flags (BlueSky state-based detection, level flight) of pairwise arrays."""
    dcpa2 = np.abs(dist * dist - tcpa * tcpa * w2)
    hor = dcpa2 < radius * radius
    half = np.sqrt(np.maximum(0.0, radius * radius - dcpa2)) / np.sqrt(w2)
    t_in, t_out = tcpa - half, tcpa + half
    return hor & (np.abs(dalt) < height) & (t_out > 0.0) & (t_in < lookahead)


def segment_min_distance(d0: np.ndarray, d1: np.ndarray) -> np.ndarray:
    """Minimum of ``|d0 + s (d1 - d0)|`` over ``s`` in ``[0, 1]`` for ``d0, d1 (..., 2)``."""
    e = d1 - d0
    ee = np.einsum("...k,...k->...", e, e)
    s = np.clip(-np.einsum("...k,...k->...", d0, e) / np.where(ee > 0, ee, 1.0), 0.0, 1.0)
    c = d0 + e * s[..., None]
    return np.sqrt(np.einsum("...k,...k->...", c, c))
