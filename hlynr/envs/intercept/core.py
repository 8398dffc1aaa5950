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
from hlynr.envs.intercept.observation import OBS_DIM, build_observation
from hlynr.envs.intercept.params import (
    G0, MANEUVERS, STRUCTURAL, InterceptParams, RewardParams, ScenarioParams,
)
from hlynr.envs.intercept.physics import (
    autopilot_step, closest_approach, cos32, dot, sin32, fuel_flow, interceptor_accel, norm,
    perpendicular_basis, target_accel, unit,
)
from hlynr.tracking import radar
from hlynr.tracking.tracker import BatchTracker

TERMINATION_REASONS: tuple[str, ...] = (
    "running", "intercept", "miss", "ground_impact", "fuel_exhausted", "target_reached", "time_limit",
)
"""``termination_code`` -> ``termination_reason``; only ``time_limit`` is a truncation."""
(R_RUNNING, R_INTERCEPT, R_MISS, R_GROUND, R_FUEL, R_TARGET, R_TIME) = range(7)

_MAN_CODE = {name: i for i, name in enumerate(MANEUVERS)}  # none 0, weave 1, step 2, random 3, mixed 4
_NUMERIC = [k for k, f in ScenarioParams.model_fields.items() if k != "target_maneuver"]
_REWARD = list(RewardParams.model_fields)
_INIT_ROWS = 37
"""Rows of the next-episode cache: tp 0:3, tv 3:6, mp 6:9, mv 9:12, ma 12:15, fuel 15, manoeuvre
code 16, cos/sin psi 17-18, omega 19, phase 20, step time 21, sign 22, t 23, min_dist 24, t_cpa 25,
closing_seen 26, potential 27; radar mode: cue p 28:31, cue v 31:34, p/v/a variances 34-36."""


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
    """State and step function of ``n`` Intercept engagements (see module docstring)."""

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
        z3, z1 = np.zeros((3, n)), np.zeros(n)
        # interceptor
        self.mp, self.mv, self.ma = z3.copy(), z3.copy(), z3.copy()
        self.fuel = z1.copy()
        # threat
        self.tp, self.tv = z3.copy(), z3.copy()
        self.man_code = np.zeros(n, dtype=np.int64)
        self.man_cos, self.man_sin = z1 + 1.0, z1.copy()
        self.man_omega, self.man_phase = z1.copy(), z1.copy()
        self.man_tstep, self.man_sign = z1.copy(), np.ones(n)
        self._has_weave = self._has_other = self._all_weave = False
        # episode bookkeeping
        self.t, self.k = z1.copy(), np.zeros(n, dtype=np.int64)
        self.min_dist, self.t_cpa = np.full(n, np.inf), z1.copy()
        self.closing_seen = np.zeros(n, dtype=bool)
        self.phi = z1.copy()
        self.e_y = np.stack([z1, z1 + 1.0, z1])
        self.e_z = np.stack([z1, z1, z1 + 1.0])
        self.base_key = rng.seed_key(np.random.SeedSequence().generate_state(n, dtype=np.uint64))
        self.episode = np.full(n, -1, dtype=np.int64)
        self.ep_key = np.zeros(n, dtype=np.uint64)
        self.last_accel_cmd = z3.copy()
        # cache of the initial states of every env's next episode (rows: see _fill_initial)
        self._init = np.zeros((_INIT_ROWS, n))
        self._init_key = np.zeros(n, dtype=np.uint64)
        self._init_ok = np.zeros(n, dtype=bool)
        self.set_sensor(self.sensor)
        self._derive()

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without ``P`` (its arrays are views of ``_P_mat``; rebuilt on unpickling)."""
        state = self.__dict__.copy()
        del state["P"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Restore, re-creating ``P`` as views of the parameter matrix."""
        self.__dict__.update(state)
        self.P = {k: self._P_mat[i] for k, i in self._P_rows.items()}

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
        }

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
        self._fill_initial(idx[~self._init_ok[idx]])
        block, key = self._init[:, idx], self._init_key[idx]
        self._init_ok[idx] = False
        self.episode[idx] += 1
        self.ep_key[idx] = key
        self.tp[:, idx], self.tv[:, idx], self.mp[:, idx], self.mv[:, idx], self.ma[:, idx] = (
            block[0:3], block[3:6], block[6:9], block[9:12], block[12:15])
        self.fuel[idx] = block[15]
        self.man_code[idx] = block[16]
        self.man_cos[idx], self.man_sin[idx] = block[17], block[18]
        self._has_weave = bool((self.man_code == 1).any())
        self._has_other = bool((self.man_code >= 2).any())
        self._all_weave = self._has_weave and bool((self.man_code == 1).all())
        self.man_omega[idx], self.man_phase[idx] = block[19], block[20]
        self.man_tstep[idx], self.man_sign[idx] = block[21], block[22]
        self.t[idx] = block[23]
        self.k[idx] = 0
        self.min_dist[idx], self.t_cpa[idx] = block[24], block[25]
        self.closing_seen[idx] = block[26] != 0.0
        self.phi[idx] = block[27]
        self.last_accel_cmd[:, idx] = 0.0
        if self.tracker is not None:
            self.tracker.init_idx(idx, block[28:31], block[31:34], block[34], block[35], block[36])
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
        out[0:3, idx], out[3:6, idx], out[6:9, idx], out[9:12, idx], out[12:15, idx] = tp, tv, mp, mv, 0.0
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
        out[27, idx] = self._potential(r, vrel, P["reward_shaping"], P["reward_zem_scale"])
        if self.tracker is not None:
            n = rng.normals(key, rng.STREAM_CUE, zero, 6)
            z, r_m = radar.measure(r, P["radar_range_noise"], P["radar_angle_noise"], n[:3])
            out[28:31, idx] = mp + z
            out[31:34, idx] = tv + P["cue_velocity_noise"] * n[3:6]
            out[34, idx] = radar.axis_variance(r_m, P["radar_range_noise"], P["radar_angle_noise"])
            out[35, idx] = P["cue_velocity_noise"] ** 2
            out[36, idx] = np.maximum(P["target_accel_g"] * G0, 1.0) ** 2
        self._init_key[idx] = key
        self._init_ok[idx] = True

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _potential(r: np.ndarray, vrel: np.ndarray, w: np.ndarray, scale: np.ndarray,
                   rv: np.ndarray | None = None) -> np.ndarray:
        """Shaping potential ``-w min(ZEM/scale, 1)`` from the true zero-effort miss (with gravity);
        ``rv``: ``dot(r, vrel)`` if already computed."""
        rng_ = norm(r)
        vc = -(dot(r, vrel) if rv is None else rv) / np.maximum(rng_, 1e-3)
        tgo = np.clip(rng_ / np.maximum(vc, 10.0), 0.0, 100.0)
        zem = r + vrel * tgo
        zem[2] += 0.5 * G0 * tgo * tgo
        lam = r / np.maximum(rng_, 1e-3)
        zperp = norm(zem - dot(zem, lam) * lam)
        zem_mag = np.where(vc > 0.0, zperp, rng_)
        return -w * np.minimum(zem_mag / scale, 1.0)

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
        obs, e_y, e_z = build_observation(*self.observation_inputs(idx))
        self.e_y[:, sel] = e_y
        self.e_z[:, sel] = e_z
        return obs

    def observation_inputs(self, idx: np.ndarray | None) -> tuple[np.ndarray, ...]:
        """The arguments of :func:`build_observation` for envs ``idx`` (all envs if ``None``).

        Observations are computed column by column, so the inputs of several groups of envs can
        be concatenated and observed in one call with identical results.
        """
        sel: Any = slice(None) if idx is None else idx
        P = self.P
        if self.tracker is None:
            tp, tv = self.tp[:, sel], self.tv[:, sel]
            ta = target_accel(tv, self.man_cos[sel], self.man_sin[sel], self._maneuver_mag(sel, self.t[sel]))
            z1 = np.zeros(tp.shape[1])
            pos_std, vel_std, since, det = z1, z1, z1, z1 + 1.0
        else:
            p, v, a, ps, vs = self.tracker.estimate()
            tp, tv, ta, pos_std, vel_std = p[:, sel], v[:, sel], a[:, sel], ps[sel], vs[sel]
            since = self.tracker.since_detection[sel]
            det = self.tracker.detected[sel].astype(np.float64)
        return (self.mp[:, sel], self.mv[:, sel], self.ma[:, sel], self.fuel[sel] / P["fuel_mass"][sel],
                self.D["a_max"][sel], tp, tv, ta, pos_std, vel_std, since, det)

    def observe_after_reset(self, before: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray]:
        """Observations of all envs ``(n, OBS_DIM)`` and, in the same batch, of the extra columns
        whose inputs are ``before`` (from :meth:`observation_inputs`, e.g. final states of envs
        taken before they were reset): returns ``(obs_all, obs_before)``."""
        now = self.observation_inputs(None)
        obs, e_y, e_z = build_observation(*(np.concatenate((a, b), axis=-1) for a, b in zip(now, before)))
        self.e_y[...] = e_y[:, :self.n]
        self.e_z[...] = e_z[:, :self.n]
        return obs[:self.n], obs[self.n:].copy()

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
        u = np.clip(np.asarray(actions, dtype=np.float64).reshape(self.n, 2), -1.0, 1.0)
        u0, u1 = u[:, 0], u[:, 1]
        mag = np.sqrt(u0 * u0 + u1 * u1)
        scale = 1.0 / np.maximum(mag, 1.0)
        D = self.D
        a_max = D["a_max"]
        a_cmd = (a_max * scale * u0) * self.e_y + (a_max * scale * u1) * self.e_z
        self.last_accel_cmd = a_cmd
        # random-switching threats flip sign at Poisson events (one draw per control step)
        if self._has_other:
            uf = rng.uniforms(self.ep_key, rng.STREAM_TARGET, self.k, 1)[0]
            flip = (self.man_code == 3) & (uf < D["flip_p"])
            self.man_sign = np.where(flip, -self.man_sign, self.man_sign)

        dtp = self.dtp
        alpha = D["alpha"]
        thrust, isp = P["thrust"], P["isp"]
        kill = P["kill_radius"]
        hit = np.zeros(self.n, dtype=bool)
        mp, mv, ma, tp, tv, fuel = self.mp, self.mv, self.ma, self.tp, self.tv, self.fuel
        dry = P["dry_mass"]
        for j in range(self.substeps):
            t_sub = self.t + j * dtp
            powered: np.ndarray | None = fuel > 0.0
            if powered.all():  # type: ignore[union-attr]
                powered = None  # every env has fuel: skip the masking (same numbers)
            v_hat, speed = unit(mv)
            ma = autopilot_step(ma, a_cmd, alpha, v_hat, powered)
            mass = dry + fuel
            acc = interceptor_accel(mv, v_hat, speed, ma, mass, powered, thrust, P["cd_area"], mp[2])
            fuel = np.maximum(fuel - fuel_flow(thrust, mass, ma, isp, powered) * dtp, 0.0)
            at = target_accel(tv, self.man_cos, self.man_sin, self._maneuver_mag(slice(None), t_sub))
            r0 = tp - mp
            mv = mv + acc * dtp
            mp = mp + mv * dtp
            tv = tv + at * dtp
            tp = tp + tv * dtp
            dmin, s = closest_approach(r0, tp - mp)
            better = dmin < self.min_dist
            self.min_dist = np.where(better, dmin, self.min_dist)
            self.t_cpa = np.where(better, t_sub + s * dtp, self.t_cpa)
            hit |= dmin <= kill
        self.mp, self.mv, self.ma, self.tp, self.tv, self.fuel = mp, mv, ma, tp, tv, fuel
        self.t = self.t + self.dt
        self.k = self.k + 1

        r = tp - mp
        vrel = tv - mv
        if self.tracker is not None:
            self._radar_scan(r)
        rv = dot(r, vrel)
        opening = (rv > 0.0) & self.closing_seen
        self.closing_seen |= rv < 0.0
        reason = np.zeros(self.n, dtype=np.int64)
        for cond, code in ((self.t >= P["max_time"] - 1e-9, R_TIME), (tp[2] <= P["target_reached_altitude"], R_TARGET),
                           (fuel <= 0.0, R_FUEL), (mp[2] < 0.0, R_GROUND), (opening, R_MISS),
                           (hit, R_INTERCEPT)):
            reason[cond] = code  # later entries take precedence
        terminated = (reason != R_RUNNING) & (reason != R_TIME)
        truncated = reason == R_TIME
        done = terminated | truncated

        phi = self._potential(r, vrel, P["reward_shaping"], P["reward_zem_scale"], rv)
        reward = phi - self.phi - P["reward_control"] * (mag * scale) ** 2 * self.dt
        self.phi = phi
        success = reason == R_INTERCEPT
        miss_pen = P["reward_miss"] * np.minimum(self.min_dist / P["reward_miss_scale"], 1.0)
        reward = reward + np.where(success, P["reward_success"], np.where(done, -miss_pen, 0.0))
        return (self._observe(None) if observe else None), reward, terminated, truncated, reason

    def _radar_scan(self, r: np.ndarray) -> None:
        """Radar scan (every ``control_rate / radar_rate`` steps) and Kalman predict/update."""
        assert self.tracker is not None
        P = self.P
        u = rng.uniforms(self.ep_key, rng.STREAM_RADAR, self.k, 5)
        rad1 = np.sqrt(-2.0 * np.log(u[1]))
        rad2 = np.sqrt(-2.0 * np.log(u[3]))
        # float32 trigonometry as cos32/sin32 (float32 * float64 promotes exactly: same numbers)
        a2 = (2.0 * np.pi * u[2]).astype(np.float32)
        nz = np.empty((3, self.n))
        np.multiply(rad1, np.cos(a2), out=nz[0])
        np.multiply(rad1, np.sin(a2), out=nz[1])
        np.multiply(rad2, np.cos((2.0 * np.pi * u[4]).astype(np.float32)), out=nz[2])
        D = self.D
        scan = (self.k % D["every"]) == 0
        boresight, _ = unit(self.mv)
        det = scan & radar.detect(r, boresight, P["radar_max_range"], D["fov_cos"],
                                  P["radar_pd_max"], P["radar_pd_exponent"], u[0])
        z, r_m = radar.measure(r, P["radar_range_noise"], P["radar_angle_noise"], nz)
        r_var = radar.axis_variance(r_m, P["radar_range_noise"], P["radar_angle_noise"])
        self.tracker.step(self.k, self.mp + z, r_var, det, D["q_var"])

    def final_info(self, i: int, reason: int) -> dict[str, Any]:
        """The end-of-episode statistics of env ``i`` (numeric values plus the reason string)."""
        return final_info(reason, float(self.min_dist[i]), float(self.t_cpa[i]), float(self.t[i]),
                          float(self.fuel[i]))

    def final_stats(self, idx: np.ndarray) -> np.ndarray:
        """``(len(idx), 4)``: the numbers of :func:`final_info` (``FINAL_STATS`` order) of envs ``idx``."""
        return np.stack([self.min_dist[idx], self.t_cpa[idx], self.t[idx], self.fuel[idx]], axis=1)

    @property
    def obs_dim(self) -> int:
        """Observation length."""
        return OBS_DIM
