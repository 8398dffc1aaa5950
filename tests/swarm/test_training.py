"""Training through the adapter: reproducibility, wrappers, recurrent policies, curriculum, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pydantic import ValidationError
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import VecFrameStack, VecNormalize

from hlynr.envs.swarm import SwarmInterceptEnv, SwarmParams
from hlynr.multiagent import build_pettingzoo_vec_env

ID = "hlynr/Swarm-v0"
KW = {"stage": "basic", "max_agents": 3, "k_neighbours": 2, "max_steps": 40}


def _train(num_cpus: int) -> tuple[np.ndarray, list[float]]:
    venv = build_pettingzoo_vec_env(ID, KW, 2, num_cpus, None)
    try:
        model = PPO("MlpPolicy", venv, n_steps=32, batch_size=96, n_epochs=2, seed=7,
                    policy_kwargs={"net_arch": [16]}, device="cpu")
        model.learn(2 * 32 * venv.num_envs)
        params = torch.nn.utils.parameters_to_vector(model.policy.parameters()).detach().numpy()
        return params, [e["r"] for e in model.ep_info_buffer]
    finally:
        venv.close()


def test_seeded_training_is_reproducible_with_0_and_2_cpus() -> None:
    p0, r0 = _train(0)
    p0b, r0b = _train(0)
    p2, r2 = _train(2)
    np.testing.assert_array_equal(p0, p0b)
    np.testing.assert_array_equal(p0, p2)  # same seeds per copy whatever the worker layout
    assert r0 == r0b == r2 and len(r0) > 0


def test_frame_stack_normalize_and_recurrent_ppo() -> None:
    from sb3_contrib import RecurrentPPO

    venv = build_pettingzoo_vec_env(ID, KW, 2, 0, 0)
    venv = VecNormalize(VecFrameStack(venv, n_stack=3), norm_reward=False)
    assert venv.observation_space.shape == (3 * SwarmInterceptEnv(**KW).observation_space("x").shape[0],)
    assert venv.rows_per_episode == 3  # read through the VecEnv wrappers
    PPO("MlpPolicy", venv, n_steps=16, batch_size=48, n_epochs=1, seed=0).learn(16 * venv.num_envs)
    rec = RecurrentPPO("MlpLstmPolicy", build_pettingzoo_vec_env(ID, KW, 2, 0, 0), n_steps=16,
                       batch_size=48, n_epochs=1, seed=0, policy_kwargs={"lstm_hidden_size": 8})
    rec.learn(16 * 6)
    assert rec.num_timesteps == 96
    from hlynr.algos.recurrent_ppo import RecurrentPPO as HlynrRecurrentPPO

    own = HlynrRecurrentPPO("MlpLstmPolicy", build_pettingzoo_vec_env(ID, KW, 2, 2, 0), n_steps=16,
                            batch_size=48, n_epochs=1, seed=0, policy_kwargs={"lstm_hidden_size": 8})
    own.learn(16 * 6)
    assert own.num_timesteps == 96 and len(own.ep_info_buffer) == 0  # 16 steps < 40-step episodes
    own.env.close()


@pytest.mark.parametrize("num_cpus", [0, 2])
def test_curriculum_stage_change_keeps_spaces(num_cpus: int) -> None:
    base = build_pettingzoo_vec_env(ID, {"stage": "basic"}, 2, num_cpus, 3)
    venv = VecNormalize(base, norm_reward=False)
    try:
        shape, n = venv.observation_space.shape, venv.num_envs
        venv.reset()
        assert venv.rows_per_episode == 5
        assert not base.reset()[3:5].any()  # basic: 3 of 5 slots active
        venv.env_method("apply_params", stage="advanced")
        assert venv.get_attr("params")[0].target_speed == 500.0  # not before the next reset
        raw = base.reset()
        assert raw.shape == (n, *shape) and venv.observation_space.shape == shape
        assert base.action_space.shape == (2,)
        assert all(p.target_speed == 1700.0 and p.n_agents == 5 and p.evasion == "full"
                   for p in venv.get_attr("params"))
        assert np.abs(raw[3:5]).sum() > 0.0  # slots 4 and 5 now active
        with pytest.raises(ValueError, match="max_agents"):
            venv.env_method("apply_params", max_agents=8)
        with pytest.raises(ValueError, match="did you mean 'kill_radius'"):
            venv.env_method("apply_params", kill_radius_m=5.0)
        venv.env_method("apply_params", kill_radius=20.0)  # workers survived the errors
        base.reset()
        assert venv.get_attr("params", indices=[9])[0].kill_radius == 20.0
    finally:
        venv.close()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_agents": 6}, "n_agents=6 exceeds max_agents=5"),
        ({"target_sped": 900.0}, "did you mean 'target_speed'"),
        ({"stage": "expert"}, "unknown stage 'expert'"),
        ({"target_speed": -5.0}, "greater than 0"),
        ({"evasion": "sneaky"}, "'none', 'basic' or 'full'"),
        ({"k_neighbours": 5}, "k_neighbours=5 must be <= max_agents - 1 = 4"),
        ({"spawn_range": (200.0, 300.0)}, "outside the defended zone"),
    ],
)
def test_bad_params_fail_clearly(kwargs: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SwarmParams(**kwargs)
    with pytest.raises((ValidationError, ValueError), match=message):
        build_pettingzoo_vec_env(ID, kwargs, 1, 0, 0)


def test_builder_rejects_unknown_env_and_bad_counts() -> None:
    with pytest.raises(KeyError, match="did you mean 'hlynr/Swarm-v0'"):
        build_pettingzoo_vec_env("hlynr/Swarm-v1", {}, 1, 0, 0)
    with pytest.raises(ValueError, match="n_envs"):
        build_pettingzoo_vec_env(ID, {}, 0, 0, 0)
