"""Cloning mechanics: recurrent sequences, DAgger labels, masked rows, every policy family."""

from __future__ import annotations

from types import SimpleNamespace

import gymnasium as gym
import imitation_testing as it
import numpy as np
import pytest
import torch as th
from stable_baselines3 import A2C, PPO, SAC, TD3
from stable_baselines3.common.vec_env import DummyVecEnv

from hlynr.algos.recurrent_ppo import RecurrentPPO
from hlynr.config import validate_config
from hlynr.envs.factory import build_vec_env
from hlynr.imitation.actor import ActorView
from hlynr.imitation.clone import BatchSource, fit
from hlynr.imitation.collect import collect_round
from hlynr.imitation.dataset import Dataset, Round


def _venv(n: int = 3) -> DummyVecEnv:
    venv = DummyVecEnv([lambda: it.FollowEnv(horizon=6) for _ in range(n)])
    venv.seed(0)
    return venv


def _settings(**over) -> SimpleNamespace:
    base = dict(validation_fraction=0.0, epochs=1, batch_size=64, learning_rate=1e-3, loss="nll",
                entropy_weight=0.0, patience=3)
    return SimpleNamespace(**{**base, **over})


@pytest.mark.parametrize("rnn_type", ["lstm", "gru"])
def test_recurrent_cloning_equals_a_step_by_step_reference(rnn_type: str) -> None:
    model = RecurrentPPO("MlpLstmPolicy", _venv(), n_steps=8, batch_size=8, seed=0,
                         policy_kwargs={"lstm_hidden_size": 8, "net_arch": [8],
                                        "rnn_type": rnn_type})
    rng = np.random.default_rng(1)
    T, N = 12, 3
    obs = rng.uniform(-1, 1, (T, N, 4)).astype(np.float32)
    labels = rng.uniform(-1, 1, (T, N, 1)).astype(np.float32)
    starts = np.zeros((T, N), bool)
    starts[0] = True
    starts[5, 1] = starts[9, 1] = starts[3, 2] = True
    ds = Dataset([Round(obs, labels, starts, np.ones((T, N), bool))])
    view = ActorView(model)
    source = BatchSource(view, ds, lambda o: o)
    (batch,) = list(source.batches(np.arange(len(source)), batch_size=10_000))
    per, _, _ = view.evaluate(batch.obs, batch.target, "nll", 0.0, batch.starts, batch.n_seq)
    # reference: the inference path, one step at a time with state resets at episode starts
    policy = model.policy
    h = th.zeros(1, N, 8)
    state = (h, h.clone())
    ref = np.zeros((T, N))
    with th.no_grad():
        for t in range(T):
            dist, state = policy.get_distribution(th.as_tensor(obs[t]), state,
                                                  th.as_tensor(starts[t], dtype=th.float32))
            ref[t] = dist.log_prob(th.as_tensor(labels[t])).numpy()
    length = int(batch.mask.numel() // batch.n_seq)
    got = -per.detach().numpy().reshape(batch.n_seq, length)
    assert len(source.units) == 6  # 3 rows + 3 episode starts inside the round
    for j, (_, row, a, b) in enumerate(source.units):
        np.testing.assert_allclose(got[j, : b - a], ref[a:b, row], rtol=1e-5, atol=1e-5)
        assert batch.mask.reshape(batch.n_seq, length)[j, b - a:].sum() == 0


def test_dagger_labels_come_from_the_teacher_on_the_states_the_student_visited() -> None:
    cfg = validate_config(it.follow_config())
    venv = build_vec_env(cfg, observation_tap=True)
    student = PPO("MlpPolicy", venv, seed=0, policy_kwargs={"net_arch": [8]})
    teacher = it.FollowTeacher(venv.observation_space, venv.action_space, it.FollowParams())
    for prob in (1.0, 0.0):
        r = collect_round(venv, teacher, student, 20, prob, np.random.default_rng(0))
        np.testing.assert_allclose(r.actions, it.teacher_law(r.obs.reshape(-1, 4), 1.0)
                                   .reshape(r.actions.shape), atol=1e-6)
        for t in range(1, 20):
            keep = ~r.starts[t]
            if prob == 1.0:
                driven, _ = student.predict(r.obs[t - 1], deterministic=True)
            else:
                driven = r.actions[t - 1]
            np.testing.assert_allclose(r.obs[t][keep, 3], np.clip(driven[keep, 0], -1, 1), atol=1e-6)
        if prob == 1.0:
            assert not np.allclose(r.obs[1:, :, 3], r.actions[:-1, :, 0], atol=0.05)
    venv.close()


@pytest.mark.parametrize("algo", ["PPO", "RecurrentPPO"])
def test_masked_rows_change_nothing(algo: str) -> None:
    rng = np.random.default_rng(2)
    T, N = 10, 4
    obs = rng.uniform(-1, 1, (T, N, 4)).astype(np.float32)
    labels = rng.uniform(-1, 1, (T, N, 1)).astype(np.float32)
    starts = np.zeros((T, N), bool)
    starts[0] = True
    mask = np.ones((T, N), bool)
    mask[4:, 2] = False  # an agent that died at step 4
    results = []
    for garbage in (5.0, -7.0):
        lab = labels.copy()
        lab[~mask] = garbage
        cls = RecurrentPPO if algo == "RecurrentPPO" else PPO
        kwargs = {"lstm_hidden_size": 8} if algo == "RecurrentPPO" else {}
        model = cls("MlpLstmPolicy" if algo == "RecurrentPPO" else "MlpPolicy", _venv(),
                    seed=0, n_steps=8, batch_size=8, policy_kwargs={"net_arch": [8], **kwargs})
        fit(ActorView(model), Dataset([Round(obs, lab, starts, mask)]), lambda o: o,
            _settings(epochs=3, batch_size=16), np.random.default_rng(0))
        results.append([p.detach().clone() for p in model.policy.parameters()])
    for a, b in zip(*results):
        assert th.equal(a, b)


def _teacher_round(n_steps: int = 400) -> Dataset:
    venv = _venv(4)
    obs = venv.reset()
    rec = []
    for _ in range(n_steps):
        act = it.teacher_law(obs, 1.0)
        rec.append((obs.copy(), act))
        obs, *_ = venv.step(act)
    o = np.stack([r[0] for r in rec])
    a = np.stack([r[1] for r in rec])
    starts = np.zeros(o.shape[:2], bool)
    starts[0] = True
    return Dataset([Round(o, a, starts, np.ones(o.shape[:2], bool))])


@pytest.mark.parametrize("algo,loss", [("A2C", "nll"), ("SAC", "nll"), ("TD3", "mse"),
                                       ("PPO", "nll")])
def test_every_feed_forward_family_clones_the_teacher(algo: str, loss: str) -> None:
    cls = {"A2C": A2C, "SAC": SAC, "TD3": TD3, "PPO": PPO}[algo]
    model = cls("MlpPolicy", _venv(), seed=0, policy_kwargs={"net_arch": [32, 32]})
    result = fit(ActorView(model), _teacher_round(), lambda o: o,
                 _settings(epochs=15, batch_size=128, learning_rate=3e-3, loss=loss,
                           validation_fraction=0.2), np.random.default_rng(0))
    assert result.last.agreement > 0.9, result.last
    if algo == "TD3":  # the target actor follows the cloned actor
        for p, q in zip(model.actor.parameters(), model.actor_target.parameters()):
            assert th.equal(p, q)
    # the deterministic action of the model itself agrees with the teacher
    obs = np.random.default_rng(5).uniform(-1, 1, (200, 4)).astype(np.float32)
    act, _ = model.predict(obs, deterministic=True)
    assert np.mean(np.abs(act - it.teacher_law(obs, 1.0)) < 0.15) > 0.85


class DictFollow(gym.Env):
    """The follow env with its cue and last action in two entries of a dict observation."""

    observation_space = gym.spaces.Dict({"cue": gym.spaces.Box(-1, 1, (3,), np.float32),
                                         "last": gym.spaces.Box(-1, 1, (1,), np.float32)})
    action_space = it.FollowEnv.action_space

    def reset(self, *, seed=None, options=None):
        return self.observation_space.sample(), {}

    def step(self, action):
        return self.observation_space.sample(), 0.0, False, False, {}


def test_dict_observations_clone() -> None:
    venv = DummyVecEnv([DictFollow])
    model = PPO("MultiInputPolicy", venv, seed=0, policy_kwargs={"net_arch": [32, 32]})
    flat = _teacher_round(300).rounds[0]
    obs = {"cue": flat.obs[..., :3], "last": flat.obs[..., 3:]}
    ds = Dataset([Round(obs, flat.actions, flat.starts, flat.mask)])
    result = fit(ActorView(model), ds, lambda o: o,
                 _settings(epochs=15, batch_size=128, learning_rate=3e-3, loss="mse",
                           validation_fraction=0.2), np.random.default_rng(0))
    assert result.last.agreement > 0.9


def test_dataset_round_trips_through_a_file(tmp_path) -> None:
    ds = _teacher_round(20)
    r = ds.rounds[0]
    ds.rounds.append(Round({"a": r.obs, "b": r.obs[..., :1]}, r.actions, r.starts, r.mask, 0.5))
    ds.save(tmp_path / "d.npz")
    back = Dataset.load(tmp_path / "d.npz")
    assert back.size == ds.size and back.rounds[1].student_prob == 0.5
    np.testing.assert_array_equal(back.rounds[1].obs["b"], r.obs[..., :1])
    np.testing.assert_array_equal(back.rounds[0].actions, r.actions)
