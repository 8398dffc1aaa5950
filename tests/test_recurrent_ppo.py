"""hlynr's RecurrentPPO computes what sb3-contrib's RecurrentPPO computes, only faster.

Policy outputs, losses and gradients are compared on the same minibatch (episode starts at
sequence starts, mid-rollout episode starts cut by the buffer, padded sequences); the buffers are
compared field by field; short seeded training runs are compared parameter by parameter.
"""

from __future__ import annotations

from collections.abc import Callable

import gymnasium as gym
import numpy as np
import pytest
import sb3_contrib
import torch as th
from gymnasium import spaces
from sb3_contrib.common.recurrent.buffers import RecurrentDictRolloutBuffer, RecurrentRolloutBuffer
from sb3_contrib.common.recurrent.policies import (
    RecurrentActorCriticCnnPolicy,
    RecurrentActorCriticPolicy,
    RecurrentMultiInputActorCriticPolicy,
)
from sb3_contrib.common.recurrent.type_aliases import RecurrentRolloutBufferSamples, RNNStates
from stable_baselines3.common.env_util import make_vec_env

from hlynr.algos.recurrent_ppo import (
    FastRecurrentActorCriticCnnPolicy,
    FastRecurrentActorCriticPolicy,
    FastRecurrentDictRolloutBuffer,
    FastRecurrentMultiInputActorCriticPolicy,
    FastRecurrentRolloutBuffer,
    RecurrentPPO,
)
from hlynr.algos.recurrent_ppo.buffers import padded_layout

th.set_num_threads(1)

OBS_SPACE = spaces.Box(-1.0, 1.0, (3,), np.float32)
ACT_SPACE = spaces.Box(-2.0, 2.0, (2,), np.float32)
HIDDEN = 8
TOL = 1e-5

POLICY_VARIANTS = {
    "critic_lstm": {},
    "shared_lstm": {"shared_lstm": True, "enable_critic_lstm": False},
    "no_critic_lstm": {"enable_critic_lstm": False},
    "two_layers": {"n_lstm_layers": 2},
}


def policy_pair(
    variant: dict, obs_space: spaces.Space = OBS_SPACE, act_space: spaces.Space = ACT_SPACE
):
    """sb3-contrib's MLP-LSTM policy and hlynr's, with identical weights."""
    kwargs = dict(lstm_hidden_size=HIDDEN, net_arch=[8], **variant)
    th.manual_seed(0)
    ref = RecurrentActorCriticPolicy(obs_space, act_space, lambda _: 1e-3, **kwargs)
    fast = FastRecurrentActorCriticPolicy(obs_space, act_space, lambda _: 1e-3, **kwargs)
    fast.load_state_dict(ref.state_dict())
    return ref, fast


def ppo_loss(policy: RecurrentActorCriticPolicy, batch: RecurrentRolloutBufferSamples) -> th.Tensor:
    """sb3-contrib's RecurrentPPO loss on one minibatch (clip 0.2, ent 0.01, vf 0.5)."""
    mask = batch.mask > 1e-8
    values, log_prob, entropy = policy.evaluate_actions(
        batch.observations, batch.actions, batch.lstm_states, batch.episode_starts
    )
    values = values.flatten()
    adv = batch.advantages
    adv = (adv - adv[mask].mean()) / (adv[mask].std() + 1e-8)
    ratio = th.exp(log_prob - batch.old_log_prob)
    policy_loss = -th.mean(th.min(adv * ratio, adv * th.clamp(ratio, 0.8, 1.2))[mask])
    value_loss = th.mean(((batch.returns - values) ** 2)[mask])
    entropy_loss = -th.mean(entropy[mask])
    return policy_loss + 0.01 * entropy_loss + 0.5 * value_loss


