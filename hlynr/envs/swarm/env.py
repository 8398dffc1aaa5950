"""``SwarmInterceptEnv``: N identical interceptors against one fast target (PettingZoo Parallel API).

Model (2-D, SI units, world frame centred on the defended zone, threat axis +x):

* the target spawns 9-11 km out inside a sector about +x and homes (PN, N'=3) on a point inside
  the defended zone, so its track reaches the zone unless intercepted; evasion ``none`` flies
  straight, ``basic`` weaves, ``full`` weaves and jinks at full authority away from the nearest
  interceptor inside ``evade_range``;
* interceptors are point masses with speed, lateral-acceleration, turn-rate and thrust limits and
  a fuel fraction (idle burn plus throttle burn); running dry, leaving the arena or colliding
  with a teammate loses the agent;
* each agent keeps its own constant-velocity Kalman track of the target, updated with its own
  noisy detections (inside ``detect_range``), ground-radar cues (every ``radar_period`` when
  ``radar_cueing``) and detections shared by teammates in ``comms_range``;
* an intercept is the closest point of approach *within* a step (relative motion linear over the
  step) coming inside ``kill_radius``; the target escapes when its track enters the zone.

Black death: every slot stays in ``agents`` until the team episode ends. Inactive slots
(``n_agents < max_agents``) and lost agents get all-zero observations and zero reward, and are
never terminated on their own, so the vector layout stays fixed and all rows end together:
``terminated`` on intercept, escape or loss of every agent, ``truncated`` at ``max_steps``.

Reward (see docs/swarm.md): a team part, the same for every agent alive at the start of the
step: ``+intercept_bonus`` / ``-escape_penalty`` at the end, minus bounded fuel (episode total
<= ``fuel_weight``), bunching (<= ``spread_weight``) and agent-loss (<= ``loss_weight``) terms;
plus potential-based approach shaping (each agent's zero-effort miss against the target until
it passes; per agent with ``approach_credit: individual``, best agent with ``team``; |episode
sum| <= ``approach_weight``). ``info["team_reward"]`` of the first agent is the team part plus the mean
approach term, so the team return is bounded by the sum of those weights and bonuses.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from hlynr.envs.swarm import layout as L
from hlynr.envs.swarm import physics as P
from hlynr.envs.swarm.params import SwarmParams

END_KEYS: tuple[str, ...] = (
    "is_success", "escaped", "miss_distance", "episode_time", "fuel_remaining", "agents_lost",
    "target_speed", "n_agents", "evasion_level",
)
"""Numeric end-of-episode values put in the final step's infos (``is_success`` is a bool)."""

_VEL_PRIOR = 3000.0  # std (m/s) of the target-velocity prior at track initiation


