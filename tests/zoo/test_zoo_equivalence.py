"""A Zoo file run through hlynr trains exactly the network plain SB3 trains from the same
hyperparameters, written the way the RL Zoo builds them (its schedules, noise, VecNormalize)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hlynr_testing import REPO
from stable_baselines3 import A2C, DQN, PPO, SAC, TD3
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.noise import NormalActionNoise
from stable_baselines3.common.vec_env import VecNormalize

from hlynr.algos.builder import load_model
from hlynr.training.runner import start_run
from hlynr.zoo import load_zoo

ZOO = REPO / "benchmarks" / "zoo_hyperparams"


class SimpleLinearSchedule:
    """The RL Zoo's ``lin_X`` schedule (rl_zoo3.utils.SimpleLinearSchedule)."""

    def __init__(self, initial_value: float) -> None:
        self.initial_value = float(initial_value)

    def __call__(self, progress_remaining: float) -> float:
        return progress_remaining * self.initial_value


def _hlynr_params(file: str, env: str, runs_dir: Path, overrides: list[str]) -> dict[str, Any]:
    loaded = load_zoo(ZOO / file, env, overrides=overrides)
    result = start_run(loaded.config, runs_dir=runs_dir)
    model = load_model(loaded.config, result.run_dir / "final" / "model.zip")
    return model.policy.state_dict()


def _sb3_params(cls: type, env: str, n_envs: int, total: int, normalize: dict | None,
                **kwargs: Any) -> dict[str, Any]:
    venv = make_vec_env(env, n_envs=n_envs, seed=0)
    if normalize is not None:
        venv = VecNormalize(venv, **normalize)
    model = cls(kwargs.pop("policy", "MlpPolicy"), venv, seed=0, device="auto", **kwargs)
    model.learn(total)
    return model.policy.state_dict()


def _assert_identical(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"parameters differ: {different}"


def test_ppo_cartpole_with_lin_schedules_and_evaluations(tmp_path: Path) -> None:
    # Evaluations run mid-training (every 512 steps) and must not change what is learned.
    hlynr = _hlynr_params("ppo.yml", "CartPole-v1", tmp_path,
                          ["total_timesteps=2048", "callbacks.0.evaluation.every=512"])
    sb3 = _sb3_params(PPO, "CartPole-v1", 8, 2048, None, n_steps=32, batch_size=256,
                      gae_lambda=0.8, gamma=0.98, n_epochs=20, ent_coef=0.0,
                      learning_rate=SimpleLinearSchedule(0.001),
                      clip_range=SimpleLinearSchedule(0.2))
    _assert_identical(hlynr, sb3)


def test_a2c_pendulum_normalize_sde_and_policy_kwargs(tmp_path: Path) -> None:
    hlynr = _hlynr_params("a2c.yml", "Pendulum-v1", tmp_path, ["total_timesteps=1600"])
    sb3 = _sb3_params(A2C, "Pendulum-v1", 8, 1600, {"gamma": 0.9}, ent_coef=0.0,
                      max_grad_norm=0.5, n_steps=8, gae_lambda=0.9, vf_coef=0.4, gamma=0.9,
                      use_rms_prop=True, normalize_advantage=False,
                      learning_rate=SimpleLinearSchedule(7e-4), use_sde=True,
                      policy_kwargs=dict(log_std_init=-2, ortho_init=False))
    _assert_identical(hlynr, sb3)


def test_td3_pendulum_action_noise(tmp_path: Path) -> None:
    hlynr = _hlynr_params("td3.yml", "Pendulum-v1", tmp_path,
                          ["total_timesteps=400", "algo.hyperparams.learning_starts=200"])
    sb3 = _sb3_params(TD3, "Pendulum-v1", 1, 400, None, gamma=0.98, buffer_size=200000,
                      learning_starts=200, gradient_steps=1, train_freq=1, learning_rate=1e-3,
                      action_noise=NormalActionNoise(np.zeros(1), 0.1 * np.ones(1)),
                      policy_kwargs=dict(net_arch=[400, 300]))
    _assert_identical(hlynr, sb3)


@pytest.mark.slow
def test_dqn_and_sac_entries(tmp_path: Path) -> None:
    hlynr = _hlynr_params("dqn.yml", "CartPole-v1", tmp_path / "dqn", ["total_timesteps=1536"])
    sb3 = _sb3_params(DQN, "CartPole-v1", 1, 1536, None, learning_rate=0.0023, batch_size=64,
                      buffer_size=100000, learning_starts=1000, gamma=0.99,
                      target_update_interval=10, train_freq=256, gradient_steps=128,
                      exploration_fraction=0.16, exploration_final_eps=0.04,
                      policy_kwargs=dict(net_arch=[256, 256]))
    _assert_identical(hlynr, sb3)
    hlynr = _hlynr_params("sac.yml", "MountainCarContinuous-v0", tmp_path / "sac",
                          ["total_timesteps=256"])
    sb3 = _sb3_params(SAC, "MountainCarContinuous-v0", 1, 256, None, learning_rate=3e-4,
                      buffer_size=50000, batch_size=512, ent_coef=0.1, train_freq=32,
                      gradient_steps=32, gamma=0.9999, tau=0.01, learning_starts=0, use_sde=True,
                      policy_kwargs=dict(log_std_init=-3.67, net_arch=[64, 64], use_expln=True))
    _assert_identical(hlynr, sb3)
