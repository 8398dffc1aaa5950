"""MAPPO: centralised critic on the engine's global state, decentralised execution, value norm."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch as th
from hlynr_testing import run_fresh
from multiagent_testing import assert_actor_ignores_critic_rows
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import VecNormalize

from hlynr.algos.centralised import MAPPO, ValueNorm
from hlynr.envs.swarm import layout as L
from hlynr.envs.swarm import make_batched_swarm

KW = {"stage": "basic", "max_steps": 40}
REPO = Path(__file__).resolve().parents[2]


def _model(copies: int = 4, **kw: object) -> MAPPO:
    venv = make_batched_swarm(copies, seed=0, **KW)
    return MAPPO("MlpPolicy", venv, n_steps=16, batch_size=160, n_epochs=2, seed=0, device="cpu",
                 policy_kwargs={"net_arch": [32]}, **kw)


def test_critic_rows_death_masking_and_ids() -> None:
    venv = make_batched_swarm(2, seed=0, **{**KW, "n_agents": 3})
    obs = venv.reset()
    rows = venv.critic_observations()
    m, d = 5, obs.shape[1]
    assert rows.shape == (10, L.critic_size(m, 3)) == (10, venv.critic_observation_space.shape[0])
    ids = rows[:, -m:]
    np.testing.assert_array_equal(ids, np.tile(np.eye(m), (2, 1)))  # one-hot slot id on every row
    team = L.team_state_size(m)
    np.testing.assert_array_equal(rows[:, team:team + d], obs)  # own observation row
    dead = [3, 4, 8, 9]  # inactive slots: zeros + id
    assert not rows[dead, :-m].any()
    assert rows[[0, 1, 2], :team].any(axis=1).all()
    np.testing.assert_array_equal(rows[0, :team], rows[1, :team])  # shared team-and-target block
    # a lost agent: its own row is death-masked, its slot in teammates' team block is zeroed
    eng = venv.engine
    eng.state.alive[0, 1] = False
    rows = venv.critic_observations()
    assert not rows[1, :-m].any() and rows[1, -m:][1] == 1.0
    assert not rows[0, L.TEAM_SIZE:2 * L.TEAM_SIZE].any()


def test_changing_the_global_state_changes_the_value_never_the_action() -> None:
    model = _model()
    model.learn(16 * model.env.num_envs)
    venv = model.env
    assert_actor_ignores_critic_rows(model, venv)
    with pytest.raises(RuntimeError, match="global state"):
        model.policy.predict_values(th.as_tensor(venv.reset()))


def test_value_norm_statistics_follow_mappo() -> None:
    vn = ValueNorm()
    rng = np.random.default_rng(0)
    batches = [rng.normal(5.0, 2.0, 500) for _ in range(3)]
    for b in batches:
        vn.update(th.as_tensor(b))
    beta = 0.99999
    w = np.array([beta**2, beta, 1.0]) * (1 - beta)
    mean = sum(wi * b.mean() for wi, b in zip(w, batches)) / (1 - beta**3)
    sq = sum(wi * (b * b).mean() for wi, b in zip(w, batches)) / (1 - beta**3)
    m, v = vn.mean_var()
    assert float(m[0]) == pytest.approx(mean, rel=1e-9) and float(v[0]) == pytest.approx(sq - mean**2, rel=1e-7)
    x = th.tensor([1.0, 7.0], dtype=th.float64)
    th.testing.assert_close(vn.denormalize(vn.normalize(x)), x)
    fresh = ValueNorm()
    assert float(fresh.mean_var()[1][0]) == pytest.approx(1e-2)  # variance clamp


def test_value_norm_saved_restored_and_continued_on_resume(tmp_path: Path) -> None:
    model = _model()
    model.learn(2 * 16 * model.env.num_envs)
    before = {k: v.clone() for k, v in model.policy.value_norm.state_dict().items()}
    assert before["debiasing_term"].item() > 0 and before["running_mean"].item() != 0
    model.save(tmp_path / "m")
    loaded = MAPPO.load(tmp_path / "m", env=make_batched_swarm(4, seed=1, **KW), device="cpu")
    for k, v in loaded.policy.value_norm.state_dict().items():
        assert th.equal(v, before[k]), k
    loaded.learn(16 * loaded.env.num_envs, reset_num_timesteps=False)
    beta = 0.99999
    assert loaded.policy.value_norm.debiasing_term.item() == pytest.approx(
        before["debiasing_term"].item() * beta + (1 - beta))


def test_plain_sb3_load_predicts_from_local_observations_in_a_fresh_process(tmp_path: Path) -> None:
    model = _model()
    model.learn(16 * model.env.num_envs)
    model.save(tmp_path / "m")
    obs = model.env.reset()
    np.save(tmp_path / "obs.npy", obs)
    want, _ = model.predict(obs, deterministic=True)
    np.save(tmp_path / "want.npy", want)
    code = (
        "import numpy as np, sys; from stable_baselines3 import PPO; d = sys.argv[1]; "
        "m = PPO.load(d + '/m', device='cpu'); obs = np.load(d + '/obs.npy'); "
        "a, _ = m.predict(obs, deterministic=True); "
        "assert np.array_equal(a, np.load(d + '/want.npy')); print('ok', a.shape)"
    )
    assert run_fresh(code, str(tmp_path)).startswith("ok")
    assert isinstance(PPO.load(tmp_path / "m", device="cpu"), PPO)


def test_mappo_trains_through_vecnormalize() -> None:
    venv = VecNormalize(make_batched_swarm(4, seed=0, **KW), norm_reward=False)
    model = MAPPO("MlpPolicy", venv, n_steps=16, batch_size=320, n_epochs=1, seed=0, device="cpu")
    model.learn(2 * 16 * venv.num_envs)
    assert model.num_timesteps == 2 * 16 * 20 and len(model.ep_info_buffer) == 0  # 32 < 40 steps


def test_env_without_global_state_is_refused() -> None:
    from hlynr.multiagent import build_pettingzoo_vec_env

    with pytest.raises(ValueError, match="MAPPO needs a global state"):
        MAPPO("MlpPolicy", build_pettingzoo_vec_env("hlynr/Swarm-v0", KW, 1, 0, 0), n_steps=8,
              batch_size=40)


@pytest.mark.parametrize(("override", "reason"), [
    ("env.vectoriser=supersuit", "with vectoriser 'supersuit' publishes no global state"),
])
def test_config_without_global_state_fails_validation_with_one_line(override: str, reason: str) -> None:
    out = subprocess.run([sys.executable, "train.py", "--check", "--config", "configs/swarm/swarm_mappo.yaml",
                          "--set", override], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 2
    assert "MAPPO's centralised critic needs a global state" in out.stderr + out.stdout
    assert reason in out.stderr + out.stdout
    assert "Traceback" not in out.stderr


def test_gym_env_with_mappo_fails_validation() -> None:
    from hlynr.config import ConfigError, validate_config

    with pytest.raises(ConfigError, match="single-agent Gymnasium env and publishes no global state"):
        validate_config({
            "name": "x", "total_timesteps": 100, "env": {"id": "CartPole-v1"},
            "algo": {"name": "MAPPO"}})
