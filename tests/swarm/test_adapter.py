"""Parameter sharing through SuperSuit (hlynr's adapter) and the batched engine: seeding,
truncation, black death, team statistics (both vectorisers, one set of rules)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from supersuit import concat_vec_envs_v1, pettingzoo_env_to_vec_env_v1

from hlynr.envs.swarm import SwarmInterceptEnv
from hlynr.multiagent import build_pettingzoo_vec_env

ID = "hlynr/Swarm-v0"
FAR = {"spawn_range": (20000.0, 20000.0), "target_speed": 100.0}  # no intercept/escape possible


def _run(venv: Any, steps: int, policy: Any = None) -> list[tuple[Any, ...]]:
    out = []
    rng = np.random.default_rng(0)
    for _ in range(steps):
        act = (policy(venv) if policy else rng.uniform(-1, 1, (venv.num_envs, 2))).astype(np.float32)
        obs, rew, done, infos = venv.step(act)
        out.append((obs, rew, done, infos))
    return out


LAYOUTS = [(0, "supersuit"), (2, "supersuit"), (0, "batched")]


@pytest.mark.parametrize(("num_cpus", "vec"), LAYOUTS)
def test_seed_gives_copy_c_seed_s_plus_c(num_cpus: int, vec: str) -> None:
    venv = build_pettingzoo_vec_env(ID, {"n_agents": 2, "max_agents": 3, "k_neighbours": 2}, 4, num_cpus,
                                    None, vec)
    try:
        assert venv.rows_per_episode == 3 and venv.num_envs == 12
        venv.seed(100)
        obs = venv.reset()
        for c in range(4):
            ref, _ = SwarmInterceptEnv(n_agents=2, max_agents=3, k_neighbours=2).reset(seed=100 + c)
            np.testing.assert_array_equal(obs[3 * c : 3 * c + 3], np.stack(list(ref.values())))
        venv.seed(100)
        np.testing.assert_array_equal(venv.reset(), obs)  # seed + reset reproduces
    finally:
        venv.close()


def test_supersuit_alone_duplicates_seeds_across_workers() -> None:
    """The defect the adapter fixes: SuperSuit's worker processes reuse seeds (copy 1 == copy 2)."""
    env = SwarmInterceptEnv(n_agents=1, max_agents=1, k_neighbours=0)
    venv = concat_vec_envs_v1(pettingzoo_env_to_vec_env_v1(env), 4, num_cpus=2, base_class="gymnasium")
    try:
        obs, _ = venv.reset(seed=100)
        np.testing.assert_array_equal(obs[1], obs[2])
    finally:
        venv.close()


@pytest.mark.parametrize("vec", ["supersuit", "batched"])
def test_unseeded_copies_differ(vec: str) -> None:
    venv = build_pettingzoo_vec_env(ID, {}, 3, 0, None, vec)
    obs = venv.reset()
    n = venv.rows_per_episode
    assert not np.array_equal(obs[0:n], obs[n : 2 * n]) and not np.array_equal(obs[n : 2 * n], obs[2 * n :])


@pytest.mark.parametrize(("num_cpus", "vec"), LAYOUTS)
def test_time_limit_sets_truncation_and_terminal_obs(num_cpus: int, vec: str) -> None:
    venv = build_pettingzoo_vec_env(ID, {**FAR, "max_steps": 7}, 2, num_cpus, 0, vec)
    try:
        venv.reset()
        steps = _run(venv, 7)
        for t, (_, _, done, _) in enumerate(steps):
            assert done.all() == (t == 6) and done.any() == (t == 6)  # all rows end together, on time
        infos = steps[-1][3]
        assert all(i["TimeLimit.truncated"] is True for i in infos)
        assert all(i["terminal_observation"].shape == venv.observation_space.shape for i in infos)
    finally:
        venv.close()


@pytest.mark.parametrize("vec", ["supersuit", "batched"])
def test_intercept_is_terminal_not_truncated(vec: str) -> None:
    venv = build_pettingzoo_vec_env(ID, {"kill_radius": 1e5, "max_steps": 50}, 2, 0, 0, vec)
    venv.reset()
    _, _, done, infos = _run(venv, 1)[0]
    assert done.all()
    assert all(i["TimeLimit.truncated"] is False for i in infos)
    firsts = [infos[0], infos[venv.rows_per_episode]]
    assert all(f["is_success"] is True for f in firsts)


