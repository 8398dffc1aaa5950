"""hlynr's lean ``train()`` pieces compute what sb3-contrib's update computes.

* ``get_real_rows`` minibatches are the real rows of sb3-contrib's padded minibatches;
* the closed-form log-probabilities/entropies equal SB3's distribution objects bit for bit;
* ``clip_grad_norm`` equals ``clip_grad_norm_`` bit for bit; ``FlatFusedAdam`` steps like
  ``clip_grad_norm_`` + fused Adam (float32 rounding) and keeps a loadable per-parameter state;
* one whole ``train()`` from the same rollout and weights gives sb3-contrib's parameters and
  logged values (also with ``target_kl`` early stopping, gSDE, value clipping, discrete actions
  and dict observations).
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import sb3_contrib
import torch as th
from gymnasium import spaces
from sb3_contrib.common.recurrent.policies import RecurrentActorCriticCnnPolicy
from stable_baselines3.common.distributions import (
    CategoricalDistribution,
    DiagGaussianDistribution,
)
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.logger import configure

from hlynr.algos.distributions import (
    categorical_log_prob_entropy,
    diag_gaussian_log_prob_entropy,
)
from hlynr.algos.recurrent_ppo import FastRecurrentActorCriticCnnPolicy, RecurrentPPO
from hlynr.algos.recurrent_ppo.optim import FlatFusedAdam, clip_grad_norm
from tests.test_recurrent_ppo import (
    ACT_SPACE,
    POLICY_VARIANTS,
    TOL,
    DictObs,
    fill_buffers,
    handmade_batch,
    policy_pair,
)

th.set_num_threads(1)


@pytest.mark.parametrize("kind", ["box", "dict", "image"])
@pytest.mark.parametrize("batch_size", [7, 16, 72])
def test_real_rows_batches_are_the_real_rows_of_padded_batches(kind: str, batch_size: int) -> None:
    _, buf = fill_buffers(kind)
    for epoch in range(2):
        np.random.seed(epoch)
        padded = list(buf.get(batch_size))
        np.random.seed(epoch)
        real = list(buf.get_real_rows(batch_size))
        assert len(padded) == len(real)
        for p, r in zip(padded, real, strict=True):
            rows = th.nonzero(p.mask > 0).squeeze(1)
            n_seq = p.lstm_states.pi[0].shape[1]
            max_len = len(p.mask) // n_seq
            assert (r.n_seq, r.max_len) == (n_seq, max_len)
            # seq-major padded index s * max_len + t  ->  time-major t * n_seq + s
            assert th.equal(r.positions, (rows % max_len) * n_seq + rows // max_len)
            if isinstance(p.observations, dict):
                for k in p.observations:
                    assert th.equal(r.observations[k], p.observations[k][rows])
            else:
                assert th.equal(r.observations, p.observations[rows])
            assert th.equal(r.actions, p.actions[rows])
            for name in ("old_values", "old_log_prob", "advantages", "returns"):
                assert th.equal(getattr(r, name), getattr(p, name)[rows]), name
            # sb3-contrib resets the first state of a sequence that starts an episode
            keep = (1.0 - p.episode_starts.reshape(n_seq, max_len)[:, 0]).view(1, n_seq, 1)
            for s, t in zip([*r.lstm_states.pi, *r.lstm_states.vf],
                            [*p.lstm_states.pi, *p.lstm_states.vf], strict=True):
                assert s.is_contiguous() and th.equal(s, keep * t)


@pytest.mark.parametrize(("n", "dim"), [(50, 3), (128, 1), (1, 2)])
def test_closed_form_gaussian_equals_sb3_distribution(n: int, dim: int) -> None:
    gen = th.Generator().manual_seed(0)
    mean = th.randn(n, dim, generator=gen, requires_grad=True)
    log_std = (th.randn(dim, generator=gen) * 0.5).requires_grad_()
    actions = th.randn(n, dim, generator=gen)
    dist = DiagGaussianDistribution(dim).proba_distribution(mean, log_std)
    ref = (dist.log_prob(actions), dist.entropy())
    out = diag_gaussian_log_prob_entropy(mean, log_std, actions)
    for a, b in zip(ref, out, strict=True):
        assert th.equal(a, b)
    grads_ref = th.autograd.grad(ref[0].mean() + 0.1 * ref[1].mean(), (mean, log_std))
    grads_out = th.autograd.grad(out[0].mean() + 0.1 * out[1].mean(), (mean, log_std))
    for a, b in zip(grads_ref, grads_out, strict=True):
        assert th.equal(a, b)


def test_closed_form_categorical_equals_sb3_distribution() -> None:
    gen = th.Generator().manual_seed(1)
    logits = (th.randn(40, 5, generator=gen) * 3).requires_grad_()
    actions = th.randint(0, 5, (40,), generator=gen).float()
    dist = CategoricalDistribution(5).proba_distribution(logits)
    ref = (dist.log_prob(actions), dist.entropy())
    out = categorical_log_prob_entropy(logits, actions)
    for a, b in zip(ref, out, strict=True):
        assert th.equal(a, b)
    (g_ref,) = th.autograd.grad(ref[0].sum() - ref[1].sum(), logits)
    (g_out,) = th.autograd.grad(out[0].sum() - out[1].sum(), logits)
    assert th.equal(g_ref, g_out)


@pytest.mark.parametrize("max_norm", [0.5, 1e6])
def test_clip_grad_norm_equals_torch(max_norm: float) -> None:
    ref, fast = policy_pair({})
    gen = th.Generator().manual_seed(2)
    for p, q in zip(ref.parameters(), fast.parameters(), strict=True):
        p.grad = th.randn(p.shape, generator=gen)
        q.grad = p.grad.clone()
    fast.lstm_actor.weight_hh_l0.grad = None  # skipped by both
    ref.lstm_actor.weight_hh_l0.grad = None
    norm_ref = th.nn.utils.clip_grad_norm_(ref.parameters(), max_norm)
    norm = clip_grad_norm(list(fast.parameters()), max_norm)
    assert th.equal(norm, norm_ref)
    for p, q in zip(ref.parameters(), fast.parameters(), strict=True):
        assert (p.grad is None and q.grad is None) or th.equal(p.grad, q.grad)


def test_flat_fused_adam_steps_like_clip_and_fused_adam() -> None:
    """Same clipped gradients (bit for bit) and the per-parameter fused Adam's update."""
    _, ref = policy_pair({})  # per-parameter fused Adam
    _, fast = policy_pair({})
    flat = FlatFusedAdam(fast.optimizer)
    assert flat.bind()
    gen = th.Generator().manual_seed(3)
    for _ in range(3):
        flat.zero_grad()
        for p, q in zip(ref.parameters(), fast.parameters(), strict=True):
            p.grad = th.randn(p.shape, generator=gen)
            q.grad = p.grad.clone()
        th.nn.utils.clip_grad_norm_(ref.parameters(), 0.5)
        ref.optimizer.step()
        assert flat.clip_and_step(0.5)
    flat.expose_clipped_grads()
    for (name, p), q in zip(ref.named_parameters(), fast.parameters(), strict=True):
        th.testing.assert_close(q, p, atol=1e-7, rtol=1e-6, msg=name)
        assert th.equal(q.grad, p.grad), name
        state_ref, state = ref.optimizer.state[p], fast.optimizer.state[q]
        assert float(state["step"]) == float(state_ref["step"]) == 3.0
        th.testing.assert_close(state["exp_avg_sq"], state_ref["exp_avg_sq"], rtol=1e-5, atol=0)
    # A loaded state (not the flat views) is picked up by the next bind().
    fast.optimizer.load_state_dict(copy.deepcopy(ref.optimizer.state_dict()))
    fast.load_state_dict(ref.state_dict())
    assert flat.bind()
    for p, q in zip(ref.parameters(), fast.parameters(), strict=True):
        assert th.equal(fast.optimizer.state[q]["exp_avg"], ref.optimizer.state[p]["exp_avg"])
        assert th.equal(q, p)
    # A parameter without gradient: nothing happens, the caller steps the ordinary way.
    before = [q.detach().clone() for q in fast.parameters()]
    flat.zero_grad()
    for q in list(fast.parameters())[1:]:
        q.grad = th.ones_like(q)
    assert not flat.clip_and_step(0.5)
    assert all(th.equal(q, b) for q, b in zip(fast.parameters(), before, strict=True))


