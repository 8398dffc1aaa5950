"""The batched swarm engine: step-for-step equal to the ParallelEnv, curriculum per copy, config form."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from hlynr.envs.swarm import SwarmInterceptEnv, make_batched_swarm
from hlynr.envs.swarm.baselines import InterceptPointPolicy
from hlynr.multiagent import build_pettingzoo_vec_env

KW = {"max_agents": 5, "k_neighbours": 2, "max_steps": 60}


def _mixed_policy(rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The scripted baseline plus noise: tracks, detections, intercepts and losses all happen."""
    act = InterceptPointPolicy().act(rows)
    return np.clip(act + rng.normal(0.0, 0.4, act.shape), -1.0, 1.0).astype(np.float32)


def _compare(kw: dict[str, Any], copies: int, steps: int, seed: int, change: dict | None = None,
             change_at: int = -1) -> int:
    """Step ``copies`` ParallelEnvs and one batched VecEnv side by side; assert equality of every
    observation, reward, termination/truncation and final info. Returns the episodes ended."""
    venv = make_batched_swarm(copies, **kw)
    venv.seed(seed)
    obs = venv.reset()
    envs = [SwarmInterceptEnv(**kw) for _ in range(copies)]
    m = envs[0].engine.max_agents
    ref_obs = [e.reset(seed=seed + c)[0] for c, e in enumerate(envs)]
    for c in range(copies):
        np.testing.assert_array_equal(obs[c * m:(c + 1) * m], np.stack(list(ref_obs[c].values())))
    rng = np.random.default_rng(seed)
    ended = 0
    for t in range(steps):
        if t == change_at and change:
            venv.env_method("apply_params", indices=list(range(m)), **change)  # copy 0 only
            envs[0].apply_params(**change)
        act = _mixed_policy(obs, rng)
        if t % 7 == 3:
            act[rng.integers(0, len(act))] = np.nan  # non-finite actions count as 0
        obs, rew, done, infos = venv.step(act)
        assert np.isfinite(obs).all()
        for c, env in enumerate(envs):
            a = {ag: act[c * m + i] for i, ag in enumerate(env.possible_agents)}
            o, r, te, tr, info = env.step(a)
            rows = slice(c * m, (c + 1) * m)
            ref = np.stack(list(o.values()))
            if te["interceptor_0"] or tr["interceptor_0"]:
                ended += 1
                assert done[rows].all()
                got = np.stack([infos[c * m + i]["terminal_observation"] for i in range(m)])
                np.testing.assert_array_equal(got, ref)
                first = infos[c * m]
                for k in ("is_success", "escaped", "miss_distance", "episode_time",
                          "fuel_remaining", "agents_lost", "target_speed", "n_agents"):
                    assert first[k] == info["interceptor_0"][k], k
                assert first["TimeLimit.truncated"] == (tr["interceptor_0"] and not te["interceptor_0"])
                o, _ = env.reset()
                ref = np.stack(list(o.values()))
            else:
                assert not done[rows].any()
            np.testing.assert_array_equal(obs[rows], ref)
            np.testing.assert_array_equal(rew[rows], np.array(list(r.values()), dtype=np.float32))
    return ended


@pytest.mark.parametrize("stage", ["basic", "intermediate", "advanced"])
def test_batched_equals_parallel_env(stage: str) -> None:
    ended = _compare({**KW, "stage": stage}, copies=3, steps=130, seed=11)
    assert ended >= 3  # several episodes ended (intercepts, escapes or time limits) and restarted


def test_batched_equals_parallel_env_over_a_curriculum_change() -> None:
    ended = _compare({**KW, "stage": "basic"}, copies=2, steps=150, seed=5,
                     change={"stage": "advanced", "kill_radius": 30.0}, change_at=20)
    assert ended >= 3


def test_apply_params_is_per_copy() -> None:
    venv = make_batched_swarm(3, seed=0, stage="basic")
    venv.reset()
    venv.env_method("apply_params", indices=[4], stage="advanced")  # row 4 belongs to copy 0
    assert [p.target_speed for p in venv.get_attr("params")[::5]] == [500.0] * 3
    venv.reset()
    assert [p.target_speed for p in venv.get_attr("params")[::5]] == [1700.0, 500.0, 500.0]
    with pytest.raises(ValueError, match="did you mean 'kill_radius'"):
        venv.env_method("apply_params", kill_radus=3.0)
    with pytest.raises(ValueError, match="max_agents"):
        venv.env_method("apply_params", max_agents=8)


