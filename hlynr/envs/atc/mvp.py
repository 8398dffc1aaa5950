"""Scripted resolvers of ``hlynr/ATC-v0``: ``mvp`` (Modified Voltage Potential) and ``direct``.

Both act on observation rows only (layout in :mod:`hlynr.envs.atc.layout`): the own block and the
intruder slots (relative position, velocity and altitude of the ``k_intruders`` nearest
aircraft), which is what a learned policy sees. With ``k_intruders >= n - 1`` every intruder is
in view and the resolution equals BlueSky's; with fewer slots MVP resolves against the nearest
``k_intruders`` only.

``direct`` flies straight at the exit at cruise speed (no resolution): the reference.

``mvp`` follows BlueSky (``bluesky/traffic/asas/statebased.py`` and ``mvp.py``, Hoekstra et al.
2002), every aircraft from its own point of view against every intruder in view:

1. state-based detection (:func:`hlynr.envs.atc.conflict.conflicts`): predicted LoS within
   ``lookahead_s`` by CPA;
2. per conflict, with ``d`` the intruder's relative position, ``w`` its relative velocity,
   ``dcpa = d + w tcpa``, ``R' = margin * R``, intrusion ``iH = R' - |dcpa|``: the resolution
   ``dv = iH dcpa / (|tcpa| |dcpa|)``; head-on guard: if ``|dcpa| <= 10 m`` it is set to 10 m
   along ``(d_y, -d_x) / |d|`` (perpendicular to ``d``); when the intruder is outside the zone
   (``R' < |d|`` and ``|dcpa| < |d|``) the numerator is ``R' / erratum - |dcpa|`` with
   ``erratum = cos(asin(R'/|d|) - asin(|dcpa|/|d|))`` so the new path does not graze the zone;
3. the own velocity becomes ``v - sum(dv)`` (horizontal only: aircraft fly level); ``mode``
   ``heading`` keeps the speed and takes the new track, ``speed`` keeps the track and takes the
   new vector's magnitude as speed, ``both`` takes both (BlueSky's RMETHH HDG / SPD / BOTH);
4. the aircraft's limits: speed clipped to ``[min_speed, max_speed]``, then the heading and speed
   changes expressed as actions, clipped to ``[-1, 1]`` (``max_heading_change_deg``,
   ``max_speed_change_kt``; the env then applies its turn-rate and acceleration limits).

An aircraft with no conflict resumes its route (flies ``direct``) unless that would bring back a
conflict with an intruder whose CPA is still ahead (a predicted CPA closer than ``resume_margin``
protected-zone radii, 1 by default): then it holds its heading and speed, as BlueSky keeps an
aircraft off its route until the CPA of its resolution pairs has passed (a stateless form of
BlueSky's ``resumenav``; ``resume: immediate`` turns it off). A ``resume_margin`` above 1 keeps
aircraft off their routes until the way back clears the intruder with room to spare: the turn
back takes several steps at 3 deg/s, and a route that would clear the zone by metres ends inside
it. The resolution is recomputed every env step (BlueSky's ASAS runs every second).
The parameters must match the env's (they default to the same values).
"""

from __future__ import annotations

from typing import Literal

import gymnasium as gym
import numpy as np
from pydantic import Field, model_validator

from hlynr.config.base import StrictModel
from hlynr.envs.atc import conflict as G
from hlynr.envs.atc import layout as L
from hlynr.envs.atc.units import FT, KT, NM, compass_bearing
from hlynr.registries import BaselineEntry

HEAD_ON_GUARD_M = 10.0


class DirectParams(StrictModel):
    """Speeds and action scales of the env (they must match its parameters)."""

    cruise_speed_kt: float = Field(250.0, gt=0.0, le=600.0)
    min_speed_kt: float = Field(200.0, gt=0.0, le=600.0)
    max_speed_kt: float = Field(300.0, gt=0.0, le=600.0)
    max_heading_change_deg: float = Field(45.0, gt=0.0, le=180.0)
    max_speed_change_kt: float = Field(30.0, gt=0.0, le=300.0)

    @model_validator(mode="after")
    def _check(self) -> DirectParams:
        if not self.min_speed_kt <= self.cruise_speed_kt <= self.max_speed_kt:
            raise ValueError("need min_speed_kt <= cruise_speed_kt <= max_speed_kt")
        return self