def test_flat_fused_adam_refuses_other_optimizers() -> None:
    _, fast = policy_pair({})
    params = list(fast.parameters())
    assert not FlatFusedAdam(th.optim.Adam(params, foreach=True)).bind()
    assert not FlatFusedAdam(th.optim.SGD(params, lr=0.1)).bind()
    assert not FlatFusedAdam(th.optim.Adam(params, fused=True, amsgrad=True)).bind()


def _one_train_each(env_id: str, policy: str, wrapper=None, **kwargs):
    """hlynr's and sb3-contrib's ``train()`` once each, from the same rollout and weights."""
    env = make_vec_env(
        env_id, n_envs=2, seed=0, wrapper_class=wrapper, env_kwargs={"max_episode_steps": 50}
    )
    policy_kwargs = dict(lstm_hidden_size=8, net_arch=[8], **kwargs.pop("policy_kwargs", {}))
    settings = dict(
        n_steps=32,
        batch_size=24,
        n_epochs=3,
        seed=0,
        device="cpu",
        policy_kwargs=policy_kwargs,
        **kwargs,
    )
    fast = RecurrentPPO(policy, env, **settings)
    fast.learn(128)  # two updates, then the buffer holds a full rollout
    ref = sb3_contrib.RecurrentPPO(policy, env, **settings)
    ref.policy.load_state_dict(fast.policy.state_dict())
    ref.policy.optimizer.load_state_dict(copy.deepcopy(fast.policy.optimizer.state_dict()))
    ref.rollout_buffer = fast.rollout_buffer  # get() is bit-identical to sb3-contrib's
    ref._current_progress_remaining = fast._current_progress_remaining
    ref._n_updates = fast._n_updates
    for model in (fast, ref):
        model.set_logger(configure(None, []))
        np.random.seed(7)
        model.train()
    return ref, fast