def assert_same_step(ref, fast, batch: RecurrentRolloutBufferSamples) -> None:
    """Outputs, loss and every parameter gradient agree to ``TOL``."""
    with th.no_grad():
        out_ref = ref.evaluate_actions(
            batch.observations, batch.actions, batch.lstm_states, batch.episode_starts
        )
        out_fast = fast.evaluate_actions(
            batch.observations, batch.actions, batch.lstm_states, batch.episode_starts
        )
    for a, b in zip(out_ref, out_fast, strict=True):
        th.testing.assert_close(b, a, atol=TOL, rtol=TOL)
    ref.zero_grad()
    fast.zero_grad()
    loss_ref, loss_fast = ppo_loss(ref, batch), ppo_loss(fast, batch)
    loss_ref.backward()
    loss_fast.backward()
    th.testing.assert_close(loss_fast, loss_ref, atol=TOL, rtol=TOL)
    for (name, p_ref), p_fast in zip(ref.named_parameters(), fast.parameters(), strict=True):
        assert (p_ref.grad is None) == (p_fast.grad is None), name
        if p_ref.grad is not None:
            th.testing.assert_close(p_fast.grad, p_ref.grad, atol=TOL, rtol=TOL, msg=name)


def handmade_batch(
    lengths: list[int],
    starts: list[bool],
    n_layers: int = 1,
    seed: int = 0,
    obs_shape: tuple[int, ...] = (3,),
):
    """A padded minibatch laid out as the rollout buffer does (zeros after each sequence)."""
    rng = np.random.default_rng(seed)
    n_seq, max_len = len(lengths), max(lengths)
    mask = np.zeros((n_seq, max_len), np.float32)
    for i, n in enumerate(lengths):
        mask[i, :n] = 1.0
    episode_starts = np.zeros((n_seq, max_len), np.float32)
    episode_starts[:, 0] = starts

    def padded(*shape: int) -> th.Tensor:
        x = rng.normal(size=(n_seq, max_len, *shape)).astype(np.float32)
        x *= mask.reshape(n_seq, max_len, *([1] * len(shape)))
        return th.as_tensor(x.reshape(n_seq * max_len, *shape))

    def state() -> tuple[th.Tensor, th.Tensor]:
        return tuple(
            th.as_tensor(rng.normal(size=(n_layers, n_seq, HIDDEN)).astype(np.float32))
            for _ in range(2)
        )

    return RecurrentRolloutBufferSamples(
        observations=padded(*obs_shape),
        actions=padded(2),
        old_values=padded(),
        old_log_prob=padded() - 2.0,
        advantages=padded(),
        returns=padded(),
        lstm_states=RNNStates(state(), state()),
        episode_starts=th.as_tensor(episode_starts.reshape(-1)),
        mask=th.as_tensor(mask.reshape(-1)),
    )


@pytest.mark.parametrize("variant", list(POLICY_VARIANTS))
@pytest.mark.parametrize(
    ("lengths", "starts"),
    [
        ([6, 6, 6], [True, False, True]),  # episode starts at sequence starts, no padding
        ([6, 3, 1, 5], [False, True, True, False]),  # padding, single-step sequence
        ([4, 2], [False, False]),  # no episode start (sb3-contrib's own single-call path)
    ],
    ids=["starts", "padding", "no_starts"],
)
def test_minibatch_outputs_losses_gradients_match(
    variant: str, lengths: list[int], starts: list[bool]
) -> None:
    ref, fast = policy_pair(POLICY_VARIANTS[variant])
    batch = handmade_batch(
        lengths, starts, n_layers=POLICY_VARIANTS[variant].get("n_lstm_layers", 1)
    )
    assert_same_step(ref, fast, batch)
    assert fast.n_sequence_fallbacks == 0
    assert fast.n_sequence_calls > 0


def test_cnn_policy_matches() -> None:
    """CnnLstmPolicy (NatureCNN features) gives the same outputs and gradients as sb3-contrib's."""
    obs_space = spaces.Box(0, 255, (1, 36, 36), np.uint8)
    kwargs = dict(
        lstm_hidden_size=HIDDEN, net_arch=[8], features_extractor_kwargs=dict(features_dim=16)
    )
    th.manual_seed(0)
    ref = RecurrentActorCriticCnnPolicy(obs_space, ACT_SPACE, lambda _: 1e-3, **kwargs)
    fast = FastRecurrentActorCriticCnnPolicy(obs_space, ACT_SPACE, lambda _: 1e-3, **kwargs)
    fast.load_state_dict(ref.state_dict())
    batch = handmade_batch([4, 2, 3], [True, False, True], obs_shape=(1, 36, 36))
    batch = batch._replace(
        observations=(batch.observations.abs() * 60).clamp(0, 255).to(th.uint8).float()
    )
    assert_same_step(ref, fast, batch)
    assert fast.n_sequence_fallbacks == 0