def test_builder_and_config_form_build_the_batched_engine() -> None:
    from hlynr.config.schema import PettingZooEnvConfig
    from hlynr.multiagent.rows import AgentRowsVecEnv

    venv = build_pettingzoo_vec_env("hlynr/Swarm-v0", {"stage": "basic"}, 2, 0, 0, "batched")
    assert isinstance(venv, AgentRowsVecEnv) and venv.num_envs == 10
    cfg = PettingZooEnvConfig(type="pettingzoo", id="hlynr/Swarm-v0", vectoriser="batched")
    assert cfg.vectoriser == "batched"
    with pytest.raises(ValueError, match="num_cpus"):
        PettingZooEnvConfig(type="pettingzoo", id="hlynr/Swarm-v0", vectoriser="batched", num_cpus=2)


def test_workers_change_speed_never_trajectories() -> None:
    kw = {**KW, "stage": "intermediate"}
    one = make_batched_swarm(5, seed=3, **kw)
    three = make_batched_swarm(5, seed=3, workers=3, **kw)
    try:
        obs_one = one.reset()
        np.testing.assert_array_equal(obs_one, three.reset())
        rng = np.random.default_rng(0)
        for t in range(65):
            if t == 10:
                for v in (one, three):
                    v.env_method("apply_params", indices=[12, 24], stage="advanced")  # copies 2, 4
            act = (_mixed_policy(obs_one, rng) if t else
                   rng.uniform(-1, 1, (one.num_envs, 2)).astype(np.float32))
            obs_one, r1, d1, i1 = one.step(act)
            obs_three, r3, d3, i3 = three.step(act)
            np.testing.assert_array_equal(obs_one, obs_three)
            np.testing.assert_array_equal(r1, r3)
            np.testing.assert_array_equal(d1, d3)
            for a, b in zip(i1, i3):
                assert a.keys() == b.keys()
                for k in a.keys() - {"episode"}:
                    np.testing.assert_array_equal(a[k], b[k])
                if "episode" in a:
                    assert (a["episode"]["r"], a["episode"]["l"]) == (b["episode"]["r"], b["episode"]["l"])
            np.testing.assert_array_equal(one.critic_observations(), three.critic_observations())
        assert [p.target_speed for p in three.get_attr("params")[::5]] == [
            p.target_speed for p in one.get_attr("params")[::5]]
        with pytest.raises(ValueError, match="did you mean 'kill_radius'"):
            three.env_method("apply_params", kill_radus=3.0)
        three.env_method("apply_params", kill_radius=40.0)  # workers survived the error
    finally:
        three.close()


def test_batched_and_supersuit_vecenvs_agree_row_for_row() -> None:
    kw = {**KW, "stage": "basic", "max_steps": 30}
    ss = build_pettingzoo_vec_env("hlynr/Swarm-v0", kw, 2, 0, 21, "supersuit")
    bt = build_pettingzoo_vec_env("hlynr/Swarm-v0", kw, 2, 0, 21, "batched")
    np.testing.assert_array_equal(ss.reset(), bt.reset())
    rng = np.random.default_rng(1)
    ends = 0
    for _ in range(35):
        act = rng.uniform(-1, 1, (ss.num_envs, 2)).astype(np.float32)
        o1, r1, d1, i1 = ss.step(act)
        o2, r2, d2, i2 = bt.step(act)
        np.testing.assert_array_equal(o1, o2)
        np.testing.assert_array_equal(r1, r2)
        np.testing.assert_array_equal(d1, d2)
        for a, b in zip(i1, i2):
            if "episode" in a:
                ends += 1
                assert a["episode"]["r"] == pytest.approx(b["episode"]["r"], abs=1e-12)
                assert a["episode"]["l"] == b["episode"]["l"] and a["is_success"] == b["is_success"]
            assert a.get("TimeLimit.truncated") == b.get("TimeLimit.truncated")
    assert ends >= 2


def test_rows_without_a_live_agent_are_marked_inactive() -> None:
    """``info["active"]`` is False exactly on the rows whose observation is the zero row of an
    inactive slot or a lost agent (what cloning masks out)."""
    venv = make_batched_swarm(6, seed=1, **{**KW, "stage": "basic"})  # 3 of 5 slots flown
    obs = venv.reset()
    venv.engine.state.alive[2, 1] = False  # copy 2 loses its second agent
    rng = np.random.default_rng(0)
    expected = np.tile(np.arange(5) >= 3, 6)
    expected[2 * 5 + 1] = True
    for t in range(60):
        obs, _, dones, infos = venv.step(_mixed_policy(obs, rng))
        inactive = np.array([info.get("active", True) is False for info in infos])
        final = np.array([info["terminal_observation"] if d else o
                          for o, d, info in zip(obs, dones, infos)])
        np.testing.assert_array_equal(inactive, ~final.any(axis=1))
        if t == 0:
            np.testing.assert_array_equal(inactive, expected)
