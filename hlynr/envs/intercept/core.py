"""The batched Intercept engine: N engagements stepped as NumPy arrays.

:class:`InterceptCore` owns the state of ``n`` environment copies and steps them together:
action -> autopilot/physics sub-steps with closest-approach checks -> radar scan and Kalman
update (in ``radar`` mode) -> termination, reward -> observation. The single gymnasium env
(``n = 1``) and the batched VecEnv both drive this class, so both compute identical numbers.

Randomness is counter based (:mod:`hlynr.envs.intercept.rng`): every draw is a function of the
env's episode key, a stream id and its step counter, never of how many envs share the arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from hlynr.envs.intercept import rng
from hlynr.envs.intercept.observation import INPUT_ROWS, N_INPUTS, OBS_DIM, observe_inputs
from hlynr.envs.intercept.params import (
    G0, MANEUVERS, STRUCTURAL, InterceptParams, RewardParams, ScenarioParams,
)
from hlynr.envs.intercept.physics import (
    autopilot_step, closest_approach, cos32, dot, sin32, fuel_flow, interceptor_accel, norm,
    perpendicular_basis, target_accel, unit,
)
from hlynr.tracking import radar
from hlynr.tracking.kalman import CA_ROWS
from hlynr.tracking.tracker import BatchTracker

TERMINATION_REASONS: tuple[str, ...] = (
    "running", "intercept", "miss", "ground_impact", "fuel_exhausted", "target_reached", "time_limit",
)
"""``termination_code`` -> ``termination_reason``; only ``time_limit`` is a truncation."""
(R_RUNNING, R_INTERCEPT, R_MISS, R_GROUND, R_FUEL, R_TARGET, R_TIME) = range(7)

_MAN_CODE = {name: i for i, name in enumerate(MANEUVERS)}  # none 0, weave 1, step 2, random 3, mixed 4
_NUMERIC = [k for k, f in ScenarioParams.model_fields.items() if k != "target_maneuver"]
_REWARD = list(RewardParams.model_fields)
_STATE_ROWS = 28
"""Rows of the float state matrix ``InterceptCore.S`` (one column per env)."""
_ROWS: dict[str, slice | int] = {
    "tp": slice(0, 3), "mp": slice(3, 6), "tv": slice(6, 9), "mv": slice(9, 12), "ma": slice(12, 15),
    "fuel": 15, "man_cos": 17, "man_sin": 18, "man_omega": 19, "man_phase": 20, "man_tstep": 21,
    "man_sign": 22, "t": 23, "min_dist": 24, "t_cpa": 25, "phi": 27,
}
"""Rows of ``InterceptCore.S``: threat and interceptor positions (0:6, threat first) and velocities
(6:12), so that one call moves both; row 16 (manoeuvre code) and 26 (closing seen) only exist in
the cache (their live copies are the integer/bool arrays ``man_code``/``closing_seen``)."""
_INIT_ROWS = _STATE_ROWS + CA_ROWS
"""Rows of the next-episode cache: the ``_STATE_ROWS`` rows of the state matrix (see ``_ROWS``),
then, in radar mode, the tracker's initial track-matrix columns (``BatchTracker.init_block``)."""


_FINAL_ROWS = np.array([_ROWS[k] for k in ("min_dist", "t_cpa", "t", "fuel")])[:, None]
"""Rows of ``S`` holding the ``FINAL_STATS`` (as a column, to index a block of rows x envs)."""


def _state_row(name: str) -> property:
    """A property for the state quantity ``name``: a view of its rows of ``S`` (assignment copies in)."""
    rows = _ROWS[name]

    def get(self: InterceptCore) -> np.ndarray:
        return self._row_views[name]

    def put(self: InterceptCore, value: np.ndarray) -> None:
        self._row_views[name][...] = value

    return property(get, put, doc=f"``{name}``: rows {rows} of the state matrix ``S`` (a view).")


FINAL_STATS: tuple[str, ...] = ("miss_distance", "time_to_intercept", "episode_time", "fuel_remaining")
"""The numeric end-of-episode statistics, in the column order of :meth:`InterceptCore.final_stats`."""


