"""hlynr's SAC, TD3 and TQC compute what SB3's and sb3-contrib's compute, only faster.

Each test builds the original and hlynr's model with the same weights and the same replay buffer,
seeds NumPy and torch identically, calls ``train()`` on both and compares the logged losses, every
parameter, every optimizer state and where the random streams end.
"""

from __future__ import annotations

import copy
import warnings
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import sb3_contrib
import stable_baselines3
import torch as th
from gymnasium import spaces
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.logger import configure
from stable_baselines3.common.vec_env import VecNormalize

from hlynr.algos.offpolicy import SAC, TD3, TQC
from hlynr.algos.offpolicy.base import fast_nets

th.set_num_threads(1)


@pytest.fixture(autouse=True)
def _eager_tqc(monkeypatch: pytest.MonkeyPatch) -> None:
    """TQC's quantile loss runs eagerly here (compiling it takes a while; tested on its own)."""
    monkeypatch.setattr(TQC, "compile_critic_loss", False)

PAIRS = {"SAC": (stable_baselines3.SAC, SAC), "TD3": (stable_baselines3.TD3, TD3),
         "TQC": (sb3_contrib.TQC, TQC)}
RTOL, ATOL = 1e-5, 1e-6


class DictObs(gym.ObservationWrapper):
    """Pendulum with its observation split into a dict of two vectors."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.observation_space = spaces.Dict({"xy": spaces.Box(-1.0, 1.0, (2,), np.float32),
                                              "w": spaces.Box(-8.0, 8.0, (1,), np.float32)})

    def observation(self, observation: np.ndarray) -> dict[str, np.ndarray]:
        return {"xy": observation[:2], "w": observation[2:]}


def build(cls: type, n_envs: int = 1, normalize: bool = False, dict_obs: bool = False,
          **kwargs: Any) -> Any:
    env = make_vec_env("Pendulum-v1", n_envs=n_envs, seed=0, env_kwargs={"max_episode_steps": 50},
                       wrapper_class=DictObs if dict_obs else None)
    if normalize:
        env = VecNormalize(env)
    kwargs.setdefault("policy_kwargs", {"net_arch": [16, 16]})
    kwargs.setdefault("learning_starts", 10_000)
    model = cls("MultiInputPolicy" if dict_obs else "MlpPolicy", env, seed=0, device="cpu", **kwargs)
    model.set_logger(configure(None, []))
    return model


def pair(name: str, steps: int = 200, **kwargs: Any) -> tuple[Any, Any]:
    """The original after ``steps`` random steps, and hlynr's with its weights and replay buffer."""
    ref_cls, fast_cls = PAIRS[name]
    ref = build(ref_cls, **kwargs).learn(steps)
    fast = build(fast_cls, **kwargs)
    fast.policy.load_state_dict(ref.policy.state_dict())
    fast.replay_buffer = copy.deepcopy(ref.replay_buffer)
    fast._vec_normalize_env = ref._vec_normalize_env
    return ref, fast


def train_seeded(model: Any, gradient_steps: int, batch_size: int, seed: int = 7) -> dict[str, float]:
    np.random.seed(seed)
    th.manual_seed(seed)
    model.train(gradient_steps=gradient_steps, batch_size=batch_size)
    logged = dict(model.logger.name_to_value)
    model.logger.name_to_value.clear()
    return logged


def optimizers(model: Any) -> list[th.optim.Optimizer]:
    found = [model.actor.optimizer, model.critic.optimizer]
    return [*found, model.ent_coef_optimizer] if getattr(model, "ent_coef_optimizer", None) else found


def assert_same_models(ref: Any, fast: Any, rtol: float = RTOL, atol: float = ATOL) -> None:
    ref_state, fast_state = ref.policy.state_dict(), fast.policy.state_dict()
    assert ref_state.keys() == fast_state.keys()
    for key in ref_state:
        th.testing.assert_close(fast_state[key], ref_state[key], rtol=rtol, atol=atol, msg=key)
    for opt_ref, opt_fast in zip(optimizers(ref), optimizers(fast), strict=True):
        s_ref, s_fast = opt_ref.state_dict()["state"], opt_fast.state_dict()["state"]
        assert s_ref.keys() == s_fast.keys()
        for i in s_ref:
            assert float(s_fast[i]["step"]) == float(s_ref[i]["step"])
            for k in ("exp_avg", "exp_avg_sq"):
                th.testing.assert_close(s_fast[i][k], s_ref[i][k], rtol=rtol, atol=atol)
    if hasattr(ref, "log_ent_coef"):
        th.testing.assert_close(fast.log_ent_coef, ref.log_ent_coef, rtol=rtol, atol=atol)