class SwarmInterceptEnv(ParallelEnv):
    """Cooperative swarm interception of one fast, evasive target; see the module docstring."""

    metadata = {"name": "hlynr_swarm_v0", "render_modes": [], "is_parallelizable": True}

    def __init__(self, params: SwarmParams | None = None, render_mode: str | None = None, **kwargs: Any) -> None:
        """Build from a ``SwarmParams`` or from its fields as keyword arguments (validated)."""
        if params is not None and kwargs:
            raise ValueError("pass either params or keyword parameters, not both")
        self.params = params if params is not None else SwarmParams(**kwargs)
        self._pending: SwarmParams | None = None
        self.render_mode = render_mode
        m = self.params.max_agents
        self.possible_agents = [f"interceptor_{i}" for i in range(m)]
        self.agents: list[str] = []
        self._obs_space = spaces.Box(
            -L.OBS_CLIP, L.OBS_CLIP, (L.obs_size(self.params.k_neighbours),), np.float32
        )
        self._act_space = spaces.Box(-1.0, 1.0, (L.ACTION_SIZE,), np.float32)
        self._rng: np.random.Generator | None = None

    # --- spaces -------------------------------------------------------------------------
    def observation_space(self, agent: str) -> spaces.Box:
        """The same Box for every agent and every stage (sized by ``max_agents``/``k_neighbours``)."""
        return self._obs_space

    def action_space(self, agent: str) -> spaces.Box:
        """``[lateral, throttle]`` in ``[-1, 1]``; see :data:`layout.ACTION_SIZE`."""
        return self._act_space

    # --- curriculum -----------------------------------------------------------------------
    def apply_params(self, **params: Any) -> None:
        """Validate ``params`` against the current parameters; they take effect at the next reset.

        Unknown keys raise ``ValueError`` naming the key; ``max_agents``/``k_neighbours`` cannot
        change (they size the spaces).
        """
        base = self._pending if self._pending is not None else self.params
        self._pending = base.updated(**params)

    # --- episode --------------------------------------------------------------------------
    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:
        """Start a team episode; ``seed`` re-seeds the env's generator (else it continues)."""
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        elif self._rng is None:
            self._rng = np.random.default_rng()
        if options and "params" in options:
            self.apply_params(**options["params"])
        if self._pending is not None:
            self.params, self._pending = self._pending, None
        p, rng, m = self.params, self._rng, self.params.max_agents
        self.agents = list(self.possible_agents)
        self._active = np.arange(m) < p.n_agents
        self._alive = self._active.copy()
        x0, x1, y0, y1 = p.start_box
        self._pos = np.stack([rng.uniform(x0, x1, m), rng.uniform(y0, y1, m)], axis=1)
        heading = rng.uniform(-np.pi / 4, np.pi / 4, m)
        self._vel = p.cruise_speed * np.stack([np.cos(heading), np.sin(heading)], axis=1)
        self._fuel = np.where(self._active, 1.0, 0.0)
        # target
        rng_t = rng.uniform(*p.spawn_range)
        bearing = np.deg2rad(rng.uniform(-p.spawn_sector_deg, p.spawn_sector_deg))
        self._tpos = rng_t * np.array([[np.cos(bearing), np.sin(bearing)]])
        r_aim, a_aim = 0.5 * p.zone_radius * np.sqrt(rng.uniform()), rng.uniform(0, 2 * np.pi)
        self._aim = r_aim * np.array([[np.cos(a_aim), np.sin(a_aim)]])
        u, _ = P.unit(self._aim - self._tpos)
        self._tvel = p.target_speed * u
        self._weave_omega = np.array([rng.uniform(1.5, 3.0)])
        self._weave_phase = np.array([rng.uniform(0.0, 2 * np.pi)])
        self._jink_sign = np.array([rng.choice([-1.0, 1.0])])
        self._next_flip = rng.uniform(0.3, 1.0)
        # tracking
        self._f_pos = np.zeros((m, 2))
        self._f_vel = np.zeros((m, 2))
        self._f_cov = np.zeros((m, 3))
        self._f_init = np.zeros(m, dtype=bool)
        self._f_last = np.zeros(m)
        self._src = np.zeros((m, 3), dtype=bool)
        self._t = 0.0
        self._steps = 0
        self._next_radar = 0.0
        self._miss = np.inf
        self._lost = 0
        self._sense()
        self._phi = self._potential()
        obs = self._observe()
        infos = {a: {"active": bool(self._alive[i])} for i, a in enumerate(self.agents)}
        return {a: obs[i] for i, a in enumerate(self.agents)}, infos

    def step(
        self, actions: dict[str, np.ndarray]
    ) -> tuple[
        dict[str, np.ndarray], dict[str, float], dict[str, bool], dict[str, bool], dict[str, dict[str, Any]]
    ]:
        """Advance every agent and the target by ``dt``; see the module docstring for the rules."""
        if not self.agents:
            raise RuntimeError("step() called after the episode ended; call reset()")
        p, m = self.params, self.params.max_agents
        act = np.zeros((m, 2))
        for i, a in enumerate(self.possible_agents):
            if a in actions and actions[a] is not None:
                act[i] = np.asarray(actions[a], dtype=np.float64).reshape(2)
        act = np.clip(np.nan_to_num(act), -1.0, 1.0)
        alive0 = self._alive.copy()
        live = np.flatnonzero(alive0)
        pos0, tpos0 = self._pos.copy(), self._tpos.copy()
        fuel_used = np.zeros(m)
        if live.size:
            newp, newv = P.step_vehicle(
                self._pos[live], self._vel[live], act[live, 0] * p.max_lateral_accel,
                act[live, 1] * p.max_thrust_accel, p.dt, p.min_speed, p.max_speed,
                p.max_lateral_accel, p.max_turn_rate,
            )
            self._pos[live], self._vel[live] = newp, newv
            f_new = P.burn_fuel(self._fuel[live], act[live, 1], p.dt, p.endurance_s, p.idle_burn)
            fuel_used[live] = self._fuel[live] - f_new
            self._fuel[live] = f_new
        # target
        if self._t >= self._next_flip:
            self._jink_sign = -self._jink_sign
            self._next_flip = self._t + self._rng.uniform(0.3, 1.0)
        threat_rel = threat_rng = None
        if live.size:
            rel = pos0[live] - tpos0
            d = np.linalg.norm(rel, axis=1)
            j = int(np.argmin(d))
            threat_rel, threat_rng = rel[j : j + 1], d[j : j + 1]
        acc = P.target_accel(
            tpos0, self._tvel, self._aim, self._t, p.evasion_level, p.target_max_accel,
            self._weave_omega, self._weave_phase, threat_rel, threat_rng, p.evade_range,
            self._jink_sign, zone_guard=0.6 * p.zone_radius,
        )
        self._tpos, self._tvel = P.step_vehicle(
            self._tpos, self._tvel, acc, np.zeros(1), p.dt, p.target_speed, p.target_speed,
            max(p.target_max_accel, 1e-9), np.inf,
        )
        # intercept (CPA inside the step) and escape
        hit, tau_hit = False, 1.0
        if live.size:
            tau, dist = P.segment_cpa(tpos0 - pos0[live], self._tpos - self._pos[live])
            self._miss = min(self._miss, float(dist.min()))
            inside = dist <= p.kill_radius
            if inside.any():
                hit, tau_hit = True, float(tau[inside].min())
        tau_esc, d_zone = P.segment_cpa(tpos0, self._tpos)
        escaped = bool(d_zone[0] <= p.zone_radius) and not (hit and tau_hit <= tau_esc[0])
        hit = hit and not escaped
        # losses
        r = np.linalg.norm(self._pos, axis=1)
        lost = alive0 & ((self._fuel <= 0.0) | (r > p.arena_radius))
        if p.collision_radius > 0 and live.size > 1:
            dd = np.linalg.norm(self._pos[:, None] - self._pos[None], axis=-1)
            close = (dd < p.collision_radius) & alive0[:, None] & alive0[None] & ~np.eye(m, dtype=bool)
            lost |= close.any(axis=1)
        n_lost = int(lost.sum())
        self._alive = alive0 & ~lost
        self._lost += n_lost
        all_lost = not self._alive.any()
        # sensing and time
        self._t += p.dt
        self._steps += 1
        self._sense()
        # team reward
        phi = self._potential(self._phi)
        if p.approach_credit == "team":
            shaping = np.full(m, p.approach_weight * (phi.max() - self._phi.max()))
        else:  # each agent's own potential difference
            shaping = p.approach_weight * (phi - self._phi)
        self._phi = phi
        reward = 0.0
        reward -= p.fuel_weight * float(fuel_used.sum()) / p.n_agents
        reward -= p.spread_weight * self._bunching() / p.max_steps
        reward -= p.loss_weight * n_lost / p.n_agents
        terminated = hit or escaped or all_lost
        if hit:
            reward += p.intercept_bonus
        elif escaped or all_lost:
            reward -= p.escape_penalty
        truncated = (not terminated) and self._steps >= p.max_steps
        obs = self._observe()
        rews = np.where(alive0, reward + shaping, 0.0)
        reward += float(shaping[self._active].mean()) if p.approach_credit == "individual" else float(shaping[0])
        agents = self.agents
        infos: dict[str, dict[str, Any]] = {
            a: {"active": bool(self._alive[i])} for i, a in enumerate(agents)
        }
        infos[agents[0]]["team_reward"] = float(reward)
        if terminated or truncated:
            stats = {
                "is_success": bool(hit),
                "escaped": float(escaped or all_lost),
                "miss_distance": float(self._miss) if np.isfinite(self._miss) else float(p.arena_radius),
                "episode_time": float(self._t),
                "fuel_remaining": float(self._fuel[self._active].mean()),
                "agents_lost": float(self._lost),
                "target_speed": float(p.target_speed),
                "n_agents": float(p.n_agents),
                "evasion_level": float(p.evasion_level),
            }
            for a in agents:
                infos[a].update(stats)
        out = (
            {a: obs[i] for i, a in enumerate(agents)},
            {a: float(rews[i]) for i, a in enumerate(agents)},
            {a: bool(terminated) for a in agents},
            {a: bool(truncated) for a in agents},
            infos,
        )
        if terminated or truncated:
            self.agents = []
        return out

    # --- internals ------------------------------------------------------------------------
    def _sense(self) -> None:
        """Predict every track to now, then fuse radar cues, own and shared detections."""
        p, rng, m = self.params, self._rng, self.params.max_agents
        t = self._t
        if self._steps > 0:
            self._f_pos, self._f_vel, self._f_cov = P.kf_predict(
                self._f_pos, self._f_vel, self._f_cov, p.dt, p.sigma_a
            )
        self._src[:] = False
        tgt = self._tpos[0]
        measurements: list[tuple[np.ndarray, float, np.ndarray, int]] = []
        # ground radar cue, broadcast to every live agent
        if p.radar_cueing and t >= self._next_radar - 1e-9:
            self._next_radar += p.radar_period
            rr = float(np.linalg.norm(tgt))
            if rr <= p.radar_range:
                sig = float(P.measurement_sigma(np.array(rr), p.radar_sigma, p.radar_sigma_per_m))
                z = tgt + sig * rng.standard_normal(2)
                measurements.append((z, sig * sig, self._alive.copy(), 1))
        # own detections, shared with teammates in comms range
        rel = tgt - self._pos
        rngs = np.linalg.norm(rel, axis=1)
        det = self._alive & (rngs <= p.detect_range)
        if det.any():
            comm = P.comms_matrix(self._pos, self._alive, p.comms_range)
            sig = P.measurement_sigma(rngs, p.own_sigma, p.own_sigma_per_m)
            noise = rng.standard_normal((m, 2))
            for j in np.flatnonzero(det):
                z = tgt + sig[j] * noise[j]
                self._src[j, 0] = True
                measurements.append((z, float(sig[j] ** 2), comm[:, j].copy(), 2))
                measurements.append((z, float(sig[j] ** 2), np.eye(m, dtype=bool)[j], 0))
        for z, var, recv, src in measurements:
            recv = recv & self._alive
            if not recv.any():
                continue
            self._src[recv, src] = True
            fresh = recv & ~self._f_init
            if fresh.any():
                self._f_pos[fresh] = z
                self._f_vel[fresh] = 0.0
                self._f_cov[fresh] = (var, 0.0, _VEL_PRIOR**2)
                self._f_init |= fresh
            upd = recv & ~fresh
            if upd.any():
                zz = np.broadcast_to(z, (m, 2))
                self._f_pos, self._f_vel, self._f_cov = P.kf_update(
                    self._f_pos, self._f_vel, self._f_cov, zz, np.full(m, var), upd
                )
            self._f_last[recv] = t
        stale = self._f_init & (t - self._f_last > p.track_timeout)
        self._f_init &= ~stale

    def _potential(self, previous: np.ndarray | None = None) -> np.ndarray:
        """Approach potentials ``(max_agents,)`` in ``[-1, 0]``: minus each agent's zero-effort miss
        against the target (truth) over ``approach_scale``. Agents not closing on the target (it
        has passed them) and lost agents keep their ``previous`` potential, so the episode's
        shaping sums to the improvement of each agent's miss up to its pass."""
        m = self.params.max_agents
        phi = np.full(m, -1.0) if previous is None else previous.copy()
        live = self._alive
        if live.any():
            zem, closing = P.zero_effort_miss(self._tpos - self._pos[live], self._tvel - self._vel[live])
            new = -np.clip(zem / self.params.approach_scale, 0.0, 1.0)
            upd = np.zeros(m, dtype=bool)
            upd[live] = closing if previous is not None else True
            phi[upd] = new[upd[live]]
        return phi

    def _bunching(self) -> float:
        """Fraction of live-agent pairs closer than ``spread_distance`` (0 with < 2 agents)."""
        idx = np.flatnonzero(self._alive)
        if idx.size < 2 or self.params.spread_distance <= 0:
            return 0.0
        d = np.linalg.norm(self._pos[idx, None] - self._pos[None, idx], axis=-1)
        iu = np.triu_indices(idx.size, 1)
        return float((d[iu] < self.params.spread_distance).mean())

    def _observe(self) -> np.ndarray:
        """All agent rows, ``(max_agents, obs_size)`` float32, laid out as in :mod:`layout`."""
        p, m = self.params, self.params.max_agents
        o = np.zeros((m, L.obs_size(p.k_neighbours)))
        alive = self._alive
        head, speed = P.unit(self._vel)
        o[:, L.SL["active"]] = 1.0
        o[:, L.SL["pos"]] = self._pos / L.POS_SCALE
        o[:, L.SL["vel"]] = self._vel / L.OWN_SPEED_SCALE
        o[:, L.SL["speed"]] = speed[:, None] / L.OWN_SPEED_SCALE
        o[:, L.SL["fuel"]] = self._fuel[:, None]
        o[:, L.SL["time"]] = self._t / (p.max_steps * p.dt)
        o[:, L.SL["zone_rel"]] = P.to_body(-self._pos, head) / L.POS_SCALE
        valid = self._f_init & alive
        if valid.any():
            rel = self._f_pos - self._pos
            rvel = self._f_vel - self._vel
            rng, closing, los = P.los_kinematics(rel, rvel)
            cross, to_line = P.track_geometry(self._pos, self._f_pos, self._f_vel)
            lead, _ = P.unit(to_line)
            trk = np.zeros((m, L.BASE_SIZE))
            trk[:, L.SL["trk_valid"]] = 1.0
            trk[:, L.SL["trk_rel_pos"]] = P.to_body(rel, head) / L.REL_SCALE
            trk[:, L.SL["trk_vel"]] = P.to_body(self._f_vel, head) / L.TARGET_SPEED_SCALE
            trk[:, L.SL["trk_rel_vel"]] = P.to_body(rvel, head) / L.TARGET_SPEED_SCALE
            trk[:, L.SL["trk_range"]] = rng[:, None] / L.REL_SCALE
            trk[:, L.SL["trk_closing"]] = closing[:, None] / L.TARGET_SPEED_SCALE
            trk[:, L.SL["trk_los_rate"]] = los[:, None] * L.LOS_RATE_SCALE
            trk[:, L.SL["trk_pos"]] = self._f_pos / L.POS_SCALE
            trk[:, L.SL["trk_cross"]] = cross[:, None] / L.REL_SCALE
            trk[:, L.SL["trk_lead"]] = P.to_body(lead, head)
            trk[:, L.SL["src_own"].start : L.SL["src_shared"].stop] = self._src[:, [0, 1, 2]]
            trk[:, L.SL["trk_age"]] = ((self._t - self._f_last) / p.track_timeout)[:, None]
            sl = slice(L.SL["trk_valid"].start, L.BASE_SIZE)
            o[valid, sl] = trk[valid, sl]
        if p.k_neighbours:
            idx, ok = P.nearest_mates(self._pos, alive, p.comms_range, p.k_neighbours)
            for k in range(p.k_neighbours):
                v = ok[:, k]
                if not v.any():
                    continue
                o[v, L.mate_slice(k, "valid")] = 1.0
                o[v, L.mate_slice(k, "rel_pos")] = P.to_body(self._pos[idx[v, k]] - self._pos[v], head[v]) / L.COMMS_SCALE
                o[v, L.mate_slice(k, "rel_vel")] = P.to_body(self._vel[idx[v, k]] - self._vel[v], head[v]) / L.OWN_SPEED_SCALE
        o[~alive] = 0.0
        return np.clip(o, -L.OBS_CLIP, L.OBS_CLIP).astype(np.float32)

    def state(self) -> np.ndarray:
        """Global truth state (for critics/debugging): agents' pos, vel, fuel, alive; target."""
        return np.concatenate(
            [self._pos.ravel(), self._vel.ravel(), self._fuel, self._alive.astype(float),
             self._tpos.ravel(), self._tvel.ravel()]
        ).astype(np.float32)

    def render(self) -> None:
        """No rendering (``render_modes`` is empty)."""
        return None

    def close(self) -> None:
        """Nothing to release."""
        return None


def make_swarm_env(**kwargs: Any) -> SwarmInterceptEnv:
    """Factory registered in ``PETTINGZOO_ENVS``: keyword parameters of :class:`SwarmParams`."""
    return SwarmInterceptEnv(**kwargs)