def final_info(reason: int, miss_distance: float, time_to_intercept: float, episode_time: float,
               fuel_remaining: float) -> dict[str, Any]:
    """The final-step info of an episode that ended with ``reason`` (a ``TERMINATION_REASONS`` index)."""
    return {
        "is_success": bool(reason == R_INTERCEPT),
        "miss_distance": miss_distance,
        "time_to_intercept": time_to_intercept,
        "episode_time": episode_time,
        "fuel_remaining": fuel_remaining,
        "termination_reason": TERMINATION_REASONS[reason],
        "termination_code": int(reason),
    }


class _Subset:
    """``{name: P[name][idx]}`` for the envs ``idx``: one gather of the parameter matrix, rows by name."""

    def __init__(self, matrix: np.ndarray, rows: dict[str, int], idx: np.ndarray) -> None:
        self.block, self.rows = matrix[:, idx], rows

    def __getitem__(self, name: str) -> np.ndarray:
        return self.block[self.rows[name]]


@dataclass(frozen=True)
class SensorSettings:
    """How observations are produced: ``truth`` (true threat state) or ``radar`` (radar + Kalman)."""

    mode: Literal["radar", "truth"] = "truth"
    filter: Literal["cv", "ca"] = "cv"
    process_noise: float | None = None
    """CV: acceleration 1-sigma (m/s^2); CA: per-step acceleration change 1-sigma (m/s^2).
    ``None``: 0.75 x (CV) or 0.3 x (CA) the scenario's manoeuvre level, at least 3 (CV) / 1 (CA)."""


def _validated(model: Any, params: dict[str, Any]) -> Any:
    """A new parameter model = ``model`` updated with ``params`` (validated; ValueError if bad)."""
    if not params:
        return model
    bad = sorted(set(params) & STRUCTURAL)
    if bad:
        raise ValueError(f"parameter '{bad[0]}' is fixed for the life of the env and cannot be changed")
    data = model.model_dump(exclude_none=True)
    if "scenario" in params:  # a new preset replaces earlier overrides (except structural ones)
        data = {k: v for k, v in data.items() if k in STRUCTURAL or k == "reward"}
    if "reward" in params and isinstance(params["reward"], dict):
        params = {**params, "reward": {**data.get("reward", {}), **params["reward"]}}
    new = InterceptParams(**{**data, **params})
    old_sp, new_sp = model.resolve(), new.resolve()
    for k in STRUCTURAL:
        if getattr(old_sp, k) != getattr(new_sp, k):
            raise ValueError(f"parameter '{k}' is fixed for the life of the env and cannot be changed")
    return new