def test_fused_adam_steps_match_sb3_contrib_adam() -> None:
    """The fast policy's fused Adam moves parameters like sb3-contrib's Adam (float32 rounding)."""
    ref, fast = policy_pair({})
    assert fast.optimizer.param_groups[0]["fused"] is True
    assert ref.optimizer.param_groups[0]["fused"] is None
    batch = handmade_batch([6, 3, 5], [True, False, True])
    for _ in range(3):
        for policy in (ref, fast):
            policy.optimizer.zero_grad()
            ppo_loss(policy, batch).backward()
            th.nn.utils.clip_grad_norm_(policy.parameters(), 0.5)
        for p_ref, p_fast in zip(ref.parameters(), fast.parameters(), strict=True):
            p_fast.grad = p_ref.grad.clone()  # same gradients in, so any difference is Adam's
        before = [p.detach().clone() for p in ref.parameters()]
        ref.optimizer.step()
        fast.optimizer.step()
        for p_ref, p_fast, p0 in zip(ref.parameters(), fast.parameters(), before, strict=True):
            assert not th.equal(p_ref, p0)  # Adam moved every parameter
            th.testing.assert_close(p_fast, p_ref, atol=1e-7, rtol=1e-6)


def test_explicit_optimizer_choice_is_kept() -> None:
    """``optimizer_kwargs`` that choose Adam's implementation are not overridden."""
    policy = FastRecurrentActorCriticPolicy(
        OBS_SPACE, ACT_SPACE, lambda _: 1e-3, optimizer_kwargs={"foreach": True}
    )
    assert policy.optimizer.param_groups[0]["foreach"] is True
    assert not policy.optimizer.param_groups[0]["fused"]


def test_episode_start_inside_a_sequence_falls_back_and_is_counted() -> None:
    ref, fast = policy_pair({})
    batch = handmade_batch([5, 5], [True, False])
    starts = batch.episode_starts.clone()
    starts[7] = 1.0  # second sequence, third element
    batch = batch._replace(episode_starts=starts)
    assert_same_step(ref, fast, batch)
    # evaluate_actions ran twice (no_grad + loss), each with actor and critic LSTM
    assert fast.n_sequence_fallbacks == 4


def fill_buffers(kind: str, n_steps: int = 24, n_envs: int = 3, seed: int = 0):
    """An sb3-contrib buffer and a hlynr buffer filled with the same random rollout.

    ``kind``: ``box`` (float observations and actions), ``dict`` (dict observations) or
    ``image`` (uint8 image observations, discrete actions). Episode starts fall in the middle
    of the rollout (every env, random steps).
    """
    rng = np.random.default_rng(seed)
    dict_obs = kind == "dict"
    obs_space = {
        "box": OBS_SPACE,
        "dict": spaces.Dict({"a": OBS_SPACE, "b": spaces.Box(0, 1, (2, 2), np.float32)}),
        "image": spaces.Box(0, 255, (1, 4, 4), np.uint8),
    }[kind]
    act_space = spaces.Discrete(3) if kind == "image" else ACT_SPACE
    shape = (n_steps, 1, n_envs, HIDDEN)
    ref_cls, fast_cls = (
        (RecurrentDictRolloutBuffer, FastRecurrentDictRolloutBuffer)
        if dict_obs
        else (RecurrentRolloutBuffer, FastRecurrentRolloutBuffer)
    )
    ref = ref_cls(
        n_steps, obs_space, act_space, shape, "cpu", gae_lambda=0.95, gamma=0.99, n_envs=n_envs
    )
    fast = fast_cls(
        n_steps, obs_space, act_space, shape, "cpu", gae_lambda=0.95, gamma=0.99, n_envs=n_envs
    )
    for step in range(n_steps):
        if dict_obs:
            obs = {
                k: rng.random((n_envs, *s.shape)).astype(np.float32)
                for k, s in obs_space.spaces.items()
            }
        elif kind == "image":
            obs = rng.integers(1, 256, (n_envs, 1, 4, 4)).astype(np.uint8)
        else:
            obs = rng.random((n_envs, 3)).astype(np.float32)
        if kind == "image":
            action = rng.integers(0, 3, (n_envs, 1))
        else:
            action = rng.normal(size=(n_envs, 2)).astype(np.float32)
        reward = rng.normal(size=n_envs).astype(np.float32)
        start = (rng.random(n_envs) < 0.15) | (step == 0)
        value = th.as_tensor(rng.normal(size=(n_envs, 1)).astype(np.float32))
        log_prob = th.as_tensor(rng.normal(size=n_envs).astype(np.float32))
        states = RNNStates(
            tuple(
                th.as_tensor(rng.normal(size=(1, n_envs, HIDDEN)).astype(np.float32))
                for _ in range(2)
            ),
            tuple(
                th.as_tensor(rng.normal(size=(1, n_envs, HIDDEN)).astype(np.float32))
                for _ in range(2)
            ),
        )
        for buf in (ref, fast):
            buf.add(obs, action, reward, start, value, log_prob, lstm_states=states)
    last_values = th.as_tensor(rng.normal(size=(n_envs, 1)).astype(np.float32))
    dones = rng.random(n_envs) < 0.5
    for buf in (ref, fast):
        buf.compute_returns_and_advantage(last_values=last_values, dones=dones)
    return ref, fast