TRAIN_KEYS = (
    "train/entropy_loss",
    "train/policy_gradient_loss",
    "train/value_loss",
    "train/approx_kl",
    "train/clip_fraction",
    "train/loss",
    "train/explained_variance",
    "train/n_updates",
    "train/clip_range",
)


@pytest.mark.parametrize(
    ("env_id", "policy", "wrapper", "kwargs"),
    [
        ("Pendulum-v1", "MlpLstmPolicy", None, {}),
        ("Pendulum-v1", "MlpLstmPolicy", None, {"target_kl": 3e-6}),
        (
            "Pendulum-v1",
            "MlpLstmPolicy",
            None,
            {"use_sde": True, "sde_sample_freq": 4, "clip_range_vf": 0.2},
        ),
        ("CartPole-v1", "MlpLstmPolicy", None, {}),
        ("Pendulum-v1", "MultiInputLstmPolicy", DictObs, {}),
        ("Pendulum-v1", "MlpLstmPolicy", None, {"policy_kwargs": {"n_lstm_layers": 2}}),
        (
            "CartPole-v1",
            "MlpLstmPolicy",
            None,
            {"policy_kwargs": {"shared_lstm": True, "enable_critic_lstm": False}},
        ),
    ],
    ids=["pendulum", "target_kl", "sde_vfclip", "cartpole", "dict_obs", "two_layers", "shared"],
)
def test_one_train_equals_sb3_contrib_train(env_id: str, policy: str, wrapper, kwargs) -> None:
    ref, fast = _one_train_each(env_id, policy, wrapper, **kwargs)
    for (name, p), q in zip(ref.policy.named_parameters(), fast.policy.parameters(), strict=True):
        th.testing.assert_close(q, p, atol=1e-6, rtol=1e-5, msg=name)
    logged, logged_ref = fast.logger.name_to_value, ref.logger.name_to_value
    keys = [*TRAIN_KEYS, *(["train/std"] if "use_sde" not in kwargs else [])]
    keys += ["train/clip_range_vf"] if "clip_range_vf" in kwargs else []
    for key in keys:
        assert logged[key] == pytest.approx(logged_ref[key], rel=1e-5, abs=1e-7), key
    if "target_kl" in kwargs:  # it stopped early, at the same minibatch
        assert fast._n_updates == ref._n_updates == 2 * 3 + 2  # in its second epoch