@pytest.mark.parametrize("vec", ["supersuit", "batched"])
def test_escape_is_terminal_not_truncated(vec: str) -> None:
    kw = {"spawn_range": (600.0, 600.0), "target_speed": 3000.0, "kill_radius": 0.001,
          "start_box": (4000.0, 5000.0, 4000.0, 5000.0), "max_steps": 50}
    venv = build_pettingzoo_vec_env(ID, kw, 1, 0, 0, vec)
    venv.reset()
    _, _, done, infos = _run(venv, 1)[0]
    assert done.all() and infos[0]["escaped"] == 1.0 and infos[0]["is_success"] is False
    assert not any(i["TimeLimit.truncated"] for i in infos)


@pytest.mark.parametrize("vec", ["supersuit", "batched"])
def test_black_death_zero_rows_and_on_time_end(vec: str) -> None:
    """Agent 0 burns its fuel at full throttle and is lost at step 10; the others idle on.

    Its row then holds zeros and zero reward, no row is done before the time limit, and the
    episode ends (truncated) exactly at max_steps with the inactive slot zero throughout.
    """
    kw = {**FAR, "n_agents": 3, "max_agents": 4, "k_neighbours": 2, "endurance_s": 1.0,
          "idle_burn": 0.1, "max_steps": 30}
    venv = build_pettingzoo_vec_env(ID, kw, 1, 0, 0, vec)
    obs = venv.reset()
    assert not obs[3].any()  # inactive slot

    def policy(v: Any) -> np.ndarray:
        a = np.zeros((v.num_envs, 2))
        a[0, 1] = 1.0
        return a

    steps = _run(venv, 30, policy)
    lost_at = next(t for t, s in enumerate(steps) if not s[0][0].any())
    assert lost_at == 9  # 10th step: 10 x 0.1 s at full throttle empties 1 s of endurance
    for t, (o, r, done, infos) in enumerate(steps):
        assert done.any() == (t == 29)
        assert not o[3].any() and r[3] == 0.0
        if lost_at < t < 29:
            assert not o[0].any() and r[0] == 0.0
            assert vec == "batched" or infos[0]["active"] is False
            assert o[1].any() and o[2].any() and r[1] != 0.0
    last = steps[-1][3]
    assert not last[0]["terminal_observation"].any() and last[1]["terminal_observation"].any()
    assert steps[-1][0][0].any()  # auto-reset: a new team episode, agent 0 flies again
    assert steps[-1][3][0]["TimeLimit.truncated"] and steps[-1][3][0]["agents_lost"] == 1.0
    assert steps[-1][3][0]["episode"]["l"] == 30


@pytest.mark.parametrize("vec", ["supersuit", "batched"])
def test_team_statistics_count_episodes_not_rows(vec: str) -> None:
    from stable_baselines3 import PPO

    venv = build_pettingzoo_vec_env(ID, {**FAR, "max_steps": 5, "n_agents": 3}, 2, 0, 0, vec)
    venv.reset()
    steps = _run(venv, 10)
    n = venv.rows_per_episode
    ends = [(t, r) for t, s in enumerate(steps) for r, i in enumerate(s[3]) if "episode" in i]
    assert ends == [(4, 0), (4, n), (9, 0), (9, n)]  # 2 copies x 2 episodes, first rows only
    succ = [(t, r) for t, s in enumerate(steps) for r, i in enumerate(s[3]) if "is_success" in i]
    assert succ == ends
    if vec == "supersuit":  # the ParallelEnv's per-step team reward sums to the episode's return
        team = sum(s[3][0]["team_reward"] for s in steps[:5])
        assert steps[4][3][0]["episode"]["r"] == pytest.approx(team)
    assert steps[4][3][0]["episode"]["l"] == 5
    # SB3 sees team episodes: 2 copies x (80 steps / 5) = 32 episodes, not 32 x rows
    venv = build_pettingzoo_vec_env(ID, {**FAR, "max_steps": 5, "n_agents": 3}, 2, 0, 0, vec)
    model = PPO("MlpPolicy", venv, n_steps=80, batch_size=400, n_epochs=1, seed=0, stats_window_size=1000)
    model.learn(80 * venv.num_envs)
    assert len(model.ep_info_buffer) == 32 and len(model.ep_success_buffer) == 32