def assert_same_samples(a: RecurrentRolloutBufferSamples, b: RecurrentRolloutBufferSamples) -> None:
    """Bit-identical minibatches (observations may be dicts)."""
    for field in a._fields:
        x, y = getattr(a, field), getattr(b, field)
        if field == "lstm_states":
            for s, t in zip([*x.pi, *x.vf], [*y.pi, *y.vf], strict=True):
                assert th.equal(s, t)
        elif isinstance(x, dict):
            assert x.keys() == y.keys()
            for k in x:
                assert th.equal(x[k], y[k]), (field, k)
        else:
            assert x.dtype == y.dtype and th.equal(x, y), field


@pytest.mark.parametrize("kind", ["box", "dict", "image"])
@pytest.mark.parametrize("batch_size", [7, 16, 72])
def test_buffer_minibatches_identical_to_sb3_contrib(kind: str, batch_size: int) -> None:
    ref, fast = fill_buffers(kind)
    for epoch in range(3):
        np.random.seed(epoch)
        ref_batches = list(ref.get(batch_size))
        np.random.seed(epoch)
        fast_batches = list(fast.get(batch_size))
        assert len(ref_batches) == len(fast_batches)
        for a, b in zip(ref_batches, fast_batches, strict=True):
            assert_same_samples(a, b)
    assert fast.generator_ready


@pytest.mark.parametrize("variant", ["critic_lstm", "shared_lstm"])
def test_buffer_minibatches_give_same_losses_and_gradients(variant: str) -> None:
    """Real padded minibatches with mid-rollout episode starts: sb3-contrib loops, hlynr doesn't."""
    ref_buf, fast_buf = fill_buffers("box")
    ref, fast = policy_pair(POLICY_VARIANTS[variant])
    np.random.seed(1)
    n_with_inner_starts = 0
    for batch in fast_buf.get(20):
        starts = batch.episode_starts.reshape(len(fast_buf.seq_start_indices), -1)
        n_with_inner_starts += int(starts.any())
        assert not starts[:, 1:].any()  # the buffer only starts episodes at sequence starts
        assert_same_step(ref, fast, batch)
    assert n_with_inner_starts > 0  # the reference really took its per-step loop
    assert fast.n_sequence_fallbacks == 0


def test_padded_layout_matches_sb3_contrib_sequencer() -> None:
    from sb3_contrib.common.recurrent.buffers import create_sequencers

    rng = np.random.default_rng(3)
    for _ in range(20):
        n = int(rng.integers(1, 40))
        starts = (rng.random(n) < 0.2).astype(np.float32)
        change = (rng.random(n) < 0.1).astype(np.float32)
        seq_starts, positions, lengths, max_len = padded_layout(starts, change)
        ref_starts, pad, _ = create_sequencers(starts, change, th.device("cpu"))
        np.testing.assert_array_equal(seq_starts, ref_starts)
        ref_padded = pad(np.arange(1, n + 1, dtype=np.float32)).numpy().reshape(-1)
        np.testing.assert_array_equal(np.where(positions >= 0, positions + 1, 0), ref_padded)
        assert lengths.sum() == n and max_len == lengths.max()