def test_flat_adam_state_saves_and_loads_in_sb3_contrib(tmp_path) -> None:
    env = make_vec_env("Pendulum-v1", n_envs=2, seed=0)
    model = RecurrentPPO(
        "MlpLstmPolicy", env, n_steps=16, batch_size=16, n_epochs=2,
        policy_kwargs=dict(lstm_hidden_size=8),
    )
    model.learn(64)
    assert model._flat_adam_of.bind()  # the flat path ran
    model.save(tmp_path / "m.zip")
    loaded = sb3_contrib.RecurrentPPO.load(tmp_path / "m.zip", env=env)
    for p, q in zip(model.policy.parameters(), loaded.policy.parameters(), strict=True):
        assert th.equal(p, q)
        state, state_loaded = model.policy.optimizer.state[p], loaded.policy.optimizer.state[q]
        assert float(state_loaded["step"]) == float(state["step"]) == 8.0
        assert th.equal(state_loaded["exp_avg"], state["exp_avg"])
    loaded.learn(32)  # sb3-contrib's Adam steps each parameter's own counter once per step
    steps = {float(s["step"]) for s in loaded.policy.optimizer.state.values()}
    assert steps == {12.0}


def real_rows_of(batch):
    """The real-rows inputs of a padded ``handmade_batch`` (what ``get_real_rows`` hands out)."""
    rows = th.nonzero(batch.mask > 0).squeeze(1)
    n_seq = batch.lstm_states.pi[0].shape[1]
    max_len = len(batch.mask) // n_seq
    keep = (1.0 - batch.episode_starts.reshape(n_seq, max_len)[:, 0]).view(1, n_seq, 1)
    states = type(batch.lstm_states)(
        tuple(keep * s for s in batch.lstm_states.pi), tuple(keep * s for s in batch.lstm_states.vf)
    )
    positions = (rows % max_len) * n_seq + rows // max_len
    return rows, states, positions, n_seq, max_len


@pytest.mark.parametrize("variant", list(POLICY_VARIANTS))
def test_evaluate_real_rows_equals_sb3_evaluate_actions(variant: str) -> None:
    """Outputs at the real rows and the gradients of a loss on them match sb3-contrib's."""
    ref, fast = policy_pair(POLICY_VARIANTS[variant])
    batch = handmade_batch(
        [6, 3, 1, 5],
        [False, True, True, False],
        n_layers=POLICY_VARIANTS[variant].get("n_lstm_layers", 1),
    )
    rows, states, positions, n_seq, max_len = real_rows_of(batch)
    out_ref = ref.evaluate_actions(
        batch.observations, batch.actions, batch.lstm_states, batch.episode_starts
    )
    out = fast.evaluate_real_rows(
        batch.observations[rows], batch.actions[rows], states, positions, n_seq, max_len
    )
    for a, b in zip(out_ref, out, strict=True):
        expected = a.flatten()[rows] if a.dim() > 1 else a[rows]  # values are (n, 1) in SB3
        th.testing.assert_close(b, expected, atol=TOL, rtol=TOL)
    ref.zero_grad()
    fast.zero_grad()
    (out_ref[0][rows].sum() + out_ref[1][rows].sum() - out_ref[2][rows].sum()).backward()
    (out[0].sum() + out[1].sum() - out[2].sum()).backward()
    for (name, p_ref), p_fast in zip(ref.named_parameters(), fast.parameters(), strict=True):
        assert (p_ref.grad is None) == (p_fast.grad is None), name
        if p_ref.grad is not None:
            th.testing.assert_close(p_fast.grad, p_ref.grad, atol=TOL, rtol=TOL, msg=name)


