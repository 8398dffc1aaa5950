"""Robustness of hlynr/Intercept-v0: non-finite actions, the upstream checkers on wrapped envs,
and the removed ``radar_kalman`` wrapper form."""

from __future__ import annotations

import warnings
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import hlynr  # noqa: F401  (registers the env and wrappers)
from hlynr.config import ConfigError, validate_config
from hlynr.envs.factory import build_vec_env
from hlynr.envs.intercept import ENV_ID, BatchedInterceptVecEnv, InterceptEnv
from hlynr.envs.wrappers import MaskObservation
from hlynr.registries import WRAPPERS, WrapContext

BAD = (np.nan, np.inf, -np.inf)


def _actions(rng: np.random.Generator, n: int, bad: bool) -> tuple[np.ndarray, np.ndarray]:
    """Random actions with non-finite entries (if ``bad``) and the same actions with those
    entries replaced by 0 (the documented meaning of a non-finite entry)."""
    a = rng.uniform(-1.2, 1.2, (n, 2))
    if bad:
        mask = rng.random((n, 2)) < 0.3
        a[mask] = rng.choice(BAD, mask.sum())
    return a.astype(np.float32), np.where(np.isfinite(a), a, 0.0).astype(np.float32)


@pytest.mark.parametrize("sensor", [{"mode": "truth"}, {"mode": "radar", "filter": "ca"}])
def test_non_finite_actions_act_as_zero_in_the_batched_env(sensor: dict[str, Any]) -> None:
    n = 6
    bad = BatchedInterceptVecEnv(n, seed=4, scenario="manoeuvring", sensor=sensor)
    ref = BatchedInterceptVecEnv(n, seed=4, scenario="manoeuvring", sensor=sensor)
    np.testing.assert_array_equal(bad.reset(), ref.reset())
    rng = np.random.default_rng(0)
    ends = 0
    for _ in range(250):
        a_bad, a_ref = _actions(rng, n, True)
        ob, rb, db, ib = bad.step(a_bad)
        orf, rr, dr, _ = ref.step(a_ref)
        np.testing.assert_array_equal(ob, orf)
        np.testing.assert_array_equal(rb, rr)
        np.testing.assert_array_equal(db, dr)
        assert np.isfinite(ob).all() and np.isfinite(rb).all() and np.isfinite(bad.core.S).all()
        for i in np.flatnonzero(db):
            ends += 1
            assert np.isfinite(ib[i]["terminal_observation"]).all() and np.isfinite(ib[i]["miss_distance"])
    assert ends >= n  # episodes ended and restarted under non-finite actions


def test_non_finite_actions_in_the_single_env() -> None:
    env, ref = InterceptEnv(scenario="standard"), InterceptEnv(scenario="standard")
    np.testing.assert_array_equal(env.reset(seed=9)[0], ref.reset(seed=9)[0])
    rng = np.random.default_rng(1)
    for step in range(200):
        a_bad, a_ref = _actions(rng, 1, True)
        if step == 0:
            a_bad[0] = [np.nan, np.nan]
            a_ref[0] = [0.0, 0.0]
        o, r, term, trunc, _ = env.step(a_bad[0])
        o2, r2, term2, trunc2, _ = ref.step(a_ref[0])
        np.testing.assert_array_equal(o, o2)
        assert r == r2 and (term, trunc) == (term2, trunc2)
        assert np.isfinite(o).all() and np.isfinite(r) and np.isfinite(env.core.S).all()
        if term or trunc:
            env.reset(), ref.reset()


def test_finite_actions_are_unchanged_by_the_sanitiser() -> None:
    """Huge finite entries are clipped to the limits, not zeroed."""
    env, ref = InterceptEnv(sensor={"mode": "truth"}), InterceptEnv(sensor={"mode": "truth"})
    env.reset(seed=2), ref.reset(seed=2)
    o, *_ = env.step(np.array([3e38, -3e38], dtype=np.float32))
    o2, *_ = ref.step(np.array([1.0, -1.0], dtype=np.float32))
    np.testing.assert_array_equal(o, o2)


def _wrapped(**kwargs: Any) -> gym.Env:
    """The intercept env made by id, with hlynr's env-level wrappers from the registry."""
    env = gym.make(ENV_ID, scenario="manoeuvring", sensor={"filter": "ca"}, **kwargs)
    ctx = WrapContext()
    for name, params in (("mask_observation", {"keep": [0, 3, 5, 9, 10, 16, 17]}),
                         ("time_limit", {"max_episode_steps": 50})):
        entry = WRAPPERS.get(name)
        env = entry.env(env, entry.params(**params), ctx)  # type: ignore[misc]
    return env


def test_check_env_passes_on_the_wrapped_env_including_close() -> None:
    env = _wrapped()
    assert any(isinstance(w, MaskObservation) for w in _chain(env))
    assert env.spec is not None  # else check_env skips its close check (rebuild from the spec)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env, skip_render_check=True)
    # failed checks of close (on a rebuild from env.spec) or of the spaces are only warnings
    messages = [str(w.message) for w in caught]
    assert not [m for m in messages if "different from the unwrapped version" not in m], messages


def _chain(env: gym.Env) -> list[gym.Env]:
    out = [env]
    while isinstance(out[-1], gym.Wrapper):
        out.append(out[-1].env)
    return out


def test_make_from_spec_rebuilds_the_wrapped_env() -> None:
    env = _wrapped(kill_radius=7.0)
    spec = env.spec
    assert spec is not None
    assert [w.name for w in spec.additional_wrappers] == ["MaskObservation"]
    assert spec.max_episode_steps == 50  # gymnasium records TimeLimit here
    rebuilt = gym.make(spec)
    # gymnasium re-applies TimeLimit inside the additional wrappers: same wrappers, same behaviour
    assert sorted(type(w).__name__ for w in _chain(rebuilt)) == sorted(type(w).__name__ for w in _chain(env))
    assert rebuilt.unwrapped.params == env.unwrapped.params
    assert rebuilt.unwrapped.core.tracker.kind == "ca"
    obs_a, _ = env.reset(seed=3)
    obs_b, _ = rebuilt.reset(seed=3)
    np.testing.assert_array_equal(obs_a, obs_b)
    assert obs_a.shape == (7,)
    for _ in range(60):
        a = np.array([0.3, -0.2], dtype=np.float32)
        ra, rb = env.step(a), rebuilt.step(a)
        np.testing.assert_array_equal(ra[0], rb[0])
        assert ra[1:4] == rb[1:4]
        if ra[2] or ra[3]:
            break
    assert ra[3]  # the rebuilt time limit truncates at the same step


def test_config_with_the_removed_radar_kalman_wrapper_says_what_to_write() -> None:
    cfg = {"name": "t", "total_timesteps": 1000,
           "env": {"id": ENV_ID, "kwargs": {"scenario": "standard"}, "n_envs": 2, "vectoriser": "batched"},
           "wrappers": [{"radar_kalman": {"filter": "ca"}}], "algo": {"name": "PPO", "policy": "MlpPolicy"}}
    with pytest.raises(ConfigError) as info:
        validate_config(cfg, "cfg.yaml")
    message = str(info.value)
    assert "radar_kalman" in message and "env.kwargs.sensor" in message and "sensor: {mode: radar" in message
    assert "radar_kalman" not in WRAPPERS.names()
    cfg["wrappers"] = []
    cfg["env"]["kwargs"]["sensor"] = {"mode": "radar", "filter": "ca"}
    venv = build_vec_env(validate_config(cfg, "cfg.yaml"))
    assert venv.unwrapped.core.tracker.kind == "ca"
    venv.close()
