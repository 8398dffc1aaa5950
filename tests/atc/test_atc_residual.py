"""A learned correction on top of mvp (``residual_guidance``) on the batched ATC env of aircraft rows."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from hlynr.config import ConfigError, validate_config
from hlynr.envs.factory import build_vec_env
from hlynr.registries import BASELINES

KW: dict[str, Any] = {"scenario": "random", "max_aircraft": 4, "n_aircraft": 4, "k_intruders": 3,
                      "max_steps": 40, "leg_nm": 25.0}


def _config(wrappers: list[Any]) -> Any:
    return validate_config({
        "name": "t", "total_timesteps": 1000, "wrappers": wrappers,
        "env": {"type": "pettingzoo", "id": "hlynr/ATC-v0", "vectoriser": "batched", "kwargs": KW,
                "n_envs": 3},
        "algo": {"name": "SAC", "policy": "MlpPolicy"}})


def _fly(venv: Any, act: Any, steps: int) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    obs = venv.reset()
    seen, rewards, finals = [obs], [], []
    for _ in range(steps):
        obs, rew, dones, infos = venv.step(act(obs))
        seen.append(obs)
        rewards.append(rew)
        finals += [info for info, done in zip(infos, dones) if done and "path_efficiency" in info]
    return np.array(seen), np.array(rewards), finals


def test_zero_correction_flies_mvp_with_its_margin_exactly() -> None:
    """Every aircraft row: a zero correction gives mvp's own flight (margin 1.5), resets
    included, and the margin reaches mvp (the default margin flies differently)."""
    wrapped = build_vec_env(_config([{"residual_guidance": {"baseline": "mvp", "params": {"margin": 1.5},
                                                            "scale": 0.15}}]), n_envs=3, seed=5)
    plain = build_vec_env(_config([]), n_envs=3, seed=5)
    entry = BASELINES.get("mvp")
    mvp_15 = entry.factory(plain.observation_space, plain.action_space, entry.params(margin=1.5))
    mvp_default = entry.factory(plain.observation_space, plain.action_space, entry.params())
    rows = wrapped.num_envs
    obs_r, rew_r, fin_r = _fly(wrapped, lambda o: np.zeros((rows, 2), np.float32), 120)
    obs_p, rew_p, fin_p = _fly(plain, lambda o: mvp_15.predict(o, deterministic=True)[0], 120)
    np.testing.assert_array_equal(obs_r, obs_p)
    np.testing.assert_array_equal(rew_r, rew_p)
    assert fin_r and [f["path_efficiency"] for f in fin_r] == [f["path_efficiency"] for f in fin_p]
    obs_d, _, _ = _fly(build_vec_env(_config([]), n_envs=3, seed=5),
                       lambda o: mvp_default.predict(o, deterministic=True)[0], 120)
    assert not np.array_equal(obs_d, obs_p)


def test_a_correction_moves_the_aircraft_off_mvps_flight() -> None:
    """A full-range correction on one axis moves the aircraft away from mvp's flight."""
    config = _config([{"residual_guidance": {"baseline": "mvp", "scale": 0.15}}])
    wrapped, zero = (build_vec_env(config, n_envs=3, seed=5) for _ in range(2))
    rows = wrapped.num_envs
    turn = np.tile(np.array([[1.0, 0.0]], np.float32), (rows, 1))
    obs_t, _, _ = _fly(wrapped, lambda o: turn, 5)
    obs_z, _, _ = _fly(zero, lambda o: np.zeros((rows, 2), np.float32), 5)
    assert not np.array_equal(obs_t[1:], obs_z[1:])
    np.testing.assert_array_equal(obs_t[0], obs_z[0])


def test_correction_cost_takes_the_mean_squared_correction_off_every_reward() -> None:
    """``correction_cost`` changes the reward by exactly ``-cost * mean(action**2)`` per row and
    step and nothing else (the flight is the same); a zero correction costs nothing."""
    spec = {"baseline": "mvp", "params": {"margin": 1.5}, "scale": 0.15}
    free, costly = (build_vec_env(_config([{"residual_guidance": {**spec, **extra}}]), n_envs=3, seed=7)
                    for extra in ({}, {"correction_cost": 0.5}))
    rows = free.num_envs
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1, 1, size=(30, rows, 2)).astype(np.float32)
    step = iter(range(30))
    obs_f, rew_f, _ = _fly(free, lambda o: actions[next(step)], 30)
    step = iter(range(30))
    obs_c, rew_c, _ = _fly(costly, lambda o: actions[next(step)], 30)
    np.testing.assert_array_equal(obs_f, obs_c)
    expected = 0.5 * np.square(actions.astype(np.float64)).mean(axis=-1)
    np.testing.assert_allclose(rew_f - rew_c, expected, rtol=1e-5, atol=1e-6)
    _, rew_zero, _ = _fly(build_vec_env(_config([{"residual_guidance": {**spec, "correction_cost": 0.5}}]),
                                        n_envs=3, seed=7), lambda o: np.zeros((rows, 2), np.float32), 30)
    _, rew_plain, _ = _fly(build_vec_env(_config([{"residual_guidance": spec}]), n_envs=3, seed=7),
                           lambda o: np.zeros((rows, 2), np.float32), 30)
    np.testing.assert_array_equal(rew_zero, rew_plain)


def test_a_negative_correction_cost_is_rejected() -> None:
    with pytest.raises(ConfigError, match="correction_cost"):
        _config([{"residual_guidance": {"baseline": "mvp", "correction_cost": -1.0}}])