class DictObs(gym.ObservationWrapper):
    """Pendulum with its observation split into a dict (to exercise MultiInputLstmPolicy)."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.observation_space = spaces.Dict(
            {
                "cos_sin": spaces.Box(-1.0, 1.0, (2,), np.float32),
                "omega": spaces.Box(-8.0, 8.0, (1,), np.float32),
            }
        )

    def observation(self, observation: np.ndarray) -> dict[str, np.ndarray]:
        return {"cos_sin": observation[:2], "omega": observation[2:]}


def train_pair(
    env_id: str, policy: str, wrapper: Callable | None = None, steps: int = 256, **kwargs
):
    """Train sb3-contrib's and hlynr's RecurrentPPO with the same seed and settings.

    Episodes are cut at 50 steps, so rollouts contain episode starts and time-limit bootstraps.
    """
    models = []
    for cls in (sb3_contrib.RecurrentPPO, RecurrentPPO):
        env = make_vec_env(
            env_id, n_envs=2, seed=0, wrapper_class=wrapper, env_kwargs={"max_episode_steps": 50}
        )
        model = cls(
            policy,
            env,
            n_steps=32,
            batch_size=24,
            n_epochs=2,
            seed=0,
            policy_kwargs=dict(lstm_hidden_size=HIDDEN, net_arch=[8]),
            device="cpu",
            **kwargs,
        )
        model.learn(steps)
        models.append(model)
    return models


def assert_same_parameters(a, b, atol: float = 1e-5) -> None:
    """Every policy parameter agrees to ``atol`` (float32 rounding of a different LSTM schedule)."""
    for (name, p), q in zip(a.policy.named_parameters(), b.policy.parameters(), strict=True):
        th.testing.assert_close(q, p, atol=atol, rtol=0.0, msg=name)


@pytest.mark.parametrize(
    ("env_id", "policy", "wrapper", "kwargs"),
    [
        ("Pendulum-v1", "MlpLstmPolicy", None, {}),
        (
            "Pendulum-v1",
            "MlpLstmPolicy",
            None,
            {"use_sde": True, "sde_sample_freq": 4, "clip_range_vf": 0.2},
        ),
        ("CartPole-v1", "MlpLstmPolicy", None, {}),
        ("Pendulum-v1", "MultiInputLstmPolicy", DictObs, {}),
    ],
    ids=["pendulum", "pendulum_sde_vfclip", "cartpole", "dict_obs"],
)
def test_seeded_training_gives_same_parameters(
    env_id: str, policy: str, wrapper, kwargs: dict
) -> None:
    ref, fast = train_pair(env_id, policy, wrapper, **kwargs)
    assert type(fast.policy) is not type(ref.policy) and isinstance(fast.policy, type(ref.policy))
    assert_same_parameters(ref, fast)
    assert fast.num_timesteps == ref.num_timesteps
    assert fast.n_sequence_fallbacks == 0
    assert fast.logger.name_to_value["train/lstm_step_loop_fallbacks"] == 0
    for key in ("train/value_loss", "train/policy_gradient_loss", "train/entropy_loss"):
        assert fast.logger.name_to_value[key] == pytest.approx(
            ref.logger.name_to_value[key], rel=1e-4, abs=1e-6
        )


def test_policy_names_resolve_to_fast_policies() -> None:
    assert RecurrentPPO.policy_aliases["MlpLstmPolicy"] is FastRecurrentActorCriticPolicy
    assert RecurrentPPO.policy_aliases["CnnLstmPolicy"] is FastRecurrentActorCriticCnnPolicy
    assert (
        RecurrentPPO.policy_aliases["MultiInputLstmPolicy"]
        is FastRecurrentMultiInputActorCriticPolicy
    )
    assert issubclass(FastRecurrentActorCriticCnnPolicy, RecurrentActorCriticCnnPolicy)
    assert issubclass(
        FastRecurrentMultiInputActorCriticPolicy, RecurrentMultiInputActorCriticPolicy
    )
    env = make_vec_env("Pendulum-v1", n_envs=2, seed=0)
    # sb3-contrib's class passed explicitly is swapped for the fast one too
    model = RecurrentPPO(
        RecurrentActorCriticPolicy, env, n_steps=8, policy_kwargs=dict(lstm_hidden_size=HIDDEN)
    )
    assert type(model.policy) is FastRecurrentActorCriticPolicy
    assert isinstance(model, sb3_contrib.RecurrentPPO)
    assert isinstance(model.rollout_buffer, FastRecurrentRolloutBuffer)
