"""Outcome of a swarm step for all copies: intercept by closest approach inside the step, escape,
agent losses, approach potentials, team reward and the end-of-episode statistics."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hlynr.envs.intercept.physics import closest_approach
from hlynr.envs.swarm.physics import norm2, zero_effort_miss
from hlynr.envs.swarm.sensing import pairwise_distance
from hlynr.envs.swarm.state import SwarmState
from hlynr.envs.swarm.table import ParamTable

END_KEYS: tuple[str, ...] = (
    "is_success", "escaped", "miss_distance", "episode_time", "fuel_remaining", "agents_lost",
    "target_speed", "n_agents", "evasion_level",
)
"""End-of-episode values of a team episode (``is_success`` is a bool), in :func:`final_stats` order."""


def segment_cpa(rel0: np.ndarray, rel1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Closest approach within a step of relative positions moving linearly from ``rel0`` to
    ``rel1`` (``(..., 2)``): ``(tau in [0, 1], distance)``, by the intercept engine's
    :func:`~hlynr.envs.intercept.physics.closest_approach`."""
    shape = rel0.shape[:-1]
    d, s = closest_approach(rel0.reshape(-1, 2).T, rel1.reshape(-1, 2).T)
    return s.reshape(shape), d.reshape(shape)


@dataclass
class Engagement:
    """Per-copy events of one step: intercept, escape, agents lost."""

    hit: np.ndarray  # (N,) bool
    escaped: np.ndarray  # (N,) bool
    n_lost: np.ndarray  # (N,) int
    all_lost: np.ndarray  # (N,) bool


def engagement(st: SwarmState, p: ParamTable, alive0: np.ndarray, pos0: np.ndarray,
               tpos0: np.ndarray) -> Engagement:
    """Intercepts (CPA inside the step within ``kill_radius``), escapes (target track entering the
    zone first) and losses (fuel, arena, collisions); updates ``miss``, ``alive`` and ``lost``."""
    tau, dist = segment_cpa(tpos0[:, None, :] - pos0, st.tpos[:, None, :] - st.pos)
    dist = np.where(alive0, dist, np.inf)
    st.miss = np.minimum(st.miss, dist.min(axis=1))
    inside = alive0 & (dist <= p.kill_radius[:, None])
    hit = inside.any(axis=1)
    tau_hit = np.where(inside, tau, 1.0).min(axis=1)
    tau_esc, d_zone = segment_cpa(tpos0, st.tpos)
    escaped = (d_zone <= p.zone_radius) & ~(hit & (tau_hit <= tau_esc))
    hit = hit & ~escaped
    r = norm2(st.pos)
    lost = alive0 & ((st.fuel <= 0.0) | (r > p.arena_radius[:, None]))
    if (p.collision_radius > 0).any():
        m = st.pos.shape[1]
        close = ((pairwise_distance(st.pos) < p.collision_radius[:, None, None])
                 & alive0[:, :, None] & alive0[:, None, :] & ~np.eye(m, dtype=bool))
        lost |= close.any(axis=2)
    n_lost = lost.sum(axis=1)
    st.alive = alive0 & ~lost
    st.lost = st.lost + n_lost
    return Engagement(hit, escaped, n_lost, np.logical_not(st.alive.any(axis=1)))


def potentials(st: SwarmState, p: ParamTable, previous: np.ndarray | None) -> np.ndarray:
    """Approach potentials (N, M) in [-1, 0]: minus each agent's zero-effort miss against the true
    target over ``approach_scale``. Agents not closing on the target and lost agents keep their
    ``previous`` potential (at a reset: -1 for slots without a live agent)."""
    zem, closing = zero_effort_miss(st.tpos[:, None, :] - st.pos, st.tvel[:, None, :] - st.vel)
    new = -np.clip(zem / p.approach_scale[:, None], 0.0, 1.0)
    if previous is None:
        return np.where(st.alive, new, -1.0)
    return np.where(st.alive & closing, new, previous)


def bunching(st: SwarmState, p: ParamTable) -> np.ndarray:
    """Fraction (N,) of live-agent pairs closer than ``spread_distance`` (0 with < 2 agents)."""
    m = st.pos.shape[1]
    pairs = st.alive[:, :, None] & st.alive[:, None, :] & np.triu(np.ones((m, m), dtype=bool), 1)
    close = pairs & (pairwise_distance(st.pos) < p.spread_distance[:, None, None])
    count = pairs.sum(axis=(1, 2))
    frac = close.sum(axis=(1, 2)) / np.maximum(count, 1)
    return np.where((count > 0) & (p.spread_distance > 0), frac, 0.0)


def rewards(st: SwarmState, p: ParamTable, ev: Engagement, alive0: np.ndarray,
            fuel_used: np.ndarray, phi_prev: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-agent rewards (N, M) and the team reward (N,) of a step; updates ``phi``.

    Team part (every agent alive at the step start): ``+intercept_bonus`` / ``-escape_penalty``
    at the end, minus the bounded fuel, bunching and loss terms; plus approach shaping (each
    agent's own potential difference, or the best agent's with ``approach_credit: team``).
    """
    phi = potentials(st, p, phi_prev)
    st.phi = phi
    w = p.approach_weight
    team_shaping = w * (phi.max(axis=1) - phi_prev.max(axis=1))
    shaping = np.where(p.team_credit[:, None], team_shaping[:, None], w[:, None] * (phi - phi_prev))
    reward = 0.0 - p.fuel_weight * fuel_used.sum(axis=1) / p.n_agents
    reward = reward - p.spread_weight * bunching(st, p) / p.max_steps
    reward = reward - p.loss_weight * ev.n_lost / p.n_agents
    reward = np.where(ev.hit, reward + p.intercept_bonus,
                      np.where(ev.escaped | ev.all_lost, reward - p.escape_penalty, reward))
    per_agent = np.where(alive0, reward[:, None] + shaping, 0.0)
    mean_active = (shaping * st.active).sum(axis=1) / st.active.sum(axis=1)
    team = reward + np.where(p.team_credit, shaping[:, 0], mean_active)
    return per_agent, team


def final_stats(st: SwarmState, p: ParamTable, success: np.ndarray, failed: np.ndarray) -> np.ndarray:
    """The :data:`END_KEYS` values (N, len(END_KEYS)) of every copy as of now."""
    miss = np.where(np.isfinite(st.miss), st.miss, p.arena_radius)
    fuel = (st.fuel * st.active).sum(axis=1) / st.active.sum(axis=1)
    return np.stack([
        success.astype(float), failed.astype(float), miss, st.t, fuel, st.lost.astype(float),
        p.target_speed, p.n_agents.astype(float), p.evasion_level.astype(float),
    ], axis=1)
