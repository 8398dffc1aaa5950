"""Save/load (including across hlynr and sb3-contrib) and the ``predict`` LSTM-state contract."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import sb3_contrib
import torch as th
from sb3_contrib.common.recurrent.policies import RecurrentActorCriticPolicy
from stable_baselines3.common.env_util import make_vec_env

from hlynr.algos.recurrent_ppo import FastRecurrentActorCriticPolicy, RecurrentPPO

th.set_num_threads(1)

KWARGS = dict(
    n_steps=16,
    batch_size=16,
    n_epochs=1,
    policy_kwargs=dict(lstm_hidden_size=8, net_arch=[8]),
    device="cpu",
)


def make_env(seed: int = 0):
    """Two Pendulum envs with 20-step episodes."""
    return make_vec_env("Pendulum-v1", n_envs=2, seed=seed, env_kwargs={"max_episode_steps": 20})


@pytest.fixture(scope="module")
def trained() -> RecurrentPPO:
    """A hlynr RecurrentPPO after a few updates."""
    model = RecurrentPPO("MlpLstmPolicy", make_env(), seed=0, **KWARGS)
    return model.learn(96)


def same_parameters(a, b) -> bool:
    """All policy tensors (parameters and buffers) equal bit for bit."""
    sa, sb = a.policy.state_dict(), b.policy.state_dict()
    return sa.keys() == sb.keys() and all(th.equal(sa[k], sb[k]) for k in sa)


def rollout_predictions(model, n: int = 30, seed: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic actions and final hidden states over ``n`` steps, carrying the state."""
    env = make_env(seed)
    obs = env.reset()
    state, starts, actions = None, np.ones(env.num_envs, dtype=bool), []
    for _ in range(n):
        action, state = model.predict(obs, state=state, episode_start=starts, deterministic=True)
        obs, _, starts, _ = env.step(action)
        actions.append(action)
    return np.array(actions), np.concatenate(state)


def test_save_load_round_trip(trained: RecurrentPPO, tmp_path: Path) -> None:
    path = tmp_path / "model.zip"
    trained.save(path)
    loaded = RecurrentPPO.load(path, device="cpu")
    assert type(loaded.policy) is FastRecurrentActorCriticPolicy
    assert same_parameters(trained, loaded)
    assert loaded.num_timesteps == trained.num_timesteps
    for a, b in zip(rollout_predictions(trained), rollout_predictions(loaded), strict=True):
        np.testing.assert_array_equal(a, b)
    # saving did not leave the sb3-contrib class behind on the live model
    assert trained.policy_class is FastRecurrentActorCriticPolicy


def test_hlynr_model_loads_in_sb3_contrib(trained: RecurrentPPO, tmp_path: Path) -> None:
    path = tmp_path / "hlynr.zip"
    trained.save(path)
    ref = sb3_contrib.RecurrentPPO.load(path, device="cpu")
    assert type(ref.policy) is RecurrentActorCriticPolicy  # the zip names sb3-contrib's class
    assert same_parameters(trained, ref)
    for a, b in zip(rollout_predictions(trained), rollout_predictions(ref), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_sb3_contrib_model_loads_in_hlynr_and_trains_on_identically(tmp_path: Path) -> None:
    path = tmp_path / "sb3.zip"
    sb3_contrib.RecurrentPPO("MlpLstmPolicy", make_env(), seed=0, **KWARGS).learn(32).save(path)
    ref = sb3_contrib.RecurrentPPO.load(path, env=make_env(1), device="cpu")
    fast = RecurrentPPO.load(path, env=make_env(1), device="cpu")
    assert type(fast.policy) is FastRecurrentActorCriticPolicy
    assert (
        fast.policy.optimizer.param_groups[0]["fused"] is True
    )  # survives the sb3 optimizer state
    assert same_parameters(ref, fast)
    for model in (ref, fast):
        model.set_random_seed(3)
        model.learn(96, reset_num_timesteps=False)
    for p, q in zip(ref.policy.parameters(), fast.policy.parameters(), strict=True):
        th.testing.assert_close(q, p, atol=1e-5, rtol=0.0)


def test_predict_carries_state_and_resets_it_at_episode_starts(trained: RecurrentPPO) -> None:
    rng = np.random.default_rng(0)
    obs = [rng.uniform(-1, 1, (2, 3)).astype(np.float32) for _ in range(6)]
    no_start = np.zeros(2, dtype=bool)

    # carry the state for 5 steps
    state = None
    for o in obs[:5]:
        _, new_state = trained.predict(o, state=state, episode_start=no_start, deterministic=True)
        if state is not None:
            assert not np.allclose(new_state[0], state[0])  # the state evolves
        state = new_state
    carried, _ = trained.predict(obs[5], state=state, episode_start=no_start, deterministic=True)
    fresh, _ = trained.predict(obs[5], state=None, episode_start=no_start, deterministic=True)
    assert not np.allclose(carried, fresh)  # the carried state matters

    # episode start for env 0 only: env 0 acts as from a zero state, env 1 keeps its memory
    reset_0, reset_state = trained.predict(
        obs[5], state=state, episode_start=np.array([True, False]), deterministic=True
    )
    np.testing.assert_array_equal(reset_0[0], fresh[0])
    np.testing.assert_array_equal(reset_0[1], carried[1])
    zero_state = trained.predict(obs[5][:1], state=None, deterministic=True)[1]
    np.testing.assert_array_equal(reset_state[0][:, :1], zero_state[0])

    # same answers as sb3-contrib's policy with the same weights, step by step
    ref = RecurrentActorCriticPolicy(
        trained.observation_space, trained.action_space, lambda _: 0.0, **KWARGS["policy_kwargs"]
    )
    ref.load_state_dict(trained.policy.state_dict())
    s_fast = s_ref = None
    for i, o in enumerate(obs):
        start = np.array([i == 3, False])
        a_fast, s_fast = trained.predict(o, state=s_fast, episode_start=start, deterministic=True)
        a_ref, s_ref = ref.predict(o, state=s_ref, episode_start=start, deterministic=True)
        np.testing.assert_allclose(a_fast, a_ref, atol=1e-6)
        np.testing.assert_allclose(s_fast[1], s_ref[1], atol=1e-6)
    assert trained.n_sequence_fallbacks == 0


def test_evaluation_carries_lstm_state_and_resets_at_episode_starts(trained: RecurrentPPO) -> None:
    """hlynr's evaluation loop feeds back the returned state and flags episode starts."""
    from hlynr.evaluation.episodes import run_episodes

    calls: list[tuple] = []
    returned: list[tuple] = []

    class Spy:
        def predict(self, obs, state=None, episode_start=None, deterministic=False):
            calls.append((state, np.array(episode_start, dtype=bool)))
            action, new_state = trained.predict(obs, state, episode_start, deterministic)
            returned.append(new_state)
            return action, new_state

    summary = run_episodes(Spy(), make_env(), n_episodes=2, seed=0)
    assert len(summary.episodes) == 2 and len(calls) >= 20  # 20-step episodes
    assert calls[0][0] is None and calls[0][1].all()  # fresh state, every env starting
    for (state, _), previous in zip(calls[1:], returned, strict=False):
        assert state is previous  # the state returned by one step is passed to the next
    assert not any(start.any() for _, start in calls[1:20])  # no reset inside the episode
