"""hlynr's PPO against SB3's: one ``train()`` from the same weights and rollout, files both ways, names."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import stable_baselines3
import torch as th
from gymnasium import spaces
from hlynr_testing import REPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.logger import configure

from hlynr.algos.ppo import PPO
from hlynr.algos.ppo.ppo import FAST_STATE

th.set_num_threads(1)

LOGGED = ("train/entropy_loss", "train/policy_gradient_loss", "train/value_loss", "train/approx_kl",
          "train/clip_fraction", "train/loss", "train/explained_variance", "train/n_updates")


class _NoCallback(BaseCallback):
    def _on_step(self) -> bool:
        return True


class DictObs(gym.ObservationWrapper):
    """Pendulum's observation as a dict of two vectors (for ``MultiInputPolicy``)."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.observation_space = spaces.Dict({"xy": spaces.Box(-1, 1, (2,)), "speed": spaces.Box(-8, 8, (1,))})

    def observation(self, observation: np.ndarray) -> dict[str, np.ndarray]:
        return {"xy": observation[:2], "speed": observation[2:]}


def pair(env_id: str, prepare: Any = None, policy: str = "MlpPolicy", **kwargs: Any) -> tuple[Any, Any]:
    """SB3's and hlynr's PPO with equal weights, after one rollout (SB3's, copied to hlynr's) and one ``train()``.

    Both ``train()`` calls start from the same NumPy and torch random states; ``prepare(model)``
    runs on each model before its ``train()``.
    """
    wrapper = DictObs if policy == "MultiInputPolicy" else None
    env = make_vec_env(env_id, n_envs=2, seed=0, env_kwargs={"max_episode_steps": 50}, wrapper_class=wrapper)
    kwargs = {"n_steps": 64, "seed": 0, "device": "cpu", **kwargs}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "You have specified a mini-batch size")  # SB3's note, wanted here
        ref = stable_baselines3.PPO(policy, env, **copy.deepcopy(kwargs))
        ours = PPO(policy, env, **copy.deepcopy(kwargs))
    ours.policy.load_state_dict(ref.policy.state_dict())
    ref._setup_learn(128, None)
    callback = _NoCallback()
    callback.init_callback(ref)
    ref.collect_rollouts(ref.env, callback, ref.rollout_buffer, n_rollout_steps=ref.n_steps)
    ours.rollout_buffer = copy.deepcopy(ref.rollout_buffer)
    ours._current_progress_remaining = ref._current_progress_remaining
    for model in (ref, ours):
        model.set_logger(configure(None, []))
        if prepare is not None:
            prepare(model)
        np.random.seed(7)
        th.manual_seed(7)
        model.train()
        model.rng_after = np.random.get_state()[1].copy()
    return ref, ours


def assert_same_update(ref: Any, ours: Any) -> None:
    for (name, p), q in zip(ref.policy.named_parameters(), ours.policy.parameters(), strict=True):
        th.testing.assert_close(q, p, rtol=1e-5, atol=1e-6, msg=name)
        assert q.grad is not None
        th.testing.assert_close(q.grad, p.grad, rtol=1e-4, atol=1e-6, msg=f"{name}'s clipped gradient")
    for key in LOGGED:
        assert ours.logger.name_to_value[key] == pytest.approx(ref.logger.name_to_value[key], rel=1e-5, abs=1e-6), key
    steps = [float(s["step"]) for s in ref.policy.optimizer.state_dict()["state"].values()]
    assert steps == [float(s["step"]) for s in ours.policy.optimizer.state_dict()["state"].values()]
    opt_ref, opt_ours = ref.policy.optimizer.state_dict()["state"], ours.policy.optimizer.state_dict()["state"]
    for i, state in opt_ref.items():  # Adam's moments (or another optimizer's state)
        for key, value in state.items():
            th.testing.assert_close(opt_ours[i][key], value, rtol=1e-4, atol=1e-9)
    assert np.array_equal(ref.rng_after, ours.rng_after)  # the same permutations were drawn
    assert getattr(ours, FAST_STATE) is not None


