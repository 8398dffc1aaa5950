"""HerReplayBuffer from a config (and from a Zoo file) on a goal-conditioned dict env."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from stable_baselines3 import SAC, HerReplayBuffer
from stable_baselines3.common.env_util import make_vec_env

from hlynr.algos.builder import BuildError, build_model, load_model
from hlynr.config import ConfigError, validate_config
from hlynr.envs.factory import build_vec_env
from hlynr.training.runner import start_run
from hlynr.zoo import load_zoo

GOAL_ENV = "zoo_usercode:HlynrTest/GoalLine-v0"
HER = {"replay_buffer_class": "HerReplayBuffer",
       "replay_buffer_kwargs": {"n_sampled_goal": 2, "goal_selection_strategy": "future"},
       "learning_starts": 40, "buffer_size": 1000, "batch_size": 32}


def _zoo_file(tmp_path: Path) -> Path:
    path = tmp_path / "sac.yml"
    path.write_text("""
HlynrTest/GoalLine-v0:
  n_timesteps: 120
  policy: 'MultiInputPolicy'
  buffer_size: 1000
  batch_size: 32
  learning_starts: 40
  replay_buffer_class: HerReplayBuffer
  replay_buffer_kwargs: "dict( goal_selection_strategy='future', n_sampled_goal=2 )"
  policy_kwargs: "dict(net_arch=[16, 16])"
""")
    return path


def test_zoo_her_entry_trains_what_plain_sb3_trains(tmp_path: Path) -> None:
    loaded = load_zoo(_zoo_file(tmp_path), "HlynrTest/GoalLine-v0",
                      overrides=[f"env.id={GOAL_ENV}"])
    assert loaded.config.algo.hyperparams["replay_buffer_kwargs"] == {
        "goal_selection_strategy": "future", "n_sampled_goal": 2}
    result = start_run(loaded.config, runs_dir=tmp_path / "runs")
    hlynr = load_model(loaded.config, result.run_dir / "final" / "model.zip",
                       build_vec_env(loaded.config))  # HER loads with its env
    venv = make_vec_env(GOAL_ENV, n_envs=1, seed=0)
    plain = SAC("MultiInputPolicy", venv, seed=0, buffer_size=1000, batch_size=32,
                learning_starts=40, replay_buffer_class=HerReplayBuffer,
                replay_buffer_kwargs=dict(goal_selection_strategy="future", n_sampled_goal=2),
                policy_kwargs=dict(net_arch=[16, 16]))
    plain.learn(120)
    a, b = hlynr.policy.state_dict(), plain.policy.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_her_buffer_relabels_goals() -> None:
    config = validate_config({"name": "her", "total_timesteps": 100, "env": {"id": GOAL_ENV},
                              "algo": {"name": "SAC", "policy": "MultiInputPolicy",
                                       "hyperparams": HER}})
    model = build_model(config, build_vec_env(config))
    assert isinstance(model.replay_buffer, HerReplayBuffer)
    assert model.replay_buffer.n_sampled_goal == 2
    model.learn(60)
    batch = model.replay_buffer.sample(256)
    relabelled = (batch.observations["desired_goal"] != batch.next_observations["desired_goal"])
    assert not relabelled.any()  # goals are relabelled consistently in obs and next obs
    # future-strategy relabelling makes some goals reached: reward 0 appears although the random
    # policy almost never reaches its sampled goal
    assert (batch.rewards == 0).float().mean() > 0.05


def test_her_needs_a_goal_env_and_a_dict_policy() -> None:
    with pytest.raises(ConfigError, match="use policy MultiInputPolicy"):
        validate_config({"name": "her", "total_timesteps": 100, "env": {"id": GOAL_ENV},
                         "algo": {"name": "SAC", "hyperparams": HER}})
    with pytest.raises(ConfigError, match="replay_buffer_kwargs.n_sampled_goals: unknown key"):
        validate_config({"name": "her", "total_timesteps": 100, "env": {"id": GOAL_ENV},
                         "algo": {"name": "SAC", "policy": "MultiInputPolicy",
                                  "hyperparams": {**HER, "replay_buffer_kwargs": {
                                      "n_sampled_goals": 4}}}})
    config = validate_config({"name": "her", "total_timesteps": 100, "env": {"id": "Pendulum-v1"},
                              "algo": {"name": "SAC", "policy": "MultiInputPolicy",
                                       "hyperparams": HER}})
    with pytest.raises(BuildError, match="needs a goal-conditioned env"):
        build_model(config, build_vec_env(config))
