"""Scripted swarm baseline: every agent flies to the predicted intercept point on its own track.

Registered as ``swarm_intercept_point`` in :data:`hlynr.registries.BASELINES`. It reads
only the agent's observation row (layout in :mod:`hlynr.envs.swarm.layout`), so it uses the same
noisy, filtered, cued track as a learned policy:

* with a track: solve the intercept triangle ``|r + v_T t| = V_max t`` for the earliest ``t``
  and head for that point; if the target is too fast for any intercept (the usual case against a
  hypersonic target off the nose), head for the closest point of the target's track ahead of it
  (pre-positioning); inside ``terminal_time`` seconds to go while closing, fly pure PN;
* without a track: hold course at cruise throttle.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from pydantic import Field

from hlynr.config.base import StrictModel
from hlynr.envs.swarm import layout as L
from hlynr.envs.swarm.params import STAGES
from hlynr.envs.swarm.physics import left_normal, los_kinematics, unit
from hlynr.registries import BaselineEntry


class InterceptPointParams(StrictModel):
    """Gains and limits of the scripted swarm baseline (limits must match the env's)."""

    nav_gain: float = Field(default=4.0, gt=0.0, le=10.0, description="PN navigation constant N'")
    heading_gain: float = Field(default=3.0, gt=0.0, description="lateral command per rad heading error")
    terminal_time: float = Field(default=2.0, ge=0.0, description="switch to PN below this time-to-go, s")
    max_lateral_accel: float = Field(default=50.0, gt=0.0, description="env's max_lateral_accel, m/s^2")
    max_speed: float = Field(default=300.0, gt=0.0, description="env's max_speed, m/s")


def intercept_time(rel_pos: np.ndarray, tgt_vel: np.ndarray, speed: float) -> np.ndarray:
    """Earliest ``t > 0`` with ``|rel_pos + tgt_vel t| = speed t`` (``inf`` if none), ``(B,)``."""
    a = np.einsum("bi,bi->b", tgt_vel, tgt_vel) - speed**2
    b = 2.0 * np.einsum("bi,bi->b", rel_pos, tgt_vel)
    c = np.einsum("bi,bi->b", rel_pos, rel_pos)
    disc = b * b - 4 * a * c
    sq = np.sqrt(np.maximum(disc, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = np.where(np.abs(a) > 1e-9, (-b - sq) / (2 * a), -c / np.where(b != 0, b, np.inf))
        t2 = np.where(np.abs(a) > 1e-9, (-b + sq) / (2 * a), np.inf)
    t1 = np.where(t1 > 0, t1, np.inf)
    t2 = np.where(t2 > 0, t2, np.inf)
    t = np.minimum(t1, t2)
    return np.where(disc >= 0, t, np.inf)


class InterceptPointPolicy:
    """Batched scripted policy over agent observation rows (acts like an SB3 model)."""

    def __init__(self, params: InterceptPointParams | None = None) -> None:
        self.p = params or InterceptPointParams()

    def act(self, obs: np.ndarray) -> np.ndarray:
        """Actions ``(B, 2)`` in ``[-1, 1]`` for observation rows ``(B, obs_size)``."""
        p = self.p
        o = np.asarray(obs, dtype=np.float64).reshape(-1, obs.shape[-1])
        # relative vectors are in the body frame, where the own velocity is (speed, 0)
        speed = o[:, L.SL["speed"]][:, 0] * L.OWN_SPEED_SCALE
        u = np.broadcast_to(np.array([1.0, 0.0]), (o.shape[0], 2))
        has_trk = o[:, L.SL["trk_valid"]][:, 0] > 0.5
        rel = o[:, L.SL["trk_rel_pos"]] * L.REL_SCALE
        tv = o[:, L.SL["trk_vel"]] * L.TARGET_SPEED_SCALE
        rv = o[:, L.SL["trk_rel_vel"]] * L.TARGET_SPEED_SCALE
        # aim point: intercept triangle, else closest point of the track ahead
        t_int = intercept_time(rel, tv, p.max_speed)
        tv2 = np.maximum(np.einsum("bi,bi->b", tv, tv), 1e-9)
        s_line = np.maximum(-np.einsum("bi,bi->b", rel, tv) / tv2, 0.0)
        t_aim = np.where(np.isfinite(t_int), t_int, s_line)
        aim = rel + tv * t_aim[:, None]
        d, _ = unit(aim)
        err = np.arctan2(
            np.einsum("bi,bi->b", left_normal(u), d), np.einsum("bi,bi->b", u, d)
        )
        lat = np.clip(p.heading_gain * err, -1.0, 1.0)
        rng, closing, los_rate = los_kinematics(rel, rv)
        tgo = np.where(closing > 0, rng / np.maximum(closing, 1e-9), np.inf)
        terminal = has_trk & (tgo < p.terminal_time)
        pn = np.clip(p.nav_gain * closing * los_rate / p.max_lateral_accel, -1.0, 1.0)
        lat = np.where(terminal, pn, lat)
        lat = np.where(has_trk, lat, 0.0)
        throttle = np.where(has_trk & (speed < 0.98 * p.max_speed), 1.0, 0.0)
        active = o[:, L.SL["active"]][:, 0] > 0.5
        act = np.stack([lat, throttle], axis=1) * active[:, None]
        return act.astype(np.float32)

    def predict(
        self,
        observation: np.ndarray,
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        """SB3-style ``predict`` over a batch of agent rows (any leading shape)."""
        obs = np.asarray(observation)
        return self.act(obs).reshape(*obs.shape[:-1], L.ACTION_SIZE), state


def _factory(
    observation_space: gym.Space, action_space: gym.Space, params: InterceptPointParams
) -> InterceptPointPolicy:
    shape = getattr(action_space, "shape", None)
    if shape != (L.ACTION_SIZE,):
        raise ValueError(f"swarm_intercept_point needs a ({L.ACTION_SIZE},) action space, got {shape}")
    n = int(np.prod(observation_space.shape or (0,)))
    if n < L.BASE_SIZE or (n - L.BASE_SIZE) % L.MATE_SIZE:
        raise ValueError(
            f"swarm_intercept_point needs the unstacked swarm observation layout; got size {n}"
        )
    return InterceptPointPolicy(params)


SWARM_BASELINES: dict[str, BaselineEntry] = {
    "swarm_intercept_point": BaselineEntry(
        params=InterceptPointParams,
        factory=_factory,
        env_ids=("hlynr/Swarm-v0", *(f"hlynr/Swarm-{s}-v0" for s in STAGES)),
    ),
}