CASES = {
    # large steps, so ratios leave the clip range and the gradient norm is clipped
    "box": ("Pendulum-v1", dict(batch_size=32, n_epochs=4, learning_rate=3e-3)),
    "box_raw_advantages_vf_clip": ("Pendulum-v1", dict(batch_size=32, n_epochs=4, learning_rate=3e-3,
                                                       normalize_advantage=False, clip_range_vf=0.2)),
    "discrete": ("CartPole-v1", dict(batch_size=32, n_epochs=4, learning_rate=3e-3, ent_coef=0.01)),
    # actor and critic MLPs of different shapes (not stacked), ReLU, a last minibatch of 32 rows
    "box_separate_mlps": ("Pendulum-v1", dict(batch_size=48, n_epochs=3, learning_rate=1e-3, ent_coef=0.01,
                                              policy_kwargs={"net_arch": {"pi": [32], "vf": [64, 64]},
                                                             "activation_fn": th.nn.ReLU})),
    # another optimizer: stepped through optimizer.step() with each .grad a view of the flat gradient
    "box_rmsprop": ("Pendulum-v1", dict(batch_size=32, n_epochs=2, learning_rate=1e-3,
                                        policy_kwargs={"optimizer_class": th.optim.RMSprop})),
    "discrete_separate_extractors": ("CartPole-v1", dict(batch_size=64, n_epochs=2, learning_rate=1e-3,
                                                         policy_kwargs={"share_features_extractor": False})),
}


@pytest.mark.parametrize("case", list(CASES))
def test_one_train_call_equals_sb3s(case: str) -> None:
    env_id, kwargs = CASES[case]
    ref, ours = pair(env_id, **kwargs)
    assert_same_update(ref, ours)
    if case in ("box", "discrete"):
        assert ref.logger.name_to_value["train/clip_fraction"] > 0  # clipping took part
    if case == "box":  # and the gradient was clipped: SB3's clipped gradient has norm max_grad_norm
        norm = th.linalg.vector_norm(th.cat([p.grad.reshape(-1) for p in ref.policy.parameters()]))
        assert float(norm) == pytest.approx(ref.max_grad_norm, rel=1e-4)


def test_target_kl_stops_at_the_same_minibatch() -> None:
    ref, ours = pair("Pendulum-v1", batch_size=32, n_epochs=10, learning_rate=3e-3, target_kl=0.002)
    assert_same_update(ref, ours)
    assert ref.logger.name_to_value["train/n_updates"] < 10  # stopped early, in the same epoch
    steps = float(next(iter(ref.policy.optimizer.state_dict()["state"].values()))["step"])
    assert steps % 4 != 0  # within an epoch (4 minibatches each), so the same minibatch


def test_dict_observations_equal_sb3s() -> None:
    ref, ours = pair("Pendulum-v1", policy="MultiInputPolicy", batch_size=32, n_epochs=3, learning_rate=3e-3)
    assert_same_update(ref, ours)


def test_optimizer_step_hooks_run_on_sb3s_clipped_gradients() -> None:
    """A hook such as the fine-tuning regulariser's adds its own gradient before each step."""
    def prepare(model: Any) -> None:
        def pull_to_zero(optimizer: th.optim.Optimizer, args: Any, kwargs: Any) -> None:
            for p in model.policy.parameters():
                p.grad.add_(p.detach(), alpha=0.1)
        model.policy.optimizer.register_step_pre_hook(pull_to_zero)

    ref, ours = pair("Pendulum-v1", prepare, batch_size=32, n_epochs=2, learning_rate=1e-3)
    assert_same_update(ref, ours)
    plain, _ = pair("Pendulum-v1", batch_size=32, n_epochs=2, learning_rate=1e-3)
    assert not th.allclose(plain.policy.action_net.weight, ref.policy.action_net.weight)  # the hook did act


def test_unsupported_policies_run_sb3s_update_bit_for_bit() -> None:
    with pytest.warns(UserWarning, match="gSDE"):
        ref, ours = pair("Pendulum-v1", batch_size=32, n_epochs=2, use_sde=True)
    assert getattr(ours, FAST_STATE) is None
    for p, q in zip(ref.policy.parameters(), ours.policy.parameters(), strict=True):
        assert th.equal(p, q)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours.train()  # warned once


