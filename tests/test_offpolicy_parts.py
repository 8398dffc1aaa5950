"""The parts of hlynr's fast off-policy update, each against what it replaces.

The one-gather minibatches against SB3's ``sample()`` calls (bit for bit), the hand-written MLP
backward pass against autograd (bit for bit for ReLU and tanh), the flat Adam against
``torch.optim.Adam``, the flat target update against ``polyak_update`` (bit for bit), the stacked
critics and the closed-form actor against SB3's modules, the quantile loss against sb3-contrib's.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from sb3_contrib.common.utils import quantile_huber_loss
from stable_baselines3.common.buffers import DictReplayBuffer, ReplayBuffer
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.policies import ContinuousCritic
from stable_baselines3.common.torch_layers import FlattenExtractor
from stable_baselines3.common.utils import polyak_update
from stable_baselines3.common.vec_env import VecNormalize
from stable_baselines3.sac.policies import Actor

from hlynr.algos.flat import FlatAdam, FlatParams, polyak
from hlynr.algos.mlp import MLP, Saved, structure
from hlynr.algos.offpolicy import quantile
from hlynr.algos.offpolicy.actors import squashed_sample
from hlynr.algos.offpolicy.nets import mlp_params, squashed_actor_params, stacked_params
from hlynr.algos.offpolicy.replay import sample_minibatches

th.set_num_threads(1)

OBS = spaces.Box(-1.0, 1.0, (3,), np.float32)
ACT = spaces.Box(-1.0, 1.0, (2,), np.float32)


def filled(buffer: ReplayBuffer, n: int, rng: np.random.Generator) -> ReplayBuffer:
    for _ in range(n):
        def obs() -> Any:
            if isinstance(buffer.observation_space, spaces.Dict):
                return {k: rng.normal(size=(buffer.n_envs, *s.shape)).astype(np.float32)
                        for k, s in buffer.observation_space.spaces.items()}
            return rng.normal(size=(buffer.n_envs, 3)).astype(np.float32)
        done = rng.random(buffer.n_envs) < 0.1
        infos = [{"TimeLimit.truncated": bool(d and rng.random() < 0.5)} for d in done]
        buffer.add(obs(), obs(), rng.normal(size=(buffer.n_envs, 2)).astype(np.float32),
                   rng.normal(size=buffer.n_envs).astype(np.float32), done, infos)
    return buffer


def assert_equal_samples(a: Any, b: Any) -> None:
    for x, y in zip(a, b, strict=True):
        if isinstance(x, dict):
            assert x.keys() == y.keys()
            for k in x:
                assert x[k].dtype == y[k].dtype and th.equal(x[k], y[k])
        elif x is None:
            assert y is None
        else:
            assert x.dtype == y.dtype and th.equal(x, y)


@pytest.mark.parametrize("kind", ["plain", "two_envs", "memory", "memory_full", "dict", "normalized"])
def test_minibatches_equal_sb3_sample_calls(kind: str) -> None:
    rng = np.random.default_rng(0)
    n_envs = 2 if kind in ("two_envs", "dict", "normalized") else 1
    kwargs: dict[str, Any] = {}
    if kind.startswith("memory"):
        kwargs = {"optimize_memory_usage": True, "handle_timeout_termination": False}
    if kind == "dict":
        space = spaces.Dict({"a": spaces.Box(-1, 1, (2,), np.float32), "b": spaces.Box(-1, 1, (1,), np.float32)})
        buffer: ReplayBuffer = DictReplayBuffer(40, space, ACT, n_envs=n_envs)
    else:
        buffer = ReplayBuffer(40, OBS, ACT, n_envs=n_envs, **kwargs)
    filled(buffer, 55 if kind == "memory_full" else 30, rng)
    env = None
    if kind == "normalized":
        env = VecNormalize(make_vec_env("Pendulum-v1", n_envs=2))
        env.obs_rms.mean, env.ret_rms.var = np.array([0.3, -0.2, 1.0]), np.array(2.5)
    np.random.seed(3)
    expected = [buffer.sample(8, env=env) for _ in range(4)]
    state = np.random.get_state()[1].copy()
    np.random.seed(3)
    whole, batches = sample_minibatches(buffer, 8, 4, env)
    assert np.array_equal(np.random.get_state()[1], state)  # the same draws, in the same order
    assert len(batches) == 4
    for got, want in zip(batches, expected, strict=True):
        assert_equal_samples(got, want)
    assert len(whole.actions) == 32


def test_other_buffers_are_sampled_through_their_own_sample() -> None:
    class Mine(ReplayBuffer):
        calls = 0

        def sample(self, batch_size: int, env: Any = None) -> Any:
            Mine.calls += 1
            return super().sample(batch_size, env)

    buffer = filled(Mine(40, OBS, ACT), 30, np.random.default_rng(0))
    np.random.seed(1)
    expected = [ReplayBuffer.sample(buffer, 8) for _ in range(3)]
    np.random.seed(1)
    whole, batches = sample_minibatches(buffer, 8, 3, None)
    assert Mine.calls == 3
    for got, want in zip(batches, expected, strict=True):
        assert_equal_samples(got, want)
    assert th.equal(whole.observations, th.cat([b.observations for b in expected]))


def linear_stack(n: int = 2, activation: type[th.nn.Module] = th.nn.ReLU) -> list[th.nn.Sequential]:
    th.manual_seed(0)
    return [th.nn.Sequential(th.nn.Linear(3, 5), activation(), th.nn.Linear(5, 4), activation(), th.nn.Linear(4, 1))
            for _ in range(n)]


def test_flat_params_keep_modules_and_state_dicts() -> None:
    nets = linear_stack()
    before = [copy.deepcopy(net.state_dict()) for net in nets]
    flat = stacked_params(nets)
    for net, state in zip(nets, before):
        for key, value in net.state_dict().items():
            assert th.equal(value, state[key])  # same values, same keys and shapes
    assert flat.views[0].shape == (2, 5, 3) and th.equal(flat.views[0][1], nets[1][0].weight)
    with th.no_grad():
        flat.flat.add_(1.0)  # the modules see changes of the flat tensor...
    assert th.equal(nets[1][4].bias, before[1]["4.bias"] + 1)
    assert flat.is_bound()
    nets[0][0].weight.data = nets[0][0].weight.data.clone()  # ...until a parameter moves
    assert not flat.is_bound()


def test_flat_polyak_equals_sb3_polyak_update() -> None:
    source, target = linear_stack(), linear_stack()
    with th.no_grad():
        for p in (q for net in target for q in net.parameters()):
            p.mul_(0.3)
    expected = copy.deepcopy(target)
    polyak_update([p for n in source for p in n.parameters()], [p for n in expected for p in n.parameters()], 0.005)
    polyak(stacked_params(target), stacked_params(source), 0.005)
    for net, want in zip(target, expected):
        for p, q in zip(net.parameters(), want.parameters()):
            assert th.equal(p, q)


def autograd_forward(layers: list[Any], weights: list[th.Tensor], x: th.Tensor, stacked: bool) -> th.Tensor:
    """The operations :class:`MLP` runs, recorded by autograd."""
    h, i = x, 0
    for layer in layers:
        if layer is not None:
            h = layer(h)
            continue
        w, b = weights[i], weights[i + 1]
        i += 2
        if stacked:
            h = th.baddbmm(b.unsqueeze(1), h.expand(w.shape[0], *h.shape) if h.dim() == 2 else h, w.transpose(1, 2))
        else:
            h = th.nn.functional.linear(h, w, b)
    return h


@pytest.mark.parametrize("activation", [th.nn.ReLU, th.nn.Tanh, th.nn.ELU])
@pytest.mark.parametrize("stacked", [True, False])
def test_mlp_by_hand_equals_autograd(activation: type[th.nn.Module], stacked: bool) -> None:
    """Outputs, parameter gradients (written into the flat gradient) and input gradients: bit for bit
    against autograd on the same operations (ELU: through autograd on its own input, to rounding),
    and to rounding against the modules."""
    nets = linear_stack(2 if stacked else 1, activation)
    modules = copy.deepcopy(nets)
    flat = stacked_params(nets) if stacked else mlp_params(nets[0])
    layers = structure(nets[0])
    mlp = MLP(layers, stacked=stacked)
    x = th.randn(16, 3)
    upstream = th.randn(len(nets), 16, 1)
    if not stacked:
        upstream = upstream[0]
    leaves = [v.detach().clone().requires_grad_(True) for v in flat.views]
    x_ref = x.clone().requires_grad_(True)
    want = autograd_forward(layers, leaves, x_ref, stacked)
    (want * upstream).sum().backward()
    saved = Saved()
    out = mlp.forward(flat.views, x, saved)
    grad_x = mlp.backward(flat.views, saved, upstream, flat.grad_views, input_grad=True)
    tolerance = {"rtol": 0.0, "atol": 0.0} if activation is not th.nn.ELU else {"rtol": 1e-6, "atol": 1e-7}
    th.testing.assert_close(out, want.detach(), rtol=0.0, atol=0.0)
    assert grad_x is not None and x_ref.grad is not None
    th.testing.assert_close(grad_x, x_ref.grad, **tolerance)
    for got, leaf in zip(flat.grad_views, leaves):
        assert leaf.grad is not None
        th.testing.assert_close(got, leaf.grad, **tolerance)
    per_net = th.stack([net(x) for net in modules]) if stacked else modules[0](x)
    th.testing.assert_close(out, per_net, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("hooked", [False, True])
def test_flat_adam_steps_like_adam(hooked: bool) -> None:
    nets, reference = linear_stack(), linear_stack()
    flat = stacked_params(nets)
    params = [p for net in nets for p in net.parameters()]
    optimizer = th.optim.Adam(params, lr=1e-2, weight_decay=0.01)
    ref_params = [p for net in reference for p in net.parameters()]
    ref_optimizer = th.optim.Adam(ref_params, lr=1e-2, weight_decay=0.01)
    calls = []
    if hooked:  # a step hook (e.g. a fine-tuning regulariser) makes it step the ordinary way
        optimizer.register_step_pre_hook(lambda *args: calls.append(1))
    adam = FlatAdam(optimizer, flat)
    x = th.randn(16, 3)
    position = {id(p): offset for p, offset in zip(flat.params, flat.offsets)}
    for _ in range(3):
        adam.prepare()
        ref_optimizer.zero_grad()
        sum(net(x).pow(2).mean() for net in reference).backward()  # type: ignore[union-attr]
        for p, q in zip(params, ref_params):  # the same gradient into the flat gradient
            assert q.grad is not None
            flat.grad[position[id(p)] : position[id(p)] + p.numel()] = q.grad.reshape(-1)
        adam.step(flat.grad)
        ref_optimizer.step()
    assert len(calls) == (3 if hooked else 0)
    for p, q in zip(params, ref_params):
        th.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)
    state, ref_state = optimizer.state_dict(), ref_optimizer.state_dict()
    assert state["state"].keys() == ref_state["state"].keys()
    for i, kept in state["state"].items():
        assert float(kept["step"]) == float(ref_state["state"][i]["step"]) == 3.0
        th.testing.assert_close(kept["exp_avg_sq"], ref_state["state"][i]["exp_avg_sq"], rtol=1e-6, atol=1e-9)
    optimizer.load_state_dict(ref_optimizer.state_dict())  # a loaded state is re-bound, values kept
    adam.prepare()
    adam.step(th.zeros_like(flat.flat))
    assert float(optimizer.state[params[0]]["step"]) == 4.0


def test_stacked_critics_and_closed_form_actor_match_sb3_modules() -> None:
    th.manual_seed(0)
    kwargs = {"observation_space": OBS, "action_space": ACT, "features_extractor": FlattenExtractor(OBS),
              "features_dim": 3}
    critic = ContinuousCritic(net_arch=[8, 8], n_critics=3, **kwargs)
    actor = Actor(net_arch=[8, 8], **kwargs)
    obs, act = th.randn(16, 3), th.rand(16, 2) * 2 - 1
    want = th.cat(critic(obs, act), dim=1)
    flat = stacked_params(critic.q_networks)
    got = MLP(structure(critic.q_networks[0]), stacked=True).forward(flat.views, th.cat([obs, act], dim=1))
    th.testing.assert_close(got[..., 0].T, want, rtol=1e-6, atol=1e-6)
    # the actor: SB3's action_log_prob and its gradients against the closed form by hand
    th.manual_seed(5)
    want_action, want_log_prob = actor.action_log_prob(obs)
    grad_action, grad_log_prob = th.randn(16, 2), th.randn(16)
    actor.zero_grad()
    ((want_action * grad_action).sum() + (want_log_prob * grad_log_prob).sum()).backward()
    actor_flat = squashed_actor_params(actor)
    mlp = MLP([*structure(actor.latent_pi), None], stacked=False)
    th.manual_seed(5)
    saved = Saved()
    action, log_prob, sample = squashed_sample(mlp.forward(actor_flat.views, obs, saved), 2, actor.action_dist.epsilon)
    th.testing.assert_close(action, want_action, rtol=1e-6, atol=1e-6)
    th.testing.assert_close(log_prob, want_log_prob, rtol=1e-6, atol=1e-6)
    mlp.backward(actor_flat.views, saved, sample.backward(grad_action, grad_log_prob), actor_flat.grad_views)
    for p, offset in zip(actor_flat.params, actor_flat.offsets):
        assert p.grad is not None
        th.testing.assert_close(actor_flat.grad[offset : offset + p.numel()].view_as(p), p.grad, rtol=1e-5, atol=1e-6)


def quantile_case() -> tuple[th.Tensor, th.Tensor]:
    th.manual_seed(0)
    return th.randn(2, 32, 5) * 2, th.sort(th.randn(32, 8) * 2).values.unsqueeze(1)


def assert_quantile_loss_matches(function: Any) -> None:
    current, target = quantile_case()
    leaf = current.clone().requires_grad_(True)
    want = quantile_huber_loss(leaf.transpose(0, 1), target, sum_over_quantiles=False)
    want.backward()
    loss, grad = function(current, target)
    th.testing.assert_close(loss, want.detach(), rtol=1e-6, atol=1e-7)
    assert leaf.grad is not None
    th.testing.assert_close(grad, leaf.grad, rtol=1e-5, atol=1e-9)


def test_quantile_loss_and_gradient_equal_sb3_contrib() -> None:
    assert_quantile_loss_matches(quantile.eager_loss_and_grad)


@pytest.mark.slow
def test_compiled_quantile_loss_equals_sb3_contrib() -> None:
    """Compiling takes tens of seconds on a small machine."""
    assert_quantile_loss_matches(lambda c, t: quantile.loss_and_grad(c, t, compiled=True))
    assert "failed" not in quantile._compiled


def test_flat_params_of_one_tensor() -> None:
    log_ent_coef = th.zeros(1, requires_grad=True)
    flat = FlatParams([([log_ent_coef], (1,))])
    with th.no_grad():
        flat.flat.fill_(2.0)
    assert log_ent_coef.detach().item() == 2.0
