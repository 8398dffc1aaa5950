"""Reward terms of ``hlynr/ATC-v0`` (weights in :class:`hlynr.envs.atc.params.ATCParams`).

Per aircraft flying at the start of a step, the reward is the sum of:

* **progress**: ``progress_per_km`` times the reduction of the distance to the exit over the step,
  in km (signed: flying away costs the same); the episode sum telescopes to at most
  ``progress_per_km`` times the start-to-exit distance;
* **LoS entry**: ``-los_entry_penalty`` for every loss-of-separation event that starts in the step
  with this aircraft in it (an entry into the protected zone, by the in-step closest approach);
* **LoS depth**: ``-los_depth_penalty * depth`` for a step that ends inside a protected zone,
  ``depth = (R - distance) / R`` of the deepest intrusion in ``(0, 1]``;
* **drift**: ``drift_per_deg`` times the reduction of ``|drift|`` (degrees) over the step, for an
  aircraft still flying at its end; the episode sum is at most ``180 * drift_per_deg``;
* **detour** (``detour_per_km > 0``): ``-detour_per_km`` times the distance flown in the step
  beyond the progress made (km); zero on the direct route, so the episode sum is ``-detour_per_km``
  times the extra distance that ``path_efficiency`` counts (bar the part flown in the exit circle);
* **team** (``team_weight > 0``): the change of a shared potential ``-team_weight * mean over
  aircraft of its closeness to the nearest co-altitude aircraft``, closeness
  ``clip(1 - (distance - R) / team_sensitivity, 0, 1)`` (1 at the zone edge, 0 beyond
  ``R + team_sensitivity``); the same for every aircraft, its episode sum within
  ``[-team_weight, team_weight]``.

Aircraft that are not flying get 0.
"""

from __future__ import annotations

import numpy as np


def team_potential(dist: np.ndarray, pair_ok: np.ndarray, present: np.ndarray, radius: float,
                   sensitivity: float, weight: float) -> np.ndarray:
    """Shared potential ``(...,)`` in ``[-weight, 0]`` from pairwise distances ``(..., m, m)``."""
    close = np.clip(1.0 - (dist - radius) / sensitivity, 0.0, 1.0)
    close = np.where(pair_ok, close, 0.0).max(axis=-1)
    n = np.maximum(present.sum(axis=-1), 1)
    return -weight * close.sum(axis=-1) / n


def los_depth(dist: np.ndarray, in_los: np.ndarray, radius: float) -> np.ndarray:
    """Deepest intrusion ``(..., m)`` in ``[0, 1]`` per aircraft over pairs ending inside the zone."""
    return np.where(in_los, (radius - dist) / radius, 0.0).max(axis=-1)


def detour(step_len: np.ndarray, progress: np.ndarray) -> np.ndarray:
    """Distance flown beyond the progress made, ``>= 0`` (the triangle inequality, up to rounding)."""
    return np.maximum(step_len - progress, 0.0)
