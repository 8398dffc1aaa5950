"""hlynr/Swarm-v0 against PettingZoo's own checkers, and sanitised actions."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from pettingzoo.test import api_test, max_cycles_test, parallel_api_test, parallel_seed_test, seed_test
from pettingzoo.test.state_test import state_test
from pettingzoo.utils import parallel_to_aec

from hlynr.envs.swarm import SwarmInterceptEnv, make_batched_swarm

KW = {"stage": "intermediate", "max_steps": 60}


def _aec(**kw: object) -> object:
    return parallel_to_aec(SwarmInterceptEnv(**{**KW, **kw}))


def test_api_and_parallel_api() -> None:
    api_test(_aec(), num_cycles=200)
    parallel_api_test(SwarmInterceptEnv(**KW), num_cycles=200)


def test_seed() -> None:
    seed_test(_aec, num_cycles=120)
    parallel_seed_test(lambda: SwarmInterceptEnv(**KW), num_cycles=120)


def test_state() -> None:
    env = SwarmInterceptEnv(**KW)
    state_test(parallel_to_aec(env), env, num_cycles=60)
    env.reset(seed=0)
    assert env.state().shape == env.state_space.shape and env.state_space.contains(env.state())


def test_max_cycles_through_the_time_limit() -> None:
    mod = SimpleNamespace(parallel_env=lambda max_cycles: SwarmInterceptEnv(max_steps=max_cycles),
                          env=lambda max_cycles: _aec(max_steps=max_cycles))
    max_cycles_test(mod)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_actions_never_give_non_finite_observations(bad: float) -> None:
    env = SwarmInterceptEnv(**KW)
    env.reset(seed=3)
    ref = SwarmInterceptEnv(**KW)
    ref.reset(seed=3)
    zero = np.zeros(2)
    for _ in range(30):
        if not env.agents:
            break
        obs, rew, *_ = env.step({a: np.array([bad, bad]) for a in env.agents})
        robs, rrew, *_ = ref.step({a: zero for a in ref.agents})
        for a in obs:
            assert np.isfinite(obs[a]).all() and np.isfinite(rew[a])
            np.testing.assert_array_equal(obs[a], robs[a])  # non-finite entries count as 0
    venv = make_batched_swarm(2, seed=0, **KW)
    venv.reset()
    for _ in range(20):
        obs, rew, _, _ = venv.step(np.full((venv.num_envs, 2), bad, dtype=np.float32))
        assert np.isfinite(obs).all() and np.isfinite(rew).all()
