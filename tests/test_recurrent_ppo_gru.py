"""The optional GRU cell (``policy_kwargs={"rnn_type": "gru"}``) of hlynr's RecurrentPPO."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from sb3_contrib.common.recurrent.type_aliases import RecurrentRolloutBufferSamples, RNNStates
from stable_baselines3.common.env_util import make_vec_env
from torch import nn

from hlynr.algos.recurrent_ppo import FastRecurrentActorCriticPolicy, RecurrentPPO

th.set_num_threads(1)

OBS_SPACE = spaces.Box(-1.0, 1.0, (3,), np.float32)
ACT_SPACE = spaces.Box(-2.0, 2.0, (2,), np.float32)
HIDDEN = 8


def gru_policy(**kwargs) -> FastRecurrentActorCriticPolicy:
    """A small GRU policy."""
    th.manual_seed(0)
    return FastRecurrentActorCriticPolicy(
        OBS_SPACE,
        ACT_SPACE,
        lambda _: 1e-3,
        lstm_hidden_size=HIDDEN,
        net_arch=[8],
        rnn_type="gru",
        **kwargs,
    )


def padded_batch(
    lengths: list[int], starts: list[bool], n_layers: int = 1
) -> RecurrentRolloutBufferSamples:
    """A padded minibatch as the rollout buffer lays it out."""
    rng = np.random.default_rng(0)
    n_seq, max_len = len(lengths), max(lengths)
    mask = np.zeros((n_seq, max_len), np.float32)
    for i, n in enumerate(lengths):
        mask[i, :n] = 1.0
    es = np.zeros((n_seq, max_len), np.float32)
    es[:, 0] = starts

    def padded(*shape: int) -> th.Tensor:
        x = rng.normal(size=(n_seq, max_len, *shape)).astype(np.float32)
        return th.as_tensor(
            (x * mask.reshape(n_seq, max_len, *([1] * len(shape)))).reshape(-1, *shape)
        )

    h = [
        th.as_tensor(rng.normal(size=(n_layers, n_seq, HIDDEN)).astype(np.float32))
        for _ in range(2)
    ]
    zero = th.zeros(n_layers, n_seq, HIDDEN)
    return RecurrentRolloutBufferSamples(
        observations=padded(3),
        actions=padded(2),
        old_values=padded(),
        old_log_prob=padded(),
        advantages=padded(),
        returns=padded(),
        lstm_states=RNNStates((h[0], zero), (h[1], zero)),
        episode_starts=th.as_tensor(es.reshape(-1)),
        mask=th.as_tensor(mask.reshape(-1)),
    )


def reference_gru(gru: nn.GRU, features: th.Tensor, h0: th.Tensor, starts: th.Tensor) -> th.Tensor:
    """Independent per-sequence, per-step GRU with a reset at every episode start."""
    n_seq = h0.shape[1]
    x = features.reshape(n_seq, -1, features.shape[-1])
    s = starts.reshape(n_seq, -1)
    outputs = []
    for i in range(n_seq):
        h = h0[:, i : i + 1]
        for t in range(x.shape[1]):
            h = h * (1.0 - s[i, t])
            out, h = gru(x[i, t].view(1, 1, -1), h)
            outputs.append(out.view(-1))
    return th.stack(outputs)


@pytest.mark.parametrize("n_layers", [1, 2])
@pytest.mark.parametrize(
    ("lengths", "starts", "inner_start"),
    [([5, 3, 1], [True, False, True], False), ([4, 4], [False, True], True)],
)
def test_gru_sequence_matches_step_by_step_reference(
    n_layers: int, lengths: list[int], starts: list[bool], inner_start: bool
) -> None:
    policy = gru_policy(n_lstm_layers=n_layers)
    assert isinstance(policy.lstm_actor, nn.GRU) and isinstance(policy.lstm_critic, nn.GRU)
    batch = padded_batch(lengths, starts, n_layers)
    es = batch.episode_starts.clone()
    if inner_start:
        es[6] = 1.0  # an episode start inside the second sequence: per-step loop
    features = policy.extract_features(batch.observations)
    out, (h, c) = policy._process_sequence(features, batch.lstm_states.pi, es, policy.lstm_actor)
    expected = reference_gru(policy.lstm_actor, features, batch.lstm_states.pi[0], es)
    th.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    th.testing.assert_close(
        h[-1, -1], expected[-1], atol=1e-5, rtol=1e-5
    )  # top layer, last sequence
    assert c is batch.lstm_states.pi[1]  # the unused cell slot is carried through
    assert policy.n_sequence_fallbacks == int(inner_start)
    # gradients flow to the GRU weights through the single call
    values, log_prob, entropy = policy.evaluate_actions(
        batch.observations, batch.actions, batch.lstm_states, es
    )
    (values.sum() + log_prob.sum() + entropy.sum()).backward()
    assert all(
        p.grad is not None and p.grad.abs().sum() > 0 for p in policy.lstm_actor.parameters()
    )
    assert all(
        p.grad is not None and p.grad.abs().sum() > 0 for p in policy.lstm_critic.parameters()
    )


def test_gru_optimizer_holds_gru_parameters() -> None:
    policy = gru_policy()
    in_optimizer = {id(p) for group in policy.optimizer.param_groups for p in group["params"]}
    assert in_optimizer == {id(p) for p in policy.parameters()}


def test_unknown_rnn_type_fails_clearly() -> None:
    with pytest.raises(ValueError, match="rnn_type must be one of lstm, gru; got 'rrn'"):
        FastRecurrentActorCriticPolicy(OBS_SPACE, ACT_SPACE, lambda _: 1e-3, rnn_type="rrn")


def test_gru_trains_predicts_and_round_trips(tmp_path: Path) -> None:
    env = make_vec_env("CartPole-v1", n_envs=2, seed=0)
    model = RecurrentPPO(
        "MlpLstmPolicy",
        env,
        n_steps=32,
        batch_size=32,
        n_epochs=2,
        seed=0,
        device="cpu",
        policy_kwargs=dict(lstm_hidden_size=HIDDEN, net_arch=[8], rnn_type="gru"),
    )
    before = [p.detach().clone() for p in model.policy.lstm_actor.parameters()]
    model.learn(128)
    assert model.n_sequence_fallbacks == 0
    assert any(
        not th.equal(a, b)
        for a, b in zip(before, model.policy.lstm_actor.parameters(), strict=True)
    )

    obs = env.reset()
    _, state = model.predict(obs, deterministic=True)
    assert not np.allclose(state[0], 0.0) and np.allclose(state[1], 0.0)  # h moves, c stays zero
    _, reset = model.predict(
        obs, state=state, episode_start=np.array([True, False]), deterministic=True
    )
    _, from_zero = model.predict(obs, deterministic=True)
    np.testing.assert_array_equal(reset[0][:, 0], from_zero[0][:, 0])
    assert not np.allclose(reset[0][:, 1], from_zero[0][:, 1])

    path = tmp_path / "gru.zip"
    model.save(path)
    loaded = RecurrentPPO.load(path, device="cpu")
    assert isinstance(loaded.policy.lstm_actor, nn.GRU) and loaded.policy.rnn_type == "gru"
    for a, b in zip(
        model.policy.state_dict().values(), loaded.policy.state_dict().values(), strict=True
    ):
        assert th.equal(a, b)


def test_config_validation_sees_all_policy_arguments() -> None:
    """hlynr's policy_kwargs validation reads the constructor signature: rnn_type and the
    sb3-contrib LSTM arguments must all be visible through the mixin's ``__init__``."""
    from hlynr.config.signatures import policy_kwargs_model

    model = policy_kwargs_model("RecurrentPPO", "MlpLstmPolicy")
    ok = model(lstm_hidden_size=64, n_lstm_layers=2, enable_critic_lstm=False, rnn_type="gru")
    assert ok.rnn_type == "gru" and ok.lstm_hidden_size == 64
    with pytest.raises(ValueError, match="'lstm' or 'gru'"):
        model(rnn_type="rrn")
    for name in ("CnnLstmPolicy", "MultiInputLstmPolicy"):
        assert {"lstm_hidden_size", "shared_lstm", "rnn_type"} <= set(
            policy_kwargs_model("RecurrentPPO", name).model_fields
        )