def assert_same_training(ref: Any, fast: Any, gradient_steps: int, batch_size: int = 32) -> None:
    logged_ref = train_seeded(ref, gradient_steps, batch_size)
    np_ref, th_ref = np.random.get_state()[1].copy(), th.get_rng_state()
    logged_fast = train_seeded(fast, gradient_steps, batch_size)
    assert fast_nets(fast) is not None  # the fast update ran
    assert logged_fast.keys() == logged_ref.keys()
    for key, value in logged_ref.items():
        assert logged_fast[key] == pytest.approx(value, rel=RTOL, abs=ATOL), key
    assert np.array_equal(np.random.get_state()[1], np_ref)  # the same draws from NumPy...
    assert th.equal(th.get_rng_state(), th_ref)  # ...and from torch
    assert_same_models(ref, fast)


@pytest.mark.parametrize("gradient_steps", [1, 3])
@pytest.mark.parametrize("name", list(PAIRS))
def test_one_train_call_equals_the_original(name: str, gradient_steps: int) -> None:
    kwargs: dict[str, Any] = {"policy_delay": 2} if name == "TD3" else {}
    ref, fast = pair(name, **kwargs)
    assert_same_training(ref, fast, gradient_steps)
    assert_same_training(ref, fast, gradient_steps)  # a second call continues from equal states


@pytest.mark.parametrize("variant", [
    {"n_envs": 2},  # the env index draws
    {"normalize": True},  # VecNormalize statistics applied at sampling
    {"optimize_memory_usage": True, "replay_buffer_kwargs": {"handle_timeout_termination": False}},
    {"dict_obs": True},  # MultiInputPolicy, DictReplayBuffer
    {"ent_coef": 0.05, "target_update_interval": 2},
    {"policy_kwargs": {"net_arch": [8], "activation_fn": th.nn.Tanh, "n_critics": 3}},
], ids=["n_envs", "vecnormalize", "memory", "dict", "fixed_ent_coef", "tanh_3_critics"])
def test_sac_variants_equal_the_original(variant: dict[str, Any]) -> None:
    ref, fast = pair("SAC", steps=120, **variant)
    assert_same_training(ref, fast, gradient_steps=3)


def test_tqc_with_more_critics_and_dropped_quantiles() -> None:
    ref, fast = pair("TQC", top_quantiles_to_drop_per_net=5,
                     policy_kwargs={"net_arch": [8], "n_critics": 3, "n_quantiles": 10})
    assert_same_training(ref, fast, gradient_steps=2)


def test_td3_with_two_envs_and_n_critics_one() -> None:
    ref, fast = pair("TD3", n_envs=2, policy_kwargs={"net_arch": [8], "n_critics": 1})
    assert_same_training(ref, fast, gradient_steps=2)


@pytest.mark.parametrize("name", list(PAIRS))
def test_short_learning_runs_stay_together(name: str) -> None:
    """Whole ``learn()`` calls (collection and 60 updates) from one seed: same weights, to rounding."""
    ref_cls, fast_cls = PAIRS[name]
    models = [build(cls, learning_starts=40, batch_size=32).learn(100) for cls in (ref_cls, fast_cls)]
    assert_same_models(*models, rtol=1e-4, atol=1e-5)


def test_unsupported_networks_warn_once_and_run_the_original_update() -> None:
    ref, fast = pair("SAC", use_sde=True)
    with pytest.warns(UserWarning, match="gSDE"):
        logged_fast = train_seeded(fast, 2, 32)
    logged_ref = train_seeded(ref, 2, 32)
    assert logged_fast == logged_ref
    for p, q in zip(ref.policy.parameters(), fast.policy.parameters(), strict=True):
        assert th.equal(p, q)  # SB3's own update: bit for bit
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        train_seeded(fast, 1, 32)  # warned once only


def test_stale_parameters_are_rebound() -> None:
    """Parameters moved (``.to()``, a new tensor) after an update are picked up by the next one."""
    ref, fast = pair("SAC")
    assert_same_training(ref, fast, 1)
    for module in (fast.policy, ref.policy):
        with th.no_grad():
            module.actor.mu.weight.data = module.actor.mu.weight.data.clone() * 0.5
    assert_same_training(ref, fast, 2)
