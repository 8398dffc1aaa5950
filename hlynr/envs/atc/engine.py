"""``ATCEngine``: ``n_copies`` independent ``hlynr/ATC-v0`` episodes stepped as NumPy arrays.

The batched core behind the PettingZoo env (one copy) and any batched VecEnv of aircraft rows:

* ``reset(seeds, copies)`` starts episodes of the chosen copies and returns every copy's rows;
* ``step(actions[n_copies, max_aircraft, 2])`` advances every copy by ``dt`` and returns
  ``(obs (C, M, obs_size), rewards (C, M), terminated (C,), truncated (C,), infos)``, ``infos``
  a list with, per copy, ``{}`` or the end-of-episode values (:data:`metrics.END_KEYS`) in the
  step where its episode ends. A copy whose episode ended must be reset before it is stepped
  again (its rows are zeros until then).

Aircraft that are not flying (unused slots, aircraft past their exit) keep their slot with an
all-zero observation and zero reward until the episode ends (black death): ``terminated`` when
every aircraft has reached its exit, ``truncated`` after ``max_steps``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from hlynr.envs.atc import conflict as G
from hlynr.envs.atc import dynamics, scenarios
from hlynr.envs.atc import layout as L
from hlynr.envs.atc import observation as O
from hlynr.envs.atc import reward as R
from hlynr.envs.atc.metrics import EpisodeMetrics
from hlynr.envs.atc.params import ATCParams
from hlynr.envs.atc.units import FT, NM, heading_vector


class ATCEngine:
    """Batched air-traffic episodes; see the module docstring."""

    def __init__(self, params: ATCParams, n_copies: int = 1) -> None:
        if n_copies < 1:
            raise ValueError(f"n_copies must be >= 1, got {n_copies}")
        self.n_copies = n_copies
        self._pending: ATCParams | None = None
        self._set_params(params)
        c, m = n_copies, params.max_aircraft
        self.layout = L.entity_layout(params.k_intruders)
        self.obs_size = self.layout.size
        self.state_size = O.state_size(m)
        self.rngs: list[np.random.Generator | None] = [None] * c
        self.pos = np.zeros((c, m, 2))
        self.heading = np.zeros((c, m))
        self.speed = np.zeros((c, m))
        self.alt = np.zeros((c, m))
        self.exit = np.zeros((c, m, 2))
        self.present = np.zeros((c, m), dtype=bool)
        self.active = np.zeros((c, m), dtype=bool)
        self.end_active = self.active
        """Aircraft flying at the end of the last step, before ended copies went dark."""
        self.steps = np.zeros(c, dtype=np.int64)
        self.done = np.ones(c, dtype=bool)
        self.in_los = np.zeros((c, m, m), dtype=bool)
        self.in_conf = np.zeros((c, m, m), dtype=bool)
        self.ev_depth = np.zeros((c, m, m))
        self.phi = np.zeros(c)
        self.metrics = EpisodeMetrics(c, m)
        self._geom()

    # --- parameters ----------------------------------------------------------------------
    def _set_params(self, p: ATCParams) -> None:
        self.params = p
        self.lim = dynamics.Limits.from_params(p)
        self.R, self.H = p.pz_radius_nm * NM, p.pz_height_ft * FT
        self.exit_r = p.exit_radius_nm * NM

    def apply_params(self, **changes: Any) -> None:
        """Validate ``changes``; they take effect at the next ``reset`` (for every copy)."""
        base = self._pending if self._pending is not None else self.params
        self._pending = base.updated(**changes)

    # --- geometry ------------------------------------------------------------------------
    @property
    def vel(self) -> np.ndarray:
        """Velocities ``(C, M, 2)`` (east, north), m/s."""
        return self.speed[..., None] * heading_vector(self.heading)

    def _geom(self) -> None:
        """Pairwise geometry of the current state (kept for the next step's in-step CPA)."""
        self.d, self.w, self.dist, self.w2 = G.pair_geometry(self.pos, self.vel)
        self.tcpa, self.dcpa = G.cpa(self.d, self.w, self.w2)
        self.dalt = self.alt[:, None, :] - self.alt[:, :, None]
        m = self.pos.shape[1]
        self.pair_ok = self.active[:, :, None] & self.active[:, None, :] & ~np.eye(m, dtype=bool)
        self.co_alt = np.abs(self.dalt) < self.H

    def _conflicts(self) -> np.ndarray:
        p = self.params
        return self.pair_ok & G.conflicts(self.dist, self.tcpa, self.w2, self.dalt, self.R, self.H,
                                          p.lookahead_s)

    def _potential(self) -> np.ndarray:
        p = self.params
        if p.team_weight == 0:
            return np.zeros(self.n_copies)
        return R.team_potential(self.dist, self.pair_ok & self.co_alt, self.present, self.R,
                                p.team_sensitivity_nm * NM, p.team_weight)

    # --- API -----------------------------------------------------------------------------
    def observe(self) -> np.ndarray:
        """Rows ``(C, M, obs_size)`` of every copy (zeros for aircraft not flying)."""
        return O.observe(self.pos, self.vel, self.heading, self.speed, self.alt, self.exit,
                         self.active, self.d, self.w, self.dist, self.tcpa, self.dcpa,
                         self.params.k_intruders)

    def global_state(self, idx: np.ndarray | None = None, terminal: bool = False) -> np.ndarray:
        """Global truth state ``(C or len(idx), state_size)``: every aircraft slot, for a
        centralised critic. ``terminal``: the state at the end of the last step, before the
        copies whose episode ended went dark (the terminal state of those copies)."""
        sel = slice(None) if idx is None else np.asarray(idx, dtype=np.int64)
        active = self.end_active if terminal else self.active
        frac = self.steps[sel] / self.params.max_steps
        return O.global_state(self.pos[sel], self.vel[sel], self.alt[sel], self.exit[sel],
                              active[sel], frac)

    def agent_states(self, idx: np.ndarray | None = None, terminal: bool = False) -> np.ndarray:
        """Per-aircraft critic input ``(C or len(idx), M, state_size + M)``: the global state
        (see :meth:`global_state`) and a one-hot slot id."""
        g = self.global_state(idx, terminal)
        c, m = g.shape[0], self.params.max_aircraft
        s = np.broadcast_to(g[:, None], (c, m, self.state_size))
        return np.concatenate([s, np.broadcast_to(np.eye(m, dtype=np.float32), (c, m, m))], axis=-1)

    def reset(self, seeds: Sequence[int | None] | None = None,
              copies: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
        """Start new episodes in ``copies`` (default all); ``seeds[i]`` re-seeds copy ``copies[i]``
        (``None``: its generator continues). Returns every copy's rows ``(C, M, obs_size)``."""
        if self._pending is not None:
            self._set_params(self._pending)
            self._pending = None
        idx = np.arange(self.n_copies) if copies is None else np.asarray(copies, dtype=np.int64)
        if seeds is None:
            seeds = [None] * len(idx)
        if len(seeds) != len(idx):
            raise ValueError(f"{len(seeds)} seeds for {len(idx)} copies")
        for c, s in zip(idx, seeds):
            if s is not None or self.rngs[c] is None:
                self.rngs[c] = np.random.default_rng(s)
        tr = scenarios.generate(self.params, [self.rngs[c] for c in idx])
        self.pos[idx], self.heading[idx], self.speed[idx] = tr.pos, tr.heading, tr.speed
        self.alt[idx], self.exit[idx], self.present[idx] = tr.alt, tr.exit, tr.present
        self.active[idx] = tr.present
        self.steps[idx] = 0
        self.done[idx] = False
        self._geom()
        conf = self._conflicts()
        inside = self.pair_ok & self.co_alt & (self.dist < self.R)
        self.in_los[idx], self.in_conf[idx], self.ev_depth[idx] = inside[idx], conf[idx], 0.0
        direct = np.maximum(np.linalg.norm(tr.exit - tr.pos, axis=-1) - self.exit_r, 0.0)
        self.metrics.reset(idx, tr.present, np.where(tr.present, direct, 0.0), tr.speed)
        iu = np.triu(np.ones(conf.shape[-2:], dtype=bool), 1)
        self.metrics.conf[idx] += (conf[idx] & iu).sum(axis=(1, 2))
        self.phi[idx] = self._potential()[idx]
        return self.observe()

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        """Advance every copy by ``dt``; see the module docstring."""
        p, lim = self.params, self.lim
        c, m = self.n_copies, p.max_aircraft
        act = np.nan_to_num(np.asarray(actions, dtype=np.float64)).reshape(c, m, L.ACTION_SIZE)
        act0 = self.active.copy()
        run = ~self.done
        pos0, d0, pair0 = self.pos.copy(), self.d, self.pair_ok & run[:, None, None]
        dtg0 = np.linalg.norm(self.exit - pos0, axis=-1)
        drift0 = np.abs(O.drift(pos0, self.heading, self.exit))
        phi0 = self.phi
        pos1, h1, v1 = dynamics.step(pos0, self.heading, self.speed, act, lim)
        mv = act0[..., None]
        self.pos = np.where(mv, pos1, pos0)
        self.heading = np.where(act0, h1, self.heading)
        self.speed = np.where(act0, v1, self.speed)
        # exits: first crossing of the exit circle inside the step
        e0, seg = self.exit - pos0, self.pos - pos0
        a = np.maximum(np.einsum("...k,...k->...", seg, seg), 1e-12)
        b = -2.0 * np.einsum("...k,...k->...", e0, seg)
        cc = np.einsum("...k,...k->...", e0, e0) - self.exit_r**2
        disc = b * b - 4 * a * cc
        s_in = np.where(cc <= 0, 0.0, (-b - np.sqrt(np.maximum(disc, 0.0))) / (2 * a))
        reached = act0 & (disc >= 0) & (s_in >= 0.0) & (s_in <= 1.0)
        step_len = np.sqrt(a) * np.where(reached, s_in, 1.0)
        self.metrics.flown += np.where(act0, step_len, 0.0)
        t0 = self.steps * lim.dt
        self.metrics.t_exit = np.where(reached, t0[:, None] + s_in * lim.dt, self.metrics.t_exit)
        self.active = act0 & ~reached
        self.steps = self.steps + run
        # separation inside the step (pairs flying at its start), then at its end
        self._geom()
        segmin = G.segment_min_distance(d0, self.d)
        seg_min = np.where(pair0, segmin, np.inf)
        self.metrics.min_sep = np.minimum(self.metrics.min_sep, seg_min.min(axis=(1, 2)))
        inside_step = pair0 & self.co_alt & (segmin < self.R)
        entry = inside_step & ~self.in_los
        depth_step = np.where(inside_step, (self.R - segmin) / self.R, 0.0)
        self.ev_depth = np.where(entry, depth_step, np.maximum(self.ev_depth, depth_step))
        in_los1 = self.pair_ok & self.co_alt & (self.dist < self.R)
        closing = (self.in_los | entry) & ~in_los1
        self.metrics.close_events(np.where(closing, self.ev_depth, 0.0))
        self.ev_depth = np.where(in_los1, self.ev_depth, 0.0)
        iu = np.triu(np.ones((m, m), dtype=bool), 1)
        self.metrics.los += (entry & iu).sum(axis=(1, 2))
        self.in_los = in_los1
        conf1 = self._conflicts()
        self.metrics.conf += (conf1 & ~self.in_conf & iu).sum(axis=(1, 2))
        self.in_conf = conf1
        # reward
        dtg1 = np.where(reached, self.exit_r, np.linalg.norm(self.exit - self.pos, axis=-1))
        drift1 = np.abs(O.drift(self.pos, self.heading, self.exit))
        self.phi = self._potential()
        r = p.progress_per_km * (dtg0 - dtg1) / 1000.0
        r -= p.los_entry_penalty * entry.sum(axis=-1)
        r -= p.los_depth_penalty * R.los_depth(self.dist, in_los1, self.R)
        r += p.drift_per_deg * np.rad2deg(drift0 - drift1) * self.active
        r += (self.phi - phi0)[:, None]
        if p.detour_per_km > 0.0:
            r -= p.detour_per_km * R.detour(step_len, dtg0 - dtg1) / 1000.0
        rew = np.where(act0, r, 0.0)
        # episode ends
        terminated = run & ~self.active.any(axis=1)
        truncated = run & ~terminated & (self.steps >= p.max_steps)
        ended = terminated | truncated
        infos: list[dict[str, Any]] = [{} for _ in range(c)]
        obs = self.observe()  # before the ended copies go dark: the terminal observation
        self.end_active = self.active.copy()
        if ended.any():
            remaining = np.where(self.active, np.maximum(dtg1 - self.exit_r, 0.0), 0.0)
            still = self.in_los & ended[:, None, None]
            self.metrics.close_events(np.where(still, self.ev_depth, 0.0))
            for k in np.flatnonzero(ended):
                infos[k] = self.metrics.final(int(k), float(self.steps[k] * lim.dt), remaining[k])
            self.active[ended] = False
            self.in_los[ended] = False
            self.done |= ended
        return obs, rew.astype(np.float32), terminated, truncated, infos
