"""Privileged critic on hlynr/Intercept-v0: truth critic rows, unchanged trajectories, enforcement."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch as th
from hlynr_testing import run_fresh
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import VecFrameStack, VecNormalize

from hlynr.algos.centralised import MAPPO
from hlynr.envs.intercept import BatchedInterceptVecEnv
from hlynr.envs.intercept.critic import CRITIC_DIM, TRUTH_DIM, TRUTH_SLICES
from hlynr.envs.intercept.observation import OBS_DIM

REPO = Path(__file__).resolve().parents[2]
KW = {"scenario": "manoeuvring", "sensor": {"mode": "radar", "filter": "ca"}}


def _actions(n: int, steps: int) -> np.ndarray:
    return np.random.default_rng(7).uniform(-1.0, 1.0, (steps, n, 2))


def _roll(env: BatchedInterceptVecEnv, actions: np.ndarray, critic: bool) -> tuple[list, list]:
    """Observations, rewards, dones and final infos of a rollout; critic rows if ``critic``."""
    out, rows = [], []
    out.append(env.reset())
    if critic:
        rows.append(env.critic_observations())
    for a in actions:
        obs, rew, done, infos = env.step(a)
        final = [{k: v for k, v in infos[i].items() if k != "terminal_critic_observation"}
                 for i in np.flatnonzero(done)]
        out += [obs, rew, done, final]
        if critic:
            rows.append(env.critic_observations())
            rows += [infos[i]["terminal_critic_observation"] for i in np.flatnonzero(done)]
    return out, rows


def _same(a: list, b: list) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        if isinstance(x, list):
            assert len(x) == len(y)
            for dx, dy in zip(x, y):
                assert dx.keys() == dy.keys()
                for k in dx:
                    np.testing.assert_array_equal(dx[k], dy[k])
        else:
            np.testing.assert_array_equal(x, y)


def test_critic_rows_are_the_truth_then_the_observation() -> None:
    env = BatchedInterceptVecEnv(6, seed=3, **KW)
    obs = env.reset()
    rows = env.critic_observations()
    assert rows.shape == (6, CRITIC_DIM) == (6, TRUTH_DIM + OBS_DIM)
    assert env.critic_observation_space.shape == (CRITIC_DIM,)
    np.testing.assert_array_equal(rows[:, TRUTH_DIM:], obs)
    core = env.core
    np.testing.assert_allclose(rows[:, TRUTH_SLICES["rel_pos"]], ((core.tp - core.mp) / 1e4).T, rtol=1e-6)
    np.testing.assert_allclose(rows[:, TRUTH_SLICES["rel_vel"]], ((core.tv - core.mv) / 1e3).T, rtol=1e-6)
    for _ in range(5):
        obs, *_ = env.step(np.zeros((6, 2)))
    # the radar track is not the truth: the truth block carries what the observation lacks
    truth = env.critic_observations()[:, TRUTH_SLICES["range"]][:, 0]
    np.testing.assert_allclose(truth, np.linalg.norm(core.tp - core.mp, axis=0) / 1e4, rtol=1e-6)
    assert not np.allclose(truth, obs[:, 7], rtol=1e-6)  # the observation's range is the estimate


def test_trajectories_do_not_change_with_the_critic_state_on() -> None:
    acts = _actions(8, 300)
    plain, _ = _roll(BatchedInterceptVecEnv(8, seed=11, **KW), acts, critic=False)
    with_critic, rows = _roll(BatchedInterceptVecEnv(8, seed=11, **KW), acts, critic=True)
    _same(plain, with_critic)
    finals = [r for r in rows if r.ndim == 1]
    assert finals and all(r.shape == (CRITIC_DIM,) and np.isfinite(r).all() for r in finals)


def test_critic_rows_are_the_same_with_worker_processes() -> None:
    acts = _actions(6, 250)
    one = BatchedInterceptVecEnv(6, seed=5, workers=1, **KW)
    two = BatchedInterceptVecEnv(6, seed=5, workers=3, **KW)
    try:
        a, ra = _roll(one, acts, critic=True)
        b, rb = _roll(two, acts, critic=True)
    finally:
        two.close()
    _same(a, b)
    _same(ra, rb)
    assert sum(r.ndim == 1 for r in ra) > 0  # some episodes ended inside the rollout


def _model(n_envs: int = 8) -> MAPPO:
    venv = VecNormalize(VecFrameStack(BatchedInterceptVecEnv(n_envs, seed=0, **KW), 2))
    return MAPPO("MlpPolicy", venv, n_steps=32, batch_size=128, n_epochs=2, seed=0, device="cpu",
                 policy_kwargs={"net_arch": [32]})


def test_privileged_part_changes_the_value_never_the_action(tmp_path: Path) -> None:
    model = _model()
    model.learn(2 * 32 * 8)
    venv = model.get_env()
    obs = th.as_tensor(venv.reset())
    crit = th.as_tensor(venv.critic_observations())
    assert crit.shape == (8, CRITIC_DIM) and obs.shape == (8, 2 * OBS_DIM)
    other = crit.clone()
    other[:, :TRUTH_DIM] += th.randn_like(other[:, :TRUTH_DIM])  # only the privileged part
    p = model.policy
    with th.no_grad():
        a1, v1, lp1 = p.forward_centralised(obs, crit, deterministic=True)
        a2, v2, lp2 = p.forward_centralised(obs, other, deterministic=True)
    assert not th.allclose(v1, v2)
    assert th.equal(a1, a2) and th.equal(lp1, lp2)
    # a saved model loads in plain SB3 in a fresh process and acts from the observation alone
    model.save(tmp_path / "m")
    np.save(tmp_path / "obs.npy", obs.numpy())
    want, _ = model.predict(obs.numpy(), deterministic=True)
    np.save(tmp_path / "want.npy", want)
    code = ("import numpy as np, sys; from stable_baselines3 import PPO; d = sys.argv[1]; "
            "m = PPO.load(d + '/m', device='cpu'); a, _ = m.predict(np.load(d + '/obs.npy'), "
            "deterministic=True); assert np.array_equal(a, np.load(d + '/want.npy')); print('ok')")
    assert run_fresh(code, str(tmp_path)).startswith("ok")
    assert isinstance(PPO.load(tmp_path / "m", device="cpu"), PPO)


def _config(**env: object) -> dict:
    return {"name": "p", "total_timesteps": 1000, "algo": {"name": "AsymmetricPPO",
            "hyperparams": {"n_steps": 32, "batch_size": 64}},
            "env": {"id": "hlynr/Intercept-v0", "n_envs": 2, **env}}


def test_config_routes_to_the_privileged_critic() -> None:
    from hlynr.config import ConfigError, validate_config

    cfg = validate_config(_config(vectoriser="batched"))
    assert cfg.algo.entry.centralised_critic
    with pytest.raises(ConfigError, match="with vectoriser 'dummy' publishes no global state; "
                                          "use vectoriser: batched"):
        validate_config(_config(vectoriser="dummy"))
    with pytest.raises(ConfigError, match="single-agent Gymnasium env and publishes no global state"):
        validate_config({**_config(), "env": {"id": "Pendulum-v1", "n_envs": 2}})


def test_cli_rejects_a_privileged_critic_without_critic_state_in_one_line() -> None:
    out = subprocess.run([sys.executable, "train.py", "--check", "--config",
                          "configs/intercept/ppo_manoeuvring_privileged.yaml", "--set",
                          "env.vectoriser=subproc"], capture_output=True, text=True, cwd=REPO, timeout=120)
    text = out.stderr + out.stdout
    assert out.returncode == 2 and "Traceback" not in text
    assert "AsymmetricPPO's centralised critic needs a global state" in text