def test_parameter_without_gradient_falls_back_to_the_ordinary_adam_step() -> None:
    """If a parameter gets no gradient, Adam must skip it (no step, no state update), as in SB3."""
    env = make_vec_env("Pendulum-v1", n_envs=2, seed=0)
    model = RecurrentPPO(
        "MlpLstmPolicy", env, n_steps=16, batch_size=16, n_epochs=2,
        policy_kwargs=dict(lstm_hidden_size=8),
    )
    model.learn(32)  # flat path: every parameter has taken 4 steps
    frozen = model.policy.log_std
    before = frozen.detach().clone()
    frozen.register_post_accumulate_grad_hook(lambda p: setattr(p, "grad", None))
    model.learn(32, reset_num_timesteps=False)
    state = model.policy.optimizer.state
    assert th.equal(frozen, before) and float(state[frozen]["step"]) == 4.0
    assert {float(state[p]["step"]) for p in model.policy.parameters() if p is not frozen} == {8.0}
    assert not model._flat_adam_of.bind()  # step counts differ now: ordinary path from here on


def test_evaluate_real_rows_with_cnn_features_matches_sb3() -> None:
    """A features extractor with parameters (NatureCNN): gradients flow through the padding."""
    obs_space = spaces.Box(0, 255, (1, 36, 36), np.uint8)
    kwargs = dict(
        lstm_hidden_size=8, net_arch=[8], features_extractor_kwargs=dict(features_dim=16)
    )
    th.manual_seed(0)
    ref = RecurrentActorCriticCnnPolicy(obs_space, ACT_SPACE, lambda _: 1e-3, **kwargs)
    fast = FastRecurrentActorCriticCnnPolicy(obs_space, ACT_SPACE, lambda _: 1e-3, **kwargs)
    fast.load_state_dict(ref.state_dict())
    batch = handmade_batch([4, 2, 3], [True, False, True], obs_shape=(1, 36, 36))
    batch = batch._replace(
        observations=(batch.observations.abs() * 60).clamp(0, 255).to(th.uint8).float()
    )
    rows, states, positions, n_seq, max_len = real_rows_of(batch)
    out_ref = ref.evaluate_actions(
        batch.observations, batch.actions, batch.lstm_states, batch.episode_starts
    )
    out = fast.evaluate_real_rows(
        batch.observations[rows], batch.actions[rows], states, positions, n_seq, max_len
    )
    th.testing.assert_close(out[0], out_ref[0].flatten()[rows], atol=TOL, rtol=TOL)
    th.testing.assert_close(out[1], out_ref[1][rows], atol=TOL, rtol=TOL)
    (out_ref[0][rows].sum() + out_ref[1][rows].sum()).backward()
    (out[0].sum() + out[1].sum()).backward()
    for (name, p_ref), p_fast in zip(ref.named_parameters(), fast.parameters(), strict=True):
        assert p_ref.grad is not None and p_fast.grad is not None, name
        th.testing.assert_close(p_fast.grad, p_ref.grad, atol=TOL, rtol=TOL, msg=name)
