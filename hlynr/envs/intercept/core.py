"""The batched Intercept engine: N engagements stepped as NumPy arrays.

:class:`InterceptCore` owns the state of ``n`` environment copies and steps them together:
action -> dynamics (:mod:`~hlynr.envs.intercept.dynamics`: autopilot/physics sub-steps with
closest-approach checks) -> sensing (:mod:`~hlynr.envs.intercept.sensing`: radar scan and
Kalman update in ``radar`` mode) -> termination and reward (:mod:`~hlynr.envs.intercept.reward`)
-> observation (:mod:`~hlynr.envs.intercept.observation`). Parameters and the constants derived
from them live in :mod:`~hlynr.envs.intercept.param_table`, initial states are drawn by
:mod:`~hlynr.envs.intercept.sampling`, and every state row is named by
:mod:`~hlynr.envs.intercept.layout`. The single gymnasium env (``n = 1``) and the batched VecEnv
both drive this class, so both compute identical numbers.

Randomness is counter based (:mod:`hlynr.envs.intercept.rng`): every draw is a function of the
env's episode key, a stream id and its step counter, never of how many envs share the arrays.

Actions: each entry is clipped to [-1, 1]; a non-finite entry (NaN or +-inf) counts as 0 (no
command on that axis), so a bad action never makes the state, observation or reward non-finite.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hlynr.envs.intercept import rng
from hlynr.envs.intercept.dynamics import ManeuverMix, flip_random_switches, integrate, maneuver_magnitude
from hlynr.envs.intercept.layout import FINAL_ROWS, N_STATE_ROWS, OWN_AND_TRUTH, ROWS, StateViews, state_row
from hlynr.envs.intercept.observation import INPUT_ROWS, N_INPUTS, OBS_DIM, observe_inputs
from hlynr.envs.intercept.param_table import ParamTable, derive
from hlynr.envs.intercept.params import InterceptParams, SensorParams
from hlynr.envs.intercept.physics import dot, target_accel
from hlynr.envs.intercept.reward import (
    FINAL_STATS,
    INTERCEPT,
    RUNNING,
    TERMINATION_REASONS,
    TIME_LIMIT,
    Reason,
    final_info,
    potential,
    reasons,
    step_reward,
)
from hlynr.envs.intercept.sampling import N_CACHE_ROWS, sample_initial
from hlynr.envs.intercept.sensing import make_tracker, radar_scan, write_target_estimate

__all__ = ["FINAL_STATS", "TERMINATION_REASONS", "InterceptCore", "Reason", "commands", "final_info"]

# the observation inputs start with the true positions, velocities and achieved acceleration
# in the state's row order, so they are copied in one call
assert all(ROWS[s] == INPUT_ROWS[i] for s, i in (("tp", "tgt_p"), ("mp", "own_p"), ("tv", "tgt_v"),
                                                   ("mv", "own_v"), ("ma", "own_a")))


def commands(actions: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normalised commands ``u`` (2, n) from ``actions`` (n, 2) as the engine reads them:
    non-finite entries -> 0, then each clipped to [-1, 1] (as np.clip), transposed to contiguous
    rows u0, u1; their norms ``mag`` (n,) and the factor ``scale`` (n,) that limits the norm of
    ``u`` to 1 (the commanded lateral acceleration is ``a_max * scale * (u0 e_y + u1 e_z)``)."""
    a = np.asarray(actions, dtype=np.float64).reshape(n, 2)
    finite = np.isfinite(a)
    if not finite.all():
        a = np.where(finite, a, 0.0)
    u = np.maximum(a.T, -1.0, out=np.empty((2, n)))
    np.minimum(u, 1.0, out=u)
    u0, u1 = u
    mag = np.sqrt(u0 * u0 + u1 * u1)
    return u, mag, 1.0 / np.maximum(mag, 1.0)


