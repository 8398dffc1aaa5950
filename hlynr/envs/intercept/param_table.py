"""The parameters in force per env and the constants derived from them (the engine's hot-path inputs).

Every env of an engine has its own validated :class:`~hlynr.envs.intercept.params.InterceptParams`
(curricula change them per env). Their numbers live as rows of one ``(K, n)`` matrix, addressed by
name (``P[name]`` are views of its rows); a change is staged in ``pending`` and copied into ``P``
at each env's next reset. :func:`derive` turns ``P`` into the per-env constants the step uses.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hlynr.envs.intercept.params import (
    G0,
    STRUCTURAL,
    InterceptParams,
    Maneuver,
    RewardParams,
    ScenarioParams,
    SensorParams,
)

_NUMERIC = [k for k, f in ScenarioParams.model_fields.items() if k != "target_maneuver"]
_REWARD = list(RewardParams.model_fields)


def validated(model: Any, params: dict[str, Any]) -> Any:
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
    for k in STRUCTURAL - {"sensor"}:
        if getattr(old_sp, k) != getattr(new_sp, k):
            raise ValueError(f"parameter '{k}' is fixed for the life of the env and cannot be changed")
    return new


class Subset:
    """``{name: P[name][idx]}`` for the envs ``idx``: one gather of the parameter matrix, rows by name."""

    def __init__(self, matrix: np.ndarray, rows: dict[str, int], idx: np.ndarray) -> None:
        self.block, self.rows = matrix[:, idx], rows

    def __getitem__(self, name: str) -> np.ndarray:
        return self.block[self.rows[name]]


class ParamTable:
    """The parameter models of ``n`` envs and their numbers as named rows of one matrix.

    ``P[name]`` (n,): the numbers in force (views of ``matrix``); ``pending[name]``: the numbers
    each env uses from its next reset; ``stale``: envs whose pending numbers differ from ``P``.
    """

    def __init__(self, n: int, model: Any) -> None:
        self.n = n
        self.models: list[Any] = [model] * n
        self.pending: dict[str, np.ndarray] = {}
        self._write(np.arange(n), model)
        self.rows = {k: i for i, k in enumerate(self.pending)}
        self.matrix = np.stack(list(self.pending.values()))
        self.P: dict[str, np.ndarray] = {}
        self.stale = np.zeros(n, dtype=bool)
        self._views()

    def _views(self) -> None:
        self.P = {k: self.matrix[i] for k, i in self.rows.items()}

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without the row views (rebuilt on unpickling)."""
        state = self.__dict__.copy()
        del state["P"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Restore, re-creating the row views of the matrix."""
        self.__dict__.update(state)
        self._views()

    def _write(self, idx: np.ndarray, model: Any) -> None:
        sp: ScenarioParams = model.resolve()
        rw: RewardParams = model.reward
        for k in _NUMERIC:
            self.pending.setdefault(k, np.zeros(self.n))[idx] = float(getattr(sp, k))
        for k in _REWARD:
            self.pending.setdefault("reward_" + k, np.zeros(self.n))[idx] = float(getattr(rw, k))
        self.pending.setdefault("maneuver", np.zeros(self.n))[idx] = int(Maneuver[sp.target_maneuver.upper()])

    def subset(self, idx: np.ndarray) -> Subset:
        """The numbers in force of envs ``idx``, by name."""
        return Subset(self.matrix, self.rows, idx)

    def check(self, idx: np.ndarray, params: dict[str, Any]) -> None:
        """Validate ``params`` for envs ``idx`` as :meth:`apply` would, changing nothing."""
        for m in {id(self.models[i]): self.models[i] for i in idx}.values():
            validated(m, params)

    def apply(self, idx: np.ndarray, params: dict[str, Any]) -> None:
        """Validate ``params`` and stage them for envs ``idx`` (in force from each env's next reset)."""
        cache: dict[int, Any] = {}
        for i in idx:
            m = self.models[i]
            if id(m) not in cache:
                cache[id(m)] = validated(m, params)
            self.models[i] = cache[id(m)]
        for new in {id(v): v for v in cache.values()}.values():
            sel = np.array([i for i in idx if self.models[i] is new], dtype=int)
            self._write(sel, new)
        self.stale[idx] = True

    def commit(self, idx: np.ndarray) -> bool:
        """Put the staged numbers of the stale envs among ``idx`` in force; True if any changed."""
        stale = idx[self.stale[idx]]
        if not stale.size:
            return False
        for k, v in self.pending.items():
            self.P[k][stale] = v[stale]
        self.stale[stale] = False
        return True


def q_var(level: np.ndarray, sensor: SensorParams) -> np.ndarray:
    """Kalman process-noise variance per env for threat manoeuvre level ``level`` (m/s^2)."""
    if sensor.process_noise is not None:
        sigma = np.full_like(level, sensor.process_noise)
    elif sensor.filter == "cv":
        sigma = np.maximum(0.75 * level, 3.0)
    else:
        sigma = np.maximum(0.3 * level, 1.0)
    return sigma * sigma


def derive(P: dict[str, np.ndarray], dt: float, dtp: float, sensor: SensorParams) -> dict[str, np.ndarray]:
    """The per-env constants used on the hot path, from the parameters in force ``P``
    (``dt``: control step, ``dtp``: physics sub-step)."""
    return {
        "a_max": P["accel_limit_g"] * G0,
        "alpha": -np.expm1(-dtp / P["autopilot_tau"]),
        "level": P["target_accel_g"] * G0,
        "flip_p": -np.expm1(-dt / P["switch_dwell"]),
        "fov_cos": np.cos(np.deg2rad(P["radar_fov_deg"])),
        "every": np.rint(P["control_rate"] / P["radar_rate"]).astype(np.int64),
        "q_var": q_var(P["target_accel_g"] * G0, sensor),
        "max_time": P["max_time"] - 1e-9,
        "isp_g0": P["isp"] * G0,
        "neg_shaping": -P["reward_shaping"],
        # radar noise 1-sigma per measured quantity (range, azimuth, elevation) and the
        # range part of the measurement variance
        "radar_sigma": np.stack([P["radar_range_noise"], P["radar_angle_noise"], P["radar_angle_noise"]]),
        "range_var": P["radar_range_noise"] ** 2,
    }