class InterceptCore:
    """State and step function of ``n`` Intercept engagements (see module docstring).

    The float state of all envs lives in one ``(_STATE_ROWS, n)`` matrix ``S`` (rows: ``_ROWS``;
    ``mp``, ``tv``, ``fuel``, ... are views of its rows), so that a reset is one scatter of a
    column block and positions/velocities of interceptor and threat move in one call.
    """

    tp, mp, tv, mv, ma, fuel = (_state_row(k) for k in ("tp", "mp", "tv", "mv", "ma", "fuel"))
    man_cos, man_sin, man_omega, man_phase, man_tstep, man_sign = (
        _state_row(k) for k in ("man_cos", "man_sin", "man_omega", "man_phase", "man_tstep", "man_sign"))
    t, min_dist, t_cpa, phi = (_state_row(k) for k in ("t", "min_dist", "t_cpa", "phi"))

    def __init__(self, n: int, params: Any = None, sensor: SensorSettings | None = None) -> None:
        model = params if isinstance(params, InterceptParams) else InterceptParams(**(params or {}))
        self.n = n
        self.models: list[Any] = [model] * n
        sp = model.resolve()
        self.dt = sp.dt
        self.substeps = sp.substeps
        self.dtp = self.dt / self.substeps
        self.delay_steps = int(round(sp.radar_delay * sp.control_rate))
        self.pending: dict[str, np.ndarray] = {}
        self.P: dict[str, np.ndarray] = {}
        self._write_params(np.arange(n), model)
        # the parameters in force: rows of one (K, n) matrix (``P[name]`` are views of its rows)
        self._P_rows = {k: i for i, k in enumerate(self.pending)}
        self._P_mat = np.stack(list(self.pending.values()))
        self.P = {k: self._P_mat[i] for k, i in self._P_rows.items()}
        self._stale = np.zeros(n, dtype=bool)
        self.D: dict[str, np.ndarray] = {}
        self.sensor = sensor or SensorSettings()
        self.tracker: BatchTracker | None = None
        z1 = np.zeros(n)
        # float state (interceptor, threat, manoeuvre, episode bookkeeping): rows of one matrix
        self.S = np.zeros((_STATE_ROWS, n))
        self._views()
        self.man_cos[:] = 1.0
        self.man_sign[:] = 1.0
        self.min_dist[:] = np.inf
        self.man_code = np.zeros(n, dtype=np.int64)
        self._has_weave = self._has_other = self._all_weave = False
        self.k = np.zeros(n, dtype=np.int64)
        self.closing_seen = np.zeros(n, dtype=bool)
        self.e_yz = np.stack([np.stack([z1, z1 + 1.0, z1]), np.stack([z1, z1, z1 + 1.0])])
        """The action frame (e_y, e_z) (2, 3, n) of the last observation (``e_y``/``e_z``: views)."""
        self.e_y, self.e_z = self.e_yz
        self.base_key = rng.seed_key(np.random.SeedSequence().generate_state(n, dtype=np.uint64))
        self.episode = np.full(n, -1, dtype=np.int64)
        self.ep_key = np.zeros(n, dtype=np.uint64)
        self.last_accel_cmd = np.zeros((3, n))
        # cache of the initial states of every env's next episode (rows: see _fill_initial)
        self._init = np.zeros((_INIT_ROWS, n))
        self._init_key = np.zeros(n, dtype=np.uint64)
        self._init_ok = np.zeros(n, dtype=bool)
        self.set_sensor(self.sensor)
        self._derive()

    def _views(self) -> None:
        """(Re)create the stacked views of ``S`` used by the physics step: positions ``_pos`` and
        velocities ``_vel`` (2, 3, n) (threat first), and the acceleration scratch ``_acc``."""
        n = self.S.shape[1]
        self._row_views = {k: self.S[rows] for k, rows in _ROWS.items()}
        self._pos = self.S[0:6].reshape(2, 3, n)
        self._vel = self.S[6:12].reshape(2, 3, n)
        self._acc = np.empty((2, 3, n))
        self._acc_rows = tuple(self._acc)  # (threat, interceptor) views

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without views (``P`` of ``_P_mat``, ``_pos``/``_vel`` of ``S``; rebuilt on unpickling)."""
        state = self.__dict__.copy()
        for k in ("P", "_row_views", "_pos", "_vel", "_acc", "_acc_rows", "e_y", "e_z"):
            del state[k]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Restore, re-creating the views of the parameter and state matrices."""
        self.__dict__.update(state)
        self.P = {k: self._P_mat[i] for k, i in self._P_rows.items()}
        self._views()
        self.e_y, self.e_z = self.e_yz

    # ------------------------------------------------------------------ parameters
    def _write_params(self, idx: np.ndarray, model: Any) -> None:
        sp: ScenarioParams = model.resolve()
        rw: RewardParams = model.reward
        for k in _NUMERIC:
            self.pending.setdefault(k, np.zeros(self.n))[idx] = float(getattr(sp, k))
        for k in _REWARD:
            self.pending.setdefault("reward_" + k, np.zeros(self.n))[idx] = float(getattr(rw, k))
        self.pending.setdefault("maneuver", np.zeros(self.n))[idx] = _MAN_CODE[sp.target_maneuver]

    def check_params(self, indices: np.ndarray | list[int] | None = None, **params: Any) -> None:
        """Validate ``params`` for envs ``indices`` as :meth:`apply_params` would, changing nothing."""
        idx = np.arange(self.n) if indices is None else np.atleast_1d(np.asarray(indices, dtype=int))
        for m in {id(self.models[i]): self.models[i] for i in idx}.values():
            _validated(m, params)

    def apply_params(self, indices: np.ndarray | list[int] | None = None, **params: Any) -> None:
        """Validate ``params`` (same model as ``env.kwargs``) and use them from each env's next reset."""
        idx = np.arange(self.n) if indices is None else np.atleast_1d(np.asarray(indices, dtype=int))
        cache: dict[int, Any] = {}
        for i in idx:
            m = self.models[i]
            if id(m) not in cache:
                cache[id(m)] = _validated(m, params)
            self.models[i] = cache[id(m)]
        for new in {id(v): v for v in cache.values()}.values():
            sel = np.array([i for i in idx if self.models[i] is new], dtype=int)
            self._write_params(sel, new)
        self._stale[idx] = True
        self._init_ok[idx] = False

    def _derive(self) -> None:
        """Recompute the per-env constants used on the hot path from ``self.P``."""
        P = self.P
        self.D = {
            "a_max": P["accel_limit_g"] * G0,
            "alpha": -np.expm1(-self.dtp / P["autopilot_tau"]),
            "level": P["target_accel_g"] * G0,
            "flip_p": -np.expm1(-self.dt / P["switch_dwell"]),
            "fov_cos": np.cos(np.deg2rad(P["radar_fov_deg"])),
            "every": np.rint(P["control_rate"] / P["radar_rate"]).astype(np.int64),
            "q_var": self._q_var(slice(None)),
            "max_time": P["max_time"] - 1e-9,
            "isp_g0": P["isp"] * G0,
            "neg_shaping": -P["reward_shaping"],
            # radar noise 1-sigma per measured quantity (range, azimuth, elevation) and the
            # range part of the measurement variance
            "radar_sigma": np.stack([P["radar_range_noise"], P["radar_angle_noise"], P["radar_angle_noise"]]),
            "range_var": P["radar_range_noise"] ** 2,
        }
        self._scan_every_step = bool((self.D["every"] == 1).all())

    def set_sensor(self, sensor: SensorSettings) -> None:
        """Install the observation pipeline (takes full effect from the next reset)."""
        self.sensor = sensor
        self.tracker = (
            BatchTracker(self.n, sensor.filter, self.dt, self.delay_steps) if sensor.mode == "radar" else None
        )
        self._init_ok[:] = False
        if self.D:
            self._derive()

    def _q_var(self, idx: np.ndarray | slice) -> np.ndarray:
        level = self.P["target_accel_g"][idx] * G0
        s = self.sensor
        if s.process_noise is not None:
            sigma = np.full_like(level, s.process_noise)
        elif s.filter == "cv":
            sigma = np.maximum(0.75 * level, 3.0)
        else:
            sigma = np.maximum(0.3 * level, 1.0)
        return sigma * sigma

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
        stale = idx[self._stale[idx]]
        if stale.size:
            for k, v in self.pending.items():
                self.P[k][stale] = v[stale]
            self._stale[stale] = False
            self._derive()
        need = idx[~self._init_ok[idx]]
        if need.size:
            # some env restarts before the batch refill reached it: from 16 envs on, refill
            # every pending env now (one batch; the numbers do not depend on the batch)
            self._fill_initial(np.flatnonzero(~self._init_ok & ~self._stale) if self.n >= 16 else need)
        block, key = self._init[:, idx], self._init_key[idx]
        self._init_ok[idx] = False
        self.episode[idx] += 1
        self.ep_key[idx] = key
        self.S[:, idx] = block[:_STATE_ROWS]
        self.man_code[idx] = block[16]
        weave = self.man_code == 1
        self._all_weave = bool(weave.all())
        self._has_weave = self._all_weave or bool(weave.any())
        self._has_other = not self._all_weave and bool((self.man_code >= 2).any())
        self.k[idx] = 0
        self.closing_seen[idx] = block[26] != 0.0
        self.last_accel_cmd[:, idx] = 0.0
        if self.tracker is not None:
            self.tracker.init_idx(idx, block[_STATE_ROWS:_STATE_ROWS + self.tracker.rows])
        # refill the initial states of the next episodes in one batch once a quarter is used up
        todo = ~self._init_ok & ~self._stale
        if self.n >= 16 and np.count_nonzero(todo) * 4 > self.n:
            self._fill_initial(np.flatnonzero(todo))

    def _fill_initial(self, idx: np.ndarray) -> None:
        """Compute the initial states of the next episodes of envs ``idx`` (their current
        parameters and episode keys) into the cache columns ``self._init[:, idx]``.

        Every value is a per-column function of the env's key and parameters, so filling many
        envs in one batch ahead of time gives exactly the numbers of filling them one by one.
        """
        if idx.size == 0:
            return
        key = rng.episode_key(self.base_key[idx], self.episode[idx] + 1)
        m = idx.size
        P = _Subset(self._P_mat, self._P_rows, idx)
        zero = np.zeros(m, dtype=np.int64)
        u = rng.uniforms(key, rng.STREAM_SCENARIO, zero, 14)
        lerp = lambda lo, hi, x: P[lo] + (P[hi] - P[lo]) * x  # noqa: E731
        # threat: 360 deg azimuth, flying straight at the defended point (origin)
        az = 2.0 * np.pi * u[0]
        gr = lerp("target_range_min", "target_range_max", u[1])
        tp = np.stack([gr * np.cos(az), gr * np.sin(az), lerp("target_altitude_min", "target_altitude_max", u[2])])
        t_hat, _ = unit(-tp)
        tv = lerp("target_speed_min", "target_speed_max", u[3]) * t_hat
        # launcher around the defended point, within +-sector of the threat azimuth
        baz = az + np.deg2rad(P["battery_sector_deg"]) * (2.0 * u[4] - 1.0)
        bd = P["battery_offset_max"] * np.sqrt(u[5])
        mp = np.stack([bd * np.cos(baz), bd * np.sin(baz), P["launch_altitude"]])
        # launch along the cue to the threat's current position, with a heading error cone
        lam0, _ = unit(tp - mp)
        e_h, e_p = perpendicular_basis(lam0)
        err = np.deg2rad(P["heading_error_deg"]) * u[6]
        phi = 2.0 * np.pi * u[7]
        d = np.cos(err) * lam0 + np.sin(err) * (np.cos(phi) * e_h + np.sin(phi) * e_p)
        mv = P["interceptor_speed"] * d
        # manoeuvre
        code = P["maneuver"].astype(np.int64)
        mixed = code == _MAN_CODE["mixed"]
        code = np.where(mixed, 1 + np.minimum((3.0 * u[13]).astype(np.int64), 2), code)
        period = lerp("weave_period_min", "weave_period_max", u[9])
        r = tp - mp
        vrel = tv - mv
        out = self._init
        out[0:3, idx], out[3:6, idx], out[6:9, idx], out[9:12, idx], out[12:15, idx] = tp, mp, tv, mv, 0.0
        out[15, idx] = P["fuel_mass"]
        out[16, idx] = code
        w8 = 2.0 * np.pi * u[8]
        out[17, idx], out[18, idx] = cos32(w8), sin32(w8)
        out[19, idx] = 2.0 * np.pi / period
        out[20, idx] = 2.0 * np.pi * u[10]
        out[21, idx] = lerp("step_time_min", "step_time_max", u[11])
        out[22, idx] = np.where(u[12] < 0.5, -1.0, 1.0)
        out[23, idx] = 0.0
        out[24, idx] = norm(r)
        out[25, idx] = 0.0
        out[26, idx] = dot(r, vrel) < 0.0
        out[27, idx] = self._potential(r, vrel, -P["reward_shaping"], P["reward_zem_scale"])
        if self.tracker is not None:
            n = rng.normals(key, rng.STREAM_CUE, zero, 6)
            z, r_m = radar.measure(r, P["radar_range_noise"], P["radar_angle_noise"], n[:3])
            out[_STATE_ROWS:_STATE_ROWS + self.tracker.rows, idx] = self.tracker.init_block(
                mp + z, tv + P["cue_velocity_noise"] * n[3:6],
                radar.axis_variance(r_m, P["radar_range_noise"], P["radar_angle_noise"]),
                P["cue_velocity_noise"] ** 2, np.maximum(P["target_accel_g"] * G0, 1.0) ** 2)
        self._init_key[idx] = key
        self._init_ok[idx] = True

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _potential(r: np.ndarray, vrel: np.ndarray, neg_w: np.ndarray, scale: np.ndarray,
                   rv: np.ndarray | None = None, rng_: np.ndarray | None = None) -> np.ndarray:
        """Shaping potential ``-w min(ZEM/scale, 1)`` (``neg_w = -w``, w = ``reward_shaping``) from
        the true zero-effort miss (with gravity); ``rv``, ``rng_``: ``dot(r, vrel)`` and ``norm(r)``
        if already computed."""
        if rng_ is None:
            rng_ = norm(r)
        rng_safe = np.maximum(rng_, 1e-3)
        vc = -(dot(r, vrel) if rv is None else rv) / rng_safe
        tgo = rng_ / np.maximum(vc, 10.0)
        np.maximum(tgo, 0.0, out=tgo)  # = clip to [0, 100] (tgo is never -0 or NaN here)
        np.minimum(tgo, 100.0, out=tgo)
        zem = r + vrel * tgo
        zem[2] += 0.5 * G0 * tgo * tgo
        lam = r / rng_safe
        zem -= dot(zem, lam) * lam
        zperp = norm(zem)
        zem_mag = np.where(vc > 0.0, zperp, rng_)
        return neg_w * np.minimum(zem_mag / scale, 1.0)

    def _maneuver_mag(self, idx: np.ndarray | slice, t: np.ndarray) -> np.ndarray:
        code = self.man_code[idx]
        level = self.D["level"][idx]
        if self._all_weave:  # every env weaves (e.g. ``standard``): no selection needed
            x = self.man_omega[idx] * t
            x += self.man_phase[idx]
            return level * np.sin(x.astype(np.float32))  # = level * sin32(x) (exact promotion)
        out = np.zeros(code.shape)
        if self._has_weave:
            out = np.where(code == 1, sin32(self.man_omega[idx] * t + self.man_phase[idx]), out)
        if self._has_other:
            sign = self.man_sign[idx]
            out = np.where(code == 2, np.where(t >= self.man_tstep[idx], sign, 0.0), out)
            out = np.where(code == 3, sign, out)
        return level * out

    def _observe(self, idx: np.ndarray | None) -> np.ndarray:
        sel: Any = slice(None) if idx is None else idx
        obs, e_yz = observe_inputs(self.observation_inputs(idx))
        self.e_yz[:, :, sel] = e_yz
        return obs

    def observation_inputs(self, idx: np.ndarray | None) -> np.ndarray:
        """The inputs of :func:`~hlynr.envs.intercept.observation.observe_inputs` for envs ``idx``
        (all envs if ``None``): a ``(N_INPUTS, len(idx))`` matrix, rows ``INPUT_ROWS``.

        Observations are computed column by column, so the inputs of several groups of envs can
        be concatenated and observed in one call with identical results.
        """
        out = np.empty((N_INPUTS, self.n if idx is None else len(idx)))
        self._write_inputs(out, slice(None) if idx is None else idx)
        return out

    def _write_inputs(self, out: np.ndarray, sel: Any) -> None:
        """Write the observation inputs of envs ``sel`` into ``out`` (N_INPUTS, m)."""
        R = INPUT_ROWS
        # own state and true threat state: the first rows of S, in the same order
        out[:R["own_a"].stop] = self.S[:R["own_a"].stop, sel]
        np.divide(self.fuel[sel], self.P["fuel_mass"][sel], out=out[R["fuel_frac"]])
        out[R["a_max"]] = self.D["a_max"][sel]
        if self.tracker is None:
            target_accel(out[R["tgt_v"]], self.man_cos[sel], self.man_sin[sel],
                         self._maneuver_mag(sel, self.t[sel]), out=out[R["tgt_a"]])
            out[R["pos_std"]:R["since_det"] + 1] = 0.0
            out[R["detected"]] = 1.0
        else:
            self.tracker.write_estimate(sel, out[R["tgt_p"]], out[R["tgt_v"]], out[R["tgt_a"]],
                                        out[R["pos_std"]:R["vel_std"] + 1], out[R["since_det"]],
                                        out[R["detected"]])

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
        """Advance all envs one control step with ``actions`` (n, 2) in [-1, 1].

        Returns ``(obs (n, OBS_DIM), reward, terminated, truncated, reason_code)``; ``obs`` is
        ``None`` with ``observe=False`` (see :meth:`observation_inputs`, :meth:`observe_after_reset`).
        """
        P = self.P
        # clip to [-1, 1] (as np.clip), transposed to contiguous rows u0, u1
        u = np.maximum(np.asarray(actions, dtype=np.float64).reshape(self.n, 2).T, -1.0, out=np.empty((2, self.n)))
        np.minimum(u, 1.0, out=u)
        u0, u1 = u
        mag = np.sqrt(u0 * u0 + u1 * u1)
        scale = 1.0 / np.maximum(mag, 1.0)
        D = self.D
        k = D["a_max"] * scale
        a_cmd = (k * u0) * self.e_y + (k * u1) * self.e_z
        self.last_accel_cmd = a_cmd
        # random-switching threats flip sign at Poisson events (one draw per control step)
        if self._has_other:
            uf = rng.uniforms(self.ep_key, rng.STREAM_TARGET, self.k, 1)[0]
            flip = (self.man_code == 3) & (uf < D["flip_p"])
            sign = self.man_sign
            np.negative(sign, out=sign, where=flip)

        hit, r = self._physics(a_cmd)
        tp, mp, tv, mv, fuel = self.tp, self.mp, self.tv, self.mv, self.fuel
        vrel = tv - mv
        r_sq = r * r
        rng_ = np.sqrt(np.add.reduce(r_sq, 0))  # = norm(r)
        if self.tracker is not None:
            self._radar_scan(r, r_sq, rng_)
        rv = dot(r, vrel)
        opening = (rv > 0.0) & self.closing_seen
        self.closing_seen |= rv < 0.0
        reason = np.zeros(self.n, dtype=np.int64)
        for cond, code in ((self.t >= D["max_time"], R_TIME), (tp[2] <= P["target_reached_altitude"], R_TARGET),
                           (fuel <= 0.0, R_FUEL), (mp[2] < 0.0, R_GROUND), (opening, R_MISS),
                           (hit, R_INTERCEPT)):
            reason[cond] = code  # later entries take precedence
        done = reason != R_RUNNING
        truncated = reason == R_TIME
        terminated = done ^ truncated  # truncated envs are a subset of the done ones

        phi = self._potential(r, vrel, D["neg_shaping"], P["reward_zem_scale"], rv, rng_)
        reward = phi - self.phi - P["reward_control"] * (mag * scale) ** 2 * self.dt
        self.phi = phi  # copied into the state matrix
        success = reason == R_INTERCEPT
        miss_pen = P["reward_miss"] * np.minimum(self.min_dist / P["reward_miss_scale"], 1.0)
        reward = reward + np.where(success, P["reward_success"], np.where(done, -miss_pen, 0.0))
        return (self._observe(None) if observe else None), reward, terminated, truncated, reason

    def _physics(self, a_cmd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The ``substeps`` physics sub-steps of one control step, in place on ``S`` (time and
        step counter advanced too), with the closest-approach bookkeeping; returns which envs
        came within the kill radius, and the relative position ``tp - mp`` at the end."""
        P, D = self.P, self.D
        dtp = self.dtp
        alpha = D["alpha"]
        thrust, isp, cd_area, dry = P["thrust"], P["isp"], P["cd_area"], P["dry_mass"]
        isp_g0 = D["isp_g0"]
        kill = P["kill_radius"]
        hit = np.zeros(self.n, dtype=bool)
        pos, vel, acc = self._pos, self._vel, self._acc  # (2, 3, n): threat, interceptor
        rv = self._row_views
        tp, mp, tv, mv = rv["tp"], rv["mp"], rv["tv"], rv["mv"]
        acc_t, acc_m = self._acc_rows
        ma, fuel, t, min_dist, t_cpa = rv["ma"], rv["fuel"], rv["t"], rv["min_dist"], rv["t_cpa"]
        cos_psi, sin_psi = self.man_cos, self.man_sin
        r1 = tp - mp
        for j in range(self.substeps):
            t_sub = t + j * dtp
            # every env has fuel (min > 0, False with a NaN): skip the masking (same numbers)
            powered = None if np.minimum.reduce(fuel) > 0.0 else fuel > 0.0
            v_hat, speed = unit(mv)
            autopilot_step(ma, a_cmd, alpha, v_hat, powered, out=ma)
            mass = dry + fuel
            interceptor_accel(mv, v_hat, speed, ma, mass, powered, thrust, cd_area, mp[2], out=acc_m)
            np.maximum(fuel - fuel_flow(thrust, mass, ma, isp, powered, isp_g0) * dtp, 0.0, out=fuel)
            target_accel(tv, cos_psi, sin_psi, self._maneuver_mag(slice(None), t_sub), out=acc_t)
            r0 = r1  # relative position at the sub-step start
            acc *= dtp
            vel += acc  # semi-implicit Euler: velocities first, then positions with the new ones
            pos += vel * dtp
            r1 = tp - mp
            dmin, s = closest_approach(r0, r1)
            better = dmin < min_dist
            np.copyto(min_dist, dmin, where=better)
            np.copyto(t_cpa, t_sub + s * dtp, where=better)
            hit |= dmin <= kill
        t += self.dt
        self.k = self.k + 1
        return hit, r1

    def _radar_scan(self, r: np.ndarray, r_sq: np.ndarray, rng_: np.ndarray) -> None:
        """Radar scan (every ``control_rate / radar_rate`` steps) and Kalman predict/update;
        ``r`` (3, n) true relative position, ``r_sq = r * r``, ``rng_ = norm(r)``."""
        assert self.tracker is not None
        P, D = self.P, self.D
        u = rng.uniforms(self.ep_key, rng.STREAM_RADAR, self.k, 5)
        # Box-Muller: normals (range, azimuth, elevation) from uniform pairs (1, 2) and (3, 4),
        # both pairs per call (float32 trigonometry: float32 * float64 promotes exactly)
        rad = np.sqrt(-2.0 * np.log(u[1:4:2]))
        ang = (2.0 * np.pi * u[2:5:2]).astype(np.float32)
        noise = np.empty((3, self.n))
        np.multiply(rad, np.cos(ang), out=noise[0::2])
        np.multiply(rad[0], np.sin(ang[0]), out=noise[1])
        noise *= D["radar_sigma"]
        boresight, _ = unit(self.mv)
        det = radar.detect(r, boresight, P["radar_max_range"], D["fov_cos"], P["radar_pd_max"],
                           P["radar_pd_exponent"], u[0], rng_)
        if not self._scan_every_step:
            det &= (self.k % D["every"]) == 0
        z, r_m = radar.measure_scaled(r, r_sq, noise)
        r_var = r_m * P["radar_angle_noise"]
        r_var *= r_var
        r_var += D["range_var"]  # = radar.axis_variance(r_m, range noise, angle noise)
        z += self.mp
        self.tracker.step(self.k, z, r_var, det, D["q_var"])

    def final_info(self, i: int, reason: int) -> dict[str, Any]:
        """The end-of-episode statistics of env ``i`` (numeric values plus the reason string)."""
        return final_info(reason, float(self.min_dist[i]), float(self.t_cpa[i]), float(self.t[i]),
                          float(self.fuel[i]))

    def final_stats(self, idx: np.ndarray) -> np.ndarray:
        """``(len(idx), 4)``: the numbers of :func:`final_info` (``FINAL_STATS`` order) of envs ``idx``."""
        return self.S[_FINAL_ROWS, idx].T

    @property
    def obs_dim(self) -> int:
        """Observation length."""
        return OBS_DIM
