"""Classical guidance laws as pure functions of a batch of Intercept observations.

Each law maps observations ``(n, OBS_DIM)`` (layout: :data:`hlynr.envs.intercept.OBS_SLICES`)
to normalised commands ``(n, 2)`` along the action frame axes ``(e_y, e_z)``, i.e. the
lateral acceleration divided by the interceptor's limit ``a_max``. All of them add gravity
compensation (the ``gravity`` slice). Commands are clipped by the environment (norm <= 1).
"""

from __future__ import annotations

import numpy as np

from hlynr.envs.intercept.observation import OBS_SLICES as S


def pure_pursuit(obs: np.ndarray, gain: float) -> np.ndarray:
    """Turn the velocity onto the (estimated) LOS: ``a = gain * V_M * sin(lead angle)`` along ``e_y``."""
    speed = obs[:, S["speed"]][:, 0] * 1000.0
    a_max = obs[:, S["accel_limit"]][:, 0] * 1000.0
    sin_lead = obs[:, S["los"]][:, 1]
    u = obs[:, S["gravity"]].astype(np.float64).copy()
    u[:, 0] += gain * speed * sin_lead / a_max
    return u


def proportional_navigation(obs: np.ndarray, n_gain: float) -> np.ndarray:
    """True PN: ``a = N' Vc (Omega x LOS)`` projected on the lateral axes, plus gravity compensation."""
    return n_gain * obs[:, S["pn_accel"]].astype(np.float64) + obs[:, S["gravity"]]


def augmented_pn(obs: np.ndarray, n_gain: float) -> np.ndarray:
    """APN: PN plus ``(N'/2) a_T`` perpendicular to the LOS (needs the CA filter's estimate)."""
    los = obs[:, S["los"]].astype(np.float64)  # (cos, sin) of the lead angle; LOS has no e_z part
    at = obs[:, S["target_accel"]].astype(np.float64)  # along e_v, e_y, e_z
    along = at[:, 0] * los[:, 0] + at[:, 1] * los[:, 1]
    perp = np.stack([at[:, 1] - along * los[:, 1], at[:, 2]], axis=1)
    return proportional_navigation(obs, n_gain) + 0.5 * n_gain * perp
