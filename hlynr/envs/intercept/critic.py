"""The privileged critic state of the Intercept env: the true engagement, for a critic only.

An asymmetric actor-critic (Pinto et al. 2017) trains a critic on state the deployed actor never
sees. Here a critic row is the *true* threat state relative to the interceptor and the
interceptor's own state, in world axes (``z`` up) and normalised units (``TRUTH_FIELDS``),
followed by the actor's observation of the same step (radar/Kalman track, ``OBS_FIELDS``), so
the critic knows both what is and what the actor believes. Every entry is clipped to
``[-OBS_LIMIT, OBS_LIMIT]``.

The rows are computed from the engine state only (:func:`truth_rows`); the batched VecEnv
publishes them (``critic_observation_space``, ``critic_observations()``,
``info["terminal_critic_observation"]``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from hlynr.envs.fields import field_slices
from hlynr.envs.intercept.dynamics import maneuver_magnitude
from hlynr.envs.intercept.observation import OBS_DIM, OBS_LIMIT
from hlynr.envs.intercept.physics import cross, dot, target_accel

TRUTH_FIELDS: tuple[tuple[str, int, str], ...] = (
    ("rel_pos", 3, "true threat position - own position, / 10 km"),
    ("rel_vel", 3, "true threat velocity - own velocity, / 1000 m/s"),
    ("own_vel", 3, "own velocity / 1000 m/s"),
    ("altitudes", 2, "own and true threat altitude / 5000 m"),
    ("range", 1, "true range / 10 km"),
    ("closing_speed", 1, "true closing speed -(r . v)/|r|, / 1000 m/s"),
    ("los_rate", 3, "true LOS rate (r x v)/|r|^2, x 10 (rad/s)"),
    ("time_to_go", 1, "|r| / max(Vc, 10 m/s), / 10 s"),
    ("threat_accel", 3, "true threat manoeuvre acceleration / a_max"),
    ("fuel", 1, "fuel remaining / initial fuel"),
    ("time", 1, "episode time / time limit"),
)
"""(name, size, meaning) of the truth block, the first part of a critic row."""

TRUTH_SLICES, TRUTH_DIM = field_slices(TRUTH_FIELDS)
"""The slice of every truth field, and the length of the truth block."""
CRITIC_DIM: int = TRUTH_DIM + OBS_DIM
"""Length of a critic row: the truth block, then the actor's observation."""


def critic_space() -> spaces.Box:
    """The Box of one critic row."""
    return spaces.Box(-OBS_LIMIT, OBS_LIMIT, (CRITIC_DIM,), np.float32)


def truth_rows(core: Any, idx: np.ndarray | None = None) -> np.ndarray:
    """Truth blocks ``(m, TRUTH_DIM)`` float32 of envs ``idx`` (all if None) of an
    :class:`~hlynr.envs.intercept.core.InterceptCore`, from its current state."""
    sel: Any = slice(None) if idx is None else np.asarray(idx, dtype=int)
    tp, mp, tv, mv = core.tp[:, sel], core.mp[:, sel], core.tv[:, sel], core.mv[:, sel]
    r, v = tp - mp, tv - mv
    rng_ = np.sqrt(dot(r, r))
    safe = np.maximum(rng_, 1e-6)
    vc = -dot(r, v) / safe
    omega = cross(r, v) / (safe * safe)
    t = core.t[sel]
    a_max = core.D["a_max"][sel]
    acc = target_accel(tv, core.man_cos[sel], core.man_sin[sel],
                       maneuver_magnitude(core._sv, core.man_code, core.D["level"], sel, t, core._mix))
    out = np.empty((TRUTH_DIM, r.shape[1]))
    S = TRUTH_SLICES
    out[S["rel_pos"]] = r / 1e4
    out[S["rel_vel"]] = v / 1e3
    out[S["own_vel"]] = mv / 1e3
    out[S["altitudes"]] = np.stack([mp[2], tp[2]]) / 5e3
    out[S["range"]] = rng_ / 1e4
    out[S["closing_speed"]] = vc / 1e3
    out[S["los_rate"]] = omega * 10.0
    out[S["time_to_go"]] = rng_ / np.maximum(vc, 10.0) / 10.0
    out[S["threat_accel"]] = acc / a_max
    out[S["fuel"]] = core.fuel[sel] / core.P["fuel_mass"][sel]
    out[S["time"]] = t / core.P["max_time"][sel]
    np.clip(out, -OBS_LIMIT, OBS_LIMIT, out=out)
    return out.T.astype(np.float32)