def test_learn_reproduces_and_a_loaded_model_trains_on_like_sb3s(tmp_path: Path) -> None:
    def run() -> PPO:
        env = make_vec_env("CartPole-v1", n_envs=2, seed=1)
        return PPO("MlpPolicy", env, n_steps=32, batch_size=16, n_epochs=2, seed=1, device="cpu").learn(128)

    first, second = run(), run()
    for p, q in zip(first.policy.parameters(), second.policy.parameters(), strict=True):
        assert th.equal(p, q)
    first.save(tmp_path / "m.zip")
    loaded = PPO.load(tmp_path / "m.zip", env=make_vec_env("CartPole-v1", n_envs=2, seed=2), device="cpu")
    reference = stable_baselines3.PPO.load(tmp_path / "m.zip", env=make_vec_env("CartPole-v1", n_envs=2, seed=2),
                                           device="cpu")
    for model in (loaded, reference):  # the loaded Adam state carries on, in both
        model.set_random_seed(3)
        model.learn(64, reset_num_timesteps=False)
    for p, q in zip(reference.policy.parameters(), loaded.policy.parameters(), strict=True):
        th.testing.assert_close(q, p, rtol=1e-4, atol=1e-5)
    assert getattr(loaded, FAST_STATE) is not None


OBS = np.random.default_rng(0).uniform(-1, 1, (5, 3)).astype(np.float32)
ENV = {**os.environ, "PYTHONPATH": f"{REPO / 'tests'}{os.pathsep}{REPO}", "OMP_NUM_THREADS": "1"}
LOAD_AND_PREDICT = """
import json, sys, numpy as np, importlib
module, path = sys.argv[1:3]
model = importlib.import_module(module).PPO.load(path, device="cpu")
obs = np.array(json.loads(sys.argv[3]), dtype=np.float32)
actions, _ = model.predict(obs, deterministic=True)
print(json.dumps({"policy": type(model.policy).__module__, "class": type(model).__module__,
                  "actions": actions.tolist(), "timesteps": int(model.num_timesteps)}))
"""


def in_fresh_process(*args: str) -> Any:
    """``LOAD_AND_PREDICT`` in a new interpreter (nothing of this process loaded); its output as JSON."""
    res = subprocess.run([sys.executable, "-c", LOAD_AND_PREDICT, *args], env=ENV, cwd=REPO,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(("saver", "loader"), [(PPO, "stable_baselines3"), (stable_baselines3.PPO, "hlynr.algos.ppo")],
                         ids=["hlynr_file_in_sb3", "sb3_file_in_hlynr"])
def test_saved_files_load_and_predict_in_the_other_in_a_fresh_process(saver: type, loader: str, tmp_path: Path) -> None:
    env = make_vec_env("Pendulum-v1", n_envs=1, seed=0)
    model = saver("MlpPolicy", env, n_steps=32, batch_size=16, n_epochs=1, seed=0, device="cpu").learn(64)
    model.save(tmp_path / "m.zip")
    out = in_fresh_process(loader, str(tmp_path / "m.zip"), json.dumps(OBS.tolist()))
    assert out["policy"].startswith("stable_baselines3")  # SB3's own policy class either way
    assert out["class"].startswith(loader) and out["timesteps"] == 64
    expected, _ = model.predict(OBS, deterministic=True)
    np.testing.assert_allclose(np.array(out["actions"]), expected, rtol=1e-6, atol=1e-7)


def test_names_select_hlynr_or_the_original_and_the_zoo_keeps_the_original() -> None:
    from hlynr.registries import ALGORITHMS
    from hlynr.zoo import ZOO_ALGOS

    assert ALGORITHMS.get("PPO").load() is PPO
    assert ALGORITHMS.get("stable_baselines3.PPO").load() is stable_baselines3.PPO
    assert issubclass(PPO, stable_baselines3.PPO)
    assert ZOO_ALGOS["ppo"] == "stable_baselines3.PPO"
