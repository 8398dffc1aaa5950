"""``SwarmEngine``: ``n_copies`` swarm engagements stepped as NumPy arrays.

The one implementation of the swarm model: the PettingZoo env ``hlynr/Swarm-v0`` is this engine
with one copy, and the batched VecEnv of agent rows is it with many. A step runs its concerns in
order: interceptor motion (:mod:`.dynamics`), target motion and evasion, intercept by closest
approach inside the step, escape and losses (:mod:`.outcome`), sensing and tracks
(:mod:`.sensing`), reward, observation (:mod:`.observation`). Randomness is counter based
(:mod:`hlynr.envs.intercept.rng`): every draw is a function of the copy's episode key, a stream
and the step number, so copy ``c`` computes the same numbers whatever other copies exist.
Implements :class:`hlynr.multiagent.engine.AgentRowsEngine`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from gymnasium import spaces

from hlynr.envs.intercept import rng as R
from hlynr.envs.swarm import layout as L
from hlynr.envs.swarm.dynamics import move_interceptors, move_target
from hlynr.envs.swarm.observation import critic_observe, observe, team_state
from hlynr.envs.swarm.outcome import END_KEYS, engagement, final_stats, potentials, rewards
from hlynr.envs.swarm.params import SwarmParams
from hlynr.envs.swarm.physics import unit
from hlynr.envs.swarm.sensing import sense
from hlynr.envs.swarm.state import SwarmState
from hlynr.envs.swarm.table import ParamTable
from hlynr.multiagent.engine import PendingParams, RowsStep
from hlynr.registries import EntityLayout

STREAM_SCENARIO, STREAM_TARGET, STREAM_CUE, STREAM_OWN = 11, 12, 13, 14
"""Random streams: initial scenario, jink timing, ground-radar noise, own-sensor noise."""


class SwarmEngine(PendingParams):
    """``n_copies`` copies of the swarm task; all copies share ``max_agents``/``k_neighbours``."""

    # AgentRowsEngine's types (a protocol's attributes must match exactly).
    observation_space: spaces.Box
    action_space: spaces.Box
    critic_observation_space: spaces.Box | None
    entity_layout: EntityLayout | None
    end_keys: tuple[str, ...] = END_KEYS

    def __init__(self, n_copies: int, params: SwarmParams | Sequence[SwarmParams]) -> None:
        models = [params] * n_copies if isinstance(params, SwarmParams) else list(params)
        if len(models) != n_copies:
            raise ValueError(f"{len(models)} parameter models for {n_copies} copies")
        self.table = ParamTable(models)
        self.n_copies = n_copies
        self.max_agents = m = models[0].max_agents
        self.k_neighbours = models[0].k_neighbours
        self.rows_per_copy = m
        self.observation_space = spaces.Box(-L.OBS_CLIP, L.OBS_CLIP, (L.obs_size(self.k_neighbours),),
                                            np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, (L.ACTION_SIZE,), np.float32)
        self.critic_observation_space = spaces.Box(
            -L.OBS_CLIP, L.OBS_CLIP, (L.critic_size(m, self.k_neighbours),), np.float32)
        self.state_space = spaces.Box(-L.OBS_CLIP, L.OBS_CLIP, (L.team_state_size(m),), np.float32)
        self.entity_layout = L.entity_layout(self.k_neighbours)
        """Own-and-track block and teammate slots of an observation row (None without slots)."""
        self.state = SwarmState.zeros(n_copies, m)
        self.obs = np.zeros((n_copies, m, self.observation_space.shape[0]), dtype=np.float32)
        """The latest observation rows of every copy."""
        self._init_params(models)

    # ------------------------------------------------------------------ episodes
    def seed(self, idx: np.ndarray, seeds: Sequence[int]) -> None:
        """Copy ``idx[k]``'s next episodes follow from ``seeds[k]`` alone."""
        idx = np.asarray(idx, dtype=int)
        self.state.base_key[idx] = R.seed_key(list(seeds))
        self.state.episode[idx] = 0

    def reset(self, idx: np.ndarray) -> np.ndarray:
        """Start new episodes in copies ``idx``; returns their observations (len(idx), M, D)."""
        idx = np.asarray(idx, dtype=int)
        changed = self._take_pending(idx)
        if changed:
            self.table.set_models(changed, [self._models[i] for i in changed])
        st, p = self.state.take(idx), self.table.take(idx)
        st.key = R.episode_key(st.base_key, st.episode)
        st.episode = st.episode + 1
        _initial_state(st, p, self.max_agents)
        zero = np.zeros(st.n, dtype=np.int64)
        sense(st, p, *self._noise(st, zero), predict=False)
        st.phi = potentials(st, p, None)
        obs = observe(st, p, self.k_neighbours)
        self.state.put(idx, st)
        self.obs = self.obs.copy()  # arrays handed out by step() stay as they were
        self.obs[idx] = obs
        return obs

    def _noise(self, st: SwarmState, counter: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        m = self.max_agents
        cue = R.normals(st.key, STREAM_CUE, counter, 2).T
        own = R.normals(st.key, STREAM_OWN, counter, 2 * m).T.reshape(st.n, m, 2)
        return cue, own

    def step(self, actions: np.ndarray) -> RowsStep:
        """Advance every copy by ``dt`` with ``actions`` (N, M, 2); non-finite entries count as 0,
        the rest is clipped to [-1, 1]. Finished copies are not reset."""
        st, p, m = self.state, self.table, self.max_agents
        act = np.asarray(actions, dtype=np.float64).reshape(self.n_copies, m, L.ACTION_SIZE)
        act = np.clip(np.where(np.isfinite(act), act, 0.0), -1.0, 1.0)
        alive0, pos0, tpos0 = st.alive.copy(), st.pos, st.tpos
        flip_u = R.uniforms(st.key, STREAM_TARGET, st.steps, 1)[0]
        fuel_used = move_interceptors(st, p, act)
        move_target(st, p, pos0, flip_u)
        ev = engagement(st, p, alive0, pos0, tpos0)
        st.t = st.t + p.dt
        st.steps = st.steps + 1
        sense(st, p, *self._noise(st, st.steps), predict=True)
        reward, team = rewards(st, p, ev, alive0, fuel_used, st.phi)
        terminated = ev.hit | ev.escaped | ev.all_lost
        truncated = ~terminated & (st.steps >= p.max_steps)
        self.obs = observe(st, p, self.k_neighbours)
        stats = final_stats(st, p, ev.hit, ev.escaped | ev.all_lost)
        return RowsStep(self.obs, reward.astype(np.float32), terminated, truncated, team, stats,
                        st.alive.copy())

    # ------------------------------------------------------------------ global state
    def critic_observations(self, idx: np.ndarray | None = None) -> np.ndarray:
        """Critic rows (see :func:`.observation.critic_observe`) of copies ``idx`` (default all)."""
        if idx is None:
            return critic_observe(self.state, self.obs)
        idx = np.asarray(idx, dtype=int)
        return critic_observe(self.state.take(idx), self.obs[idx])

    def team_states(self) -> np.ndarray:
        """The team-and-target block of every copy (N, team_state_size) float32."""
        return team_state(self.state).astype(np.float32)


def _initial_state(st: SwarmState, p: ParamTable, m: int) -> None:
    """Sample the start of an episode for every copy of ``st`` (in place) from its key."""
    n = st.n
    u = R.uniforms(st.key, STREAM_SCENARIO, np.zeros(n, dtype=np.int64), 3 * m + 8)
    def c(a: np.ndarray) -> np.ndarray:
        return a[:, None]

    box = p.start_box
    st.active = np.arange(m)[None, :] < c(p.n_agents)
    st.alive = st.active.copy()
    x = c(box[:, 0]) + c(box[:, 1] - box[:, 0]) * u[0:m].T
    y = c(box[:, 2]) + c(box[:, 3] - box[:, 2]) * u[m:2 * m].T
    st.pos = np.stack([x, y], axis=2)
    heading = -np.pi / 4 + (np.pi / 2) * u[2 * m:3 * m].T
    st.vel = c(p.cruise_speed)[..., None] * np.stack([np.cos(heading), np.sin(heading)], axis=2)
    st.fuel = np.where(st.active, 1.0, 0.0)
    k = 3 * m
    lo, hi = p.spawn_range[:, 0], p.spawn_range[:, 1]
    r_t = lo + (hi - lo) * u[k]
    bearing = np.deg2rad(-p.spawn_sector_deg + 2.0 * p.spawn_sector_deg * u[k + 1])
    st.tpos = r_t[:, None] * np.stack([np.cos(bearing), np.sin(bearing)], axis=1)
    r_aim = 0.5 * p.zone_radius * np.sqrt(u[k + 2])
    a_aim = 2.0 * np.pi * u[k + 3]
    st.aim = r_aim[:, None] * np.stack([np.cos(a_aim), np.sin(a_aim)], axis=1)
    d, _ = unit(st.aim - st.tpos)
    st.tvel = p.target_speed[:, None] * d
    st.weave_omega = 1.5 + 1.5 * u[k + 4]
    st.weave_phase = 2.0 * np.pi * u[k + 5]
    st.jink_sign = np.where(u[k + 6] < 0.5, -1.0, 1.0)
    st.next_flip = 0.3 + 0.7 * u[k + 7]
    st.trk[:] = 0.0
    st.trk_init[:] = False
    st.trk_last[:] = 0.0
    st.src[:] = False
    st.t = np.zeros(n)
    st.steps = np.zeros(n, dtype=np.int64)
    st.next_radar = np.zeros(n)
    st.miss = np.full(n, np.inf)
    st.lost = np.zeros(n, dtype=np.int64)