class MVPParams(DirectParams):
    """MVP resolver settings (BlueSky defaults) plus the env's speeds and action scales."""

    pz_radius_nm: float = Field(5.0, gt=0.0, le=50.0)
    pz_height_ft: float = Field(1000.0, gt=0.0, le=10000.0)
    lookahead_s: float = Field(300.0, gt=0.0, le=3600.0)
    margin: float = Field(1.01, ge=1.0, le=2.0, description="resolution margin on the PZ radius")
    mode: Literal["both", "heading", "speed"] = Field("both", description="which way MVP resolves")
    resume: Literal["past_cpa", "immediate"] = Field(
        "past_cpa", description="back to the route once past the CPA, or as soon as conflict-free")
    resume_margin: float = Field(
        1.0, ge=1.0, le=2.0,
        description="past_cpa: hold off the route while flying it would pass an intruder whose CPA "
                    "is ahead closer than this times the PZ radius")

    @model_validator(mode="after")
    def _check_resume(self) -> MVPParams:
        if self.resume == "immediate" and self.resume_margin != 1.0:
            raise ValueError("resume_margin applies to resume: past_cpa only")
        return self


def mvp_velocity(
    speed: np.ndarray, rel_pos: np.ndarray, rel_vel: np.ndarray, dalt: np.ndarray,
    valid: np.ndarray, p: MVPParams,
) -> tuple[np.ndarray, np.ndarray]:
    """MVP in the heading-up frame: ``(new velocity (B, 2), in_conflict (B,))``.

    ``speed (B,)`` own speed (m/s; own velocity is ``(0, speed)``), ``rel_pos, rel_vel (B, K, 2)``
    intruder minus own (m, m/s), ``dalt (B, K)`` m, ``valid (B, K)``.
    """
    r, h = p.pz_radius_nm * NM, p.pz_height_ft * FT
    dist = np.sqrt(np.einsum("bki,bki->bk", rel_pos, rel_pos))
    w2 = np.maximum(np.einsum("bki,bki->bk", rel_vel, rel_vel), 1e-6)
    tcpa = -np.einsum("bki,bki->bk", rel_pos, rel_vel) / w2
    conf = valid & G.conflicts(dist, tcpa, w2, dalt, r, h, p.lookahead_s)
    rm = r * p.margin
    dcpa = rel_pos + rel_vel * tcpa[..., None]
    dabs = np.sqrt(np.einsum("bki,bki->bk", dcpa, dcpa))
    ih = rm - dabs
    safe = np.where(dist > 0, dist, 1.0)
    guard = dabs <= HEAD_ON_GUARD_M
    perp = np.stack([rel_pos[..., 1], -rel_pos[..., 0]], axis=-1) / safe[..., None] * HEAD_ON_GUARD_M
    dcpa = np.where(guard[..., None], perp, dcpa)
    dabs = np.where(guard, HEAD_ON_GUARD_M, dabs)
    outside = (rm < dist) & (dabs < dist)
    with np.errstate(invalid="ignore"):
        erratum = np.cos(np.arcsin(np.clip(rm / safe, -1, 1)) - np.arcsin(np.clip(dabs / safe, -1, 1)))
    num = np.where(outside, rm / np.where(outside, erratum, 1.0) - dabs, ih)
    dv = num[..., None] * dcpa / (np.maximum(np.abs(tcpa), 1e-3) * dabs)[..., None]
    dv = np.where(conf[..., None], dv, 0.0)
    newv = np.stack([np.zeros_like(speed), speed], axis=-1) - dv.sum(axis=1)
    return newv, conf.any(axis=1)


def direct_conflict(
    speed: np.ndarray, direct_vel: np.ndarray, rel_pos: np.ndarray, rel_vel: np.ndarray,
    dalt: np.ndarray, valid: np.ndarray, p: MVPParams,
) -> np.ndarray:
    """``(B,)``: would flying ``direct_vel (B, 2)`` (heading-up frame) bring a conflict with an
    intruder whose CPA at the current velocities is still ahead? A conflict here is a predicted
    CPA closer than ``resume_margin`` protected-zone radii."""
    r, h = p.pz_radius_nm * NM * p.resume_margin, p.pz_height_ft * FT
    ahead = np.einsum("bki,bki->bk", rel_pos, rel_vel) < 0.0
    own = np.stack([np.zeros_like(speed), speed], axis=-1)
    w = rel_vel + (own - direct_vel)[:, None, :]
    dist = np.sqrt(np.einsum("bki,bki->bk", rel_pos, rel_pos))
    w2 = np.maximum(np.einsum("bki,bki->bk", w, w), 1e-6)
    tcpa = -np.einsum("bki,bki->bk", rel_pos, w) / w2
    return (valid & ahead & G.conflicts(dist, tcpa, w2, dalt, r, h, p.lookahead_s)).any(axis=1)