class InterceptCore:
    """State and step function of ``n`` Intercept engagements (see module docstring).

    The float state of all envs lives in one ``(N_STATE_ROWS, n)`` matrix ``S`` (rows:
    :data:`~hlynr.envs.intercept.layout.ROWS`; ``mp``, ``tv``, ``fuel``, ... are views of its rows).
    """

    tp, mp, tv, mv, ma, fuel = (state_row(k) for k in ("tp", "mp", "tv", "mv", "ma", "fuel"))
    man_cos, man_sin, man_omega, man_phase, man_tstep, man_sign = (
        state_row(k) for k in ("man_cos", "man_sin", "man_omega", "man_phase", "man_tstep", "man_sign"))
    t, min_dist, t_cpa, phi = (state_row(k) for k in ("t", "min_dist", "t_cpa", "phi"))

    def __init__(self, n: int, params: Any = None) -> None:
        model = params if isinstance(params, InterceptParams) else InterceptParams(**(params or {}))
        self.n = n
        sp = model.resolve()
        self.dt = sp.dt
        self.substeps = sp.substeps
        self.dtp = self.dt / self.substeps
        self.delay_steps = int(round(sp.radar_delay * sp.control_rate))
        self.sensor: SensorParams = model.sensor
        """The observation pipeline (fixed for the life of the engine)."""
        self.table = ParamTable(n, model)
        self.P = self.table.P
        """The parameters in force, by name (views of the table's matrix)."""
        self.tracker = make_tracker(n, self.sensor, self.dt, self.delay_steps)
        self.S = np.zeros((N_STATE_ROWS, n))
        self._sv = StateViews(self.S)
        self.man_cos[:] = 1.0
        self.man_sign[:] = 1.0
        self.min_dist[:] = np.inf
        self.man_code = np.zeros(n, dtype=np.int64)
        self._mix = ManeuverMix()
        self.k = np.zeros(n, dtype=np.int64)
        self.closing_seen = np.zeros(n, dtype=bool)
        z1 = np.zeros(n)
        self.e_yz = np.stack([np.stack([z1, z1 + 1.0, z1]), np.stack([z1, z1, z1 + 1.0])])
        """The action frame (e_y, e_z) (2, 3, n) of the last observation (``e_y``/``e_z``: views)."""
        self.e_y, self.e_z = self.e_yz
        self.base_key = rng.seed_key(np.random.SeedSequence().generate_state(n, dtype=np.uint64))
        self.episode = np.full(n, -1, dtype=np.int64)
        self.ep_key = np.zeros(n, dtype=np.uint64)
        self.last_accel_cmd = np.zeros((3, n))
        # cache of the initial states of every env's next episode (rows: see sampling)
        self._init = np.zeros((N_CACHE_ROWS, n))
        self._init_key = np.zeros(n, dtype=np.uint64)
        self._init_ok = np.zeros(n, dtype=bool)
        self._derive()

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without views (``P`` of the table, ``_sv`` of ``S``; rebuilt on unpickling)."""
        state = self.__dict__.copy()
        for k in ("P", "_sv", "e_y", "e_z"):
            del state[k]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Restore, re-creating the views of the parameter and state matrices."""
        self.__dict__.update(state)
        self.P = self.table.P
        self._sv = StateViews(self.S)
        self.e_y, self.e_z = self.e_yz

    @property
    def models(self) -> list[Any]:
        """The parameter model of each env (in force from its next reset)."""
        return self.table.models

    # ------------------------------------------------------------------ parameters
    def _idx(self, indices: np.ndarray | list[int] | None) -> np.ndarray:
        return np.arange(self.n) if indices is None else np.atleast_1d(np.asarray(indices, dtype=int))

    def check_params(self, indices: np.ndarray | list[int] | None = None, **params: Any) -> None:
        """Validate ``params`` for envs ``indices`` as :meth:`apply_params` would, changing nothing."""
        self.table.check(self._idx(indices), params)

    def apply_params(self, indices: np.ndarray | list[int] | None = None, **params: Any) -> None:
        """Validate ``params`` (same model as ``env.kwargs``) and use them from each env's next reset."""
        idx = self._idx(indices)
        self.table.apply(idx, params)
        self._init_ok[idx] = False

    def _derive(self) -> None:
        """Recompute the per-env constants used on the hot path from ``self.P``."""
        self.D = derive(self.P, self.dt, self.dtp, self.sensor)
        self._scan_every_step = bool((self.D["every"] == 1).all())

    # ------------------------------------------------------------------ seeding / reset
    def seed_idx(self, idx: np.ndarray, seeds: list[int] | np.ndarray) -> None:
        """Seed envs ``idx``: their next reset starts episode 0 of ``seeds``' sequence."""
        idx = np.asarray(idx, dtype=int)
        self.base_key[idx] = rng.seed_key(seeds)
        self.episode[idx] = -1
        self._init_ok[idx] = False

    def reset_idx(self, idx: np.ndarray) -> np.ndarray:
        """Start new episodes in envs ``idx``; returns their observations ``(len(idx), OBS_DIM)``."""
        idx = np.asarray(idx, dtype=int)
        self.restart_idx(idx)
        return self._observe(idx)

    def restart_idx(self, idx: np.ndarray) -> None:
        """Start new episodes in envs ``idx`` without observing them (the caller observes them
        later, e.g. together with other envs in :meth:`observe_after_reset`)."""
        idx = np.asarray(idx, dtype=int)
        if self.table.commit(idx):
            self._derive()
        stale = self.table.stale
        need = idx[~self._init_ok[idx]]
        if need.size:
            # some env restarts before the batch refill reached it: from 16 envs on, refill
            # every pending env now (one batch; the numbers do not depend on the batch)
            self._fill_initial(np.flatnonzero(~self._init_ok & ~stale) if self.n >= 16 else need)
        block, key = self._init[:, idx], self._init_key[idx]
        self._init_ok[idx] = False
        self.episode[idx] += 1
        self.ep_key[idx] = key
        self.S[:, idx] = block[:N_STATE_ROWS]
        self.man_code[idx] = block[ROWS["man_code"]]
        self._mix = ManeuverMix.of(self.man_code)
        self.k[idx] = 0
        self.closing_seen[idx] = block[ROWS["closing"]] != 0.0
        self.last_accel_cmd[:, idx] = 0.0
        if self.tracker is not None:
            self.tracker.init_idx(idx, block[N_STATE_ROWS:N_STATE_ROWS + self.tracker.rows])
        # refill the initial states of the next episodes in one batch once a quarter is used up
        todo = ~self._init_ok & ~stale
        if self.n >= 16 and np.count_nonzero(todo) * 4 > self.n:
            self._fill_initial(np.flatnonzero(todo))

    def _fill_initial(self, idx: np.ndarray) -> None:
        """Draw the initial states of the next episodes of envs ``idx`` into the cache."""
        if idx.size == 0:
            return
        key = rng.episode_key(self.base_key[idx], self.episode[idx] + 1)
        sample_initial(self._init, idx, key, self.table.subset(idx), self.tracker)
        self._init_key[idx] = key
        self._init_ok[idx] = True

    # ------------------------------------------------------------------ observation
    def _observe(self, idx: np.ndarray | None) -> np.ndarray:
        sel: Any = slice(None) if idx is None else idx
        obs, e_yz = observe_inputs(self.observation_inputs(idx))
        self.e_yz[:, :, sel] = e_yz
        return obs

    def observation_inputs(self, idx: np.ndarray | None, truth: bool = False) -> np.ndarray:
        """The inputs of :func:`~hlynr.envs.intercept.observation.observe_inputs` for envs ``idx``
        (all envs if ``None``): a ``(N_INPUTS, len(idx))`` matrix, rows ``INPUT_ROWS``.
        ``truth``: the inputs the truth sensor (``sensor.mode: truth``) would give for the same
        state, whatever this engine's sensor is.

        Observations are computed column by column, so the inputs of several groups of envs can
        be concatenated and observed in one call with identical results.
        """
        out = np.empty((N_INPUTS, self.n if idx is None else len(idx)))
        self._write_inputs(out, slice(None) if idx is None else idx, truth)
        return out

    def _write_inputs(self, out: np.ndarray, sel: Any, truth: bool = False) -> None:
        """Write the observation inputs of envs ``sel`` into ``out`` (N_INPUTS, m) (``truth``:
        those of the truth sensor)."""
        R = INPUT_ROWS
        out[:OWN_AND_TRUTH] = self.S[:OWN_AND_TRUTH, sel]
        np.divide(self.fuel[sel], self.P["fuel_mass"][sel], out=out[R["fuel_frac"]])
        out[R["a_max"]] = self.D["a_max"][sel]

        def truth_accel(rows: np.ndarray) -> None:
            target_accel(out[R["tgt_v"]], self.man_cos[sel], self.man_sin[sel],
                         maneuver_magnitude(self._sv, self.man_code, self.D["level"], sel, self.t[sel],
                                            self._mix), out=rows)

        write_target_estimate(out, sel, None if truth else self.tracker, truth_accel)

    def observe_after_reset(self, before: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Observations of all envs ``(n, OBS_DIM)`` and, in the same batch, of the extra columns
        whose inputs are ``before`` (from :meth:`observation_inputs`, e.g. final states of envs
        taken before they were reset): returns ``(obs_all, obs_before)``."""
        n = self.n
        x = np.empty((N_INPUTS, n + before.shape[1]))
        self._write_inputs(x[:, :n], slice(None))
        x[:, n:] = before
        obs, e_yz = observe_inputs(x)
        self.e_yz[...] = e_yz[:, :, :n]
        return obs[:n], obs[n:].copy()

    def observe(self) -> np.ndarray:
        """Observations ``(n, OBS_DIM)`` of all envs (also updates their action frames)."""
        return self._observe(None)

    # ------------------------------------------------------------------ step
    def step(self, actions: np.ndarray, observe: bool = True) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray,
                                                                        np.ndarray]:
        """Advance all envs one control step with ``actions`` (n, 2) in [-1, 1] (see the module
        docstring for out-of-range and non-finite entries).

        Returns ``(obs (n, OBS_DIM), reward, terminated, truncated, reason_code)``; ``obs`` is
        ``None`` with ``observe=False`` (see :meth:`observation_inputs`, :meth:`observe_after_reset`).
        """
        P, D = self.P, self.D
        (u0, u1), mag, scale = commands(actions, self.n)
        k = D["a_max"] * scale
        a_cmd = (k * u0) * self.e_y + (k * u1) * self.e_z
        self.last_accel_cmd = a_cmd
        if self._mix.has_other:
            flip_random_switches(self._sv, self.man_code, self.ep_key, self.k, D["flip_p"])

        hit, r = integrate(self._sv, P, D, a_cmd, self.man_code, self._mix, self.substeps, self.dtp, self.dt)
        self.k = self.k + 1
        tp, mp, tv, mv, fuel = self.tp, self.mp, self.tv, self.mv, self.fuel
        vrel = tv - mv
        r_sq = r * r
        rng_ = np.sqrt(np.add.reduce(r_sq, 0))  # = norm(r)
        if self.tracker is not None:
            radar_scan(self.tracker, r, r_sq, rng_, mp, mv, self.ep_key, self.k, P, D, self._scan_every_step)
        rv = dot(r, vrel)
        opening = (rv > 0.0) & self.closing_seen
        self.closing_seen |= rv < 0.0
        reason = reasons(self.t, D["max_time"], tp[2], P["target_reached_altitude"], fuel, mp[2], opening, hit)
        done = reason != RUNNING
        truncated = reason == TIME_LIMIT
        terminated = done ^ truncated  # truncated envs are a subset of the done ones

        phi = potential(r, vrel, D["neg_shaping"], P["reward_zem_scale"], rv, rng_)
        control = P["reward_control"] * (mag * scale) ** 2 * self.dt
        reward = step_reward(phi, self.phi, control, done, reason == INTERCEPT, self.min_dist, P)
        self.phi = phi  # copied into the state matrix
        return (self._observe(None) if observe else None), reward, terminated, truncated, reason

    def final_info(self, i: int, reason: int) -> dict[str, Any]:
        """The end-of-episode statistics of env ``i`` (numeric values plus the reason string)."""
        return final_info(reason, float(self.min_dist[i]), float(self.t_cpa[i]), float(self.t[i]),
                          float(self.fuel[i]))

    def final_stats(self, idx: np.ndarray) -> np.ndarray:
        """``(len(idx), 4)``: the numbers of :func:`final_info` (``FINAL_STATS`` order) of envs ``idx``."""
        return self.S[FINAL_ROWS, idx].T

    @property
    def obs_dim(self) -> int:
        """Observation length."""
        return OBS_DIM
