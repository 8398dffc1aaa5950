"""Guidance baselines and the no-free-lunch checks on seeded episodes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import hlynr.guidance  # noqa: F401  (registers the baselines)
from hlynr.envs.intercept import OBS_DIM, OBS_SLICES, BatchedInterceptVecEnv
from hlynr.envs.intercept.env import action_space, observation_space
from hlynr.registries import BASELINES


def _episodes(policy: Any, scenario: str, n: int, sensor: dict[str, Any], seed: int = 1000,
              **kw: Any) -> list[dict[str, Any]]:
    """First episode of each of ``n`` envs seeded ``seed + i``; returns their final infos."""
    venv = BatchedInterceptVecEnv(n, seed=seed, scenario=scenario, sensor=sensor, **kw)
    obs = venv.reset()
    finals: list[dict[str, Any] | None] = [None] * n
    while any(f is None for f in finals):
        obs, _, dones, infos = venv.step(policy(obs))
        for i in np.flatnonzero(dones):
            if finals[i] is None:
                finals[i] = infos[i]
    return finals  # type: ignore[return-value]


def _baseline(name: str, **params: Any) -> tuple[Any, dict[str, Any]]:
    entry = BASELINES.get(name)
    pol = entry.factory(observation_space(), action_space(), entry.params(**params))
    return (lambda obs: pol.predict(obs)[0]), entry.env_overrides.get("sensor", {})


def _rate(finals: list[dict[str, Any]]) -> float:
    return float(np.mean([f["is_success"] for f in finals]))


def test_baselines_registered_with_overrides() -> None:
    for name in ("pure_pursuit", "pn", "apn", "truth_pn"):
        assert "hlynr/Intercept-v0" in BASELINES.get(name).env_ids
    assert BASELINES.get("truth_pn").env_overrides == {"sensor": {"mode": "truth"}}
    assert BASELINES.get("apn").env_overrides == {"sensor": {"filter": "ca"}}
    assert all(BASELINES.get(name).env_overrides == {} for name in ("pure_pursuit", "pn", "zero"))
    pol = BASELINES.get("pn").factory(observation_space(), action_space(), BASELINES.get("pn").params(N=3))
    act, state = pol.predict(np.zeros((5, OBS_DIM), dtype=np.float32))
    assert act.shape == (5, 2) and state is None
    with pytest.raises(ValueError, match="shape"):
        BASELINES.get("pn").factory(observation_space().__class__(-1, 1, (OBS_DIM * 4,)), action_space(),
                                    BASELINES.get("pn").params())


def test_pn_law_matches_closed_form() -> None:
    obs = np.zeros((1, OBS_DIM), dtype=np.float32)
    obs[0, OBS_SLICES["pn_accel"]] = [0.05, -0.02]
    obs[0, OBS_SLICES["gravity"]] = [0.03, 0.01]
    pol, _ = _baseline("pn", N=4.0)
    np.testing.assert_allclose(pol(obs)[0], [4 * 0.05 + 0.03, 4 * -0.02 + 0.01], rtol=1e-6)


def test_truth_pn_intercepts_easy() -> None:
    pol, sensor = _baseline("truth_pn")
    assert _rate(_episodes(pol, "easy", 200, sensor)) >= 0.95


def test_radar_pn_intercepts_standard() -> None:
    pol, sensor = _baseline("pn")
    assert _rate(_episodes(pol, "standard", 200, sensor)) >= 0.9


@pytest.mark.parametrize("action", [(0.0, 0.0), (1.0, 0.0), (0.5, 0.0), (0.0, 1.0), (0.7, -0.7)])
def test_no_free_lunch_for_constant_actions(action: tuple[float, float]) -> None:
    """Zero and constant commands in the estimated-LOS frame intercept at most 5 % of `standard`."""
    const = lambda obs: np.tile(np.asarray(action, dtype=np.float32), (len(obs), 1))  # noqa: E731
    finals = _episodes(const, "standard", 300, {"mode": "radar"})
    assert _rate(finals) <= 0.05
    if action == (0.0, 1.0):  # full command all the time exhausts the fuel: that end is reachable
        assert any(f["termination_reason"] == "fuel_exhausted" for f in finals)


def test_baseline_overrides_reach_the_scored_env() -> None:
    """``truth_pn`` is scored on the truth and ``apn`` on a CA track, the rest of the config's
    sensor kept; the config itself is unchanged."""
    from hlynr.config import validate_config
    from hlynr.envs.factory import build_vec_env

    cfg = validate_config({
        "name": "t", "total_timesteps": 1000, "algo": {"name": "PPO", "policy": "MlpPolicy"},
        "env": {"id": "hlynr/Intercept-v0", "n_envs": 2, "vectoriser": "batched",
                "kwargs": {"scenario": "standard", "sensor": {"filter": "cv", "process_noise": 40.0}}}})
    cores = {}
    for name in ("pn", "apn", "truth_pn"):
        venv = build_vec_env(cfg, training=False, env_overrides=BASELINES.get(name).env_overrides,
                             learner_wrappers=False)
        cores[name] = venv.unwrapped.core
        venv.close()
    assert cores["pn"].tracker.kind == "cv" and cores["apn"].tracker.kind == "ca"
    assert cores["apn"].sensor.process_noise == 40.0
    assert cores["truth_pn"].tracker is None
    assert cfg.env.kwargs["sensor"] == {"filter": "cv", "process_noise": 40.0}