class _Resolver:
    """Batched scripted policy over aircraft observation rows (acts like an SB3 model)."""

    def __init__(self, params: DirectParams, k: int, resolve: bool) -> None:
        self.p, self.k, self.resolve = params, k, resolve

    def resolution(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(heading change (rad), new speed (m/s), in_conflict)`` per row of ``obs (B, size)``,
        before the action scaling and clipping."""
        p = self.p
        o = np.asarray(obs, dtype=np.float64).reshape(-1, obs.shape[-1])
        conf = np.zeros(o.shape[0], dtype=bool)
        speed = o[:, L.OWN["speed"].start] * L.SPEED_SCALE
        drift = np.arctan2(o[:, L.OWN["sin_drift"].start], o[:, L.OWN["cos_drift"].start])
        dpsi = drift
        gs = np.full_like(speed, p.cruise_speed_kt * KT)
        if self.resolve and isinstance(p, MVPParams):
            slots = o[:, L.OWN_SIZE:L.OWN_SIZE + self.k * L.SLOT_SIZE].reshape(-1, self.k, L.SLOT_SIZE)
            valid = slots[..., L.SLOT["valid"].start] > 0.5
            rel_pos = slots[..., L.SLOT["rel_pos"]] * L.REL_SCALE
            rel_vel = slots[..., L.SLOT["rel_vel"]] * L.SPEED_SCALE
            dalt = slots[..., L.SLOT["dalt"].start] * L.ALT_SCALE
            newv, conf = mvp_velocity(speed, rel_pos, rel_vel, dalt, valid, p)
            trk = compass_bearing(newv)
            mag = np.linalg.norm(newv, axis=-1)
            if p.mode == "heading":
                mag = speed
            elif p.mode == "speed":
                trk = np.zeros_like(trk)
            mag = np.clip(mag, p.min_speed_kt * KT, p.max_speed_kt * KT)
            if p.resume == "past_cpa":
                dvel = gs[:, None] * np.stack([np.sin(drift), np.cos(drift)], axis=-1)
                hold = ~conf & direct_conflict(speed, dvel, rel_pos, rel_vel, dalt, valid, p)
                dpsi, gs = np.where(hold, 0.0, dpsi), np.where(hold, speed, gs)
            dpsi, gs = np.where(conf, trk, dpsi), np.where(conf, mag, gs)
        return dpsi, gs, conf

    def act(self, obs: np.ndarray) -> np.ndarray:
        """Actions ``(B, 2)`` in ``[-1, 1]`` for rows ``(B, obs_size)``."""
        p = self.p
        o = np.asarray(obs, dtype=np.float64).reshape(-1, obs.shape[-1])
        speed = o[:, L.OWN["speed"].start] * L.SPEED_SCALE
        dpsi, gs, _ = self.resolution(o)
        a_h = np.clip(dpsi / np.deg2rad(p.max_heading_change_deg), -1.0, 1.0)
        a_v = np.clip((gs - speed) / (p.max_speed_change_kt * KT), -1.0, 1.0)
        active = o[:, L.OWN["active"].start] > 0.5
        return (np.stack([a_h, a_v], axis=1) * active[:, None]).astype(np.float32)

    def predict(self, observation: np.ndarray, state: tuple[np.ndarray, ...] | None = None,
                episode_start: np.ndarray | None = None, deterministic: bool = True
                ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        """SB3-style ``predict`` over a batch of aircraft rows (any leading shape)."""
        obs = np.asarray(observation)
        return self.act(obs).reshape(*obs.shape[:-1], L.ACTION_SIZE), state


def _slots(observation_space: gym.Space, action_space: gym.Space, name: str) -> int:
    if getattr(action_space, "shape", None) != (L.ACTION_SIZE,):
        raise ValueError(f"{name} needs a ({L.ACTION_SIZE},) action space, got {action_space}")
    n = int(np.prod(observation_space.shape or (0,)))
    if n <= L.OWN_SIZE or (n - L.OWN_SIZE) % L.SLOT_SIZE:
        raise ValueError(f"{name} needs the unstacked hlynr/ATC-v0 observation layout; got size {n}")
    return (n - L.OWN_SIZE) // L.SLOT_SIZE


def make_mvp(observation_space: gym.Space, action_space: gym.Space, params: MVPParams) -> _Resolver:
    """The ``mvp`` baseline for these spaces."""
    return _Resolver(params, _slots(observation_space, action_space, "mvp"), resolve=True)


def make_direct(observation_space: gym.Space, action_space: gym.Space, params: DirectParams) -> _Resolver:
    """The ``direct`` baseline for these spaces."""
    return _Resolver(params, _slots(observation_space, action_space, "direct"), resolve=False)


ATC_BASELINES: dict[str, BaselineEntry] = {
    "mvp": BaselineEntry(params=MVPParams, factory=make_mvp, env_ids=("hlynr/ATC-v0",)),
    "direct": BaselineEntry(params=DirectParams, factory=make_direct, env_ids=("hlynr/ATC-v0",)),
}
