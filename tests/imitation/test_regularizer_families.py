"""The fine-tuning regulariser for RecurrentPPO (LSTM, GRU), SAC, TD3 and centralised critics."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import imitation_testing as it
import numpy as np
import pytest
import torch as th
from sb3_contrib import RecurrentPPO as Sb3RecurrentPPO
from stable_baselines3 import SAC, TD3
from stable_baselines3.common.logger import configure
from stable_baselines3.common.vec_env import DummyVecEnv

from hlynr.algos.centralised import MAPPO
from hlynr.algos.recurrent_ppo import RecurrentPPO
from hlynr.imitation.actor import ActorView
from hlynr.imitation.dataset import Dataset, Round
from hlynr.imitation.recurrent_kl import RecurrentKLTerm, SnapshotTrack
from hlynr.imitation.regularizer import FineTuneRegularizer
from hlynr.imitation.terms import kl_per_sample

LABEL = 0.5
"""The bc data set's label everywhere: not what RL on the follow env wants."""


def _venv(n: int = 4, horizon: int = 6) -> DummyVecEnv:
    venv = DummyVecEnv([lambda: it.FollowEnv(horizon=horizon) for _ in range(n)])
    venv.seed(0)
    return venv


def _recurrent(rnn_type: str = "lstm", layers: int = 1, **kw) -> RecurrentPPO:
    return RecurrentPPO("MlpLstmPolicy", _venv(), seed=0, **{"n_steps": 16, "batch_size": 32, **kw},
                        policy_kwargs={"lstm_hidden_size": 8, "net_arch": [16], "rnn_type": rnn_type,
                                       "n_lstm_layers": layers})


def _states(policy, n: int) -> tuple[th.Tensor, th.Tensor]:
    lstm = policy.lstm_actor
    h = th.zeros(lstm.num_layers, n, lstm.hidden_size)
    return h, h.clone()


def _step_by_step(policy, obs: np.ndarray, starts: np.ndarray, state=None) -> tuple[list, tuple]:
    """The inference path over (T, E, ...) observations, one step at a time.

    Returns the torch distributions (SB3 reuses its distribution object between calls).
    """
    state = state or _states(policy, starts.shape[1])
    dists = []
    with th.no_grad():
        for t in range(len(starts)):
            dist, state = policy.get_distribution(th.as_tensor(obs[t]), state,
                                                  th.as_tensor(starts[t], dtype=th.float32))
            dists.append(dist.distribution)
    return dists, state


def _kl(p, q) -> np.ndarray:
    """Per-sample KL(p || q) of two torch Normal distributions."""
    return th.distributions.kl_divergence(p, q).sum(dim=-1).numpy()


@pytest.mark.parametrize("rnn_type,layers", [("lstm", 2), ("gru", 1)])
def test_snapshot_track_equals_the_step_by_step_inference_path(rnn_type: str, layers: int) -> None:
    policy = _recurrent(rnn_type, layers).policy
    rng = np.random.default_rng(0)
    T, E = 9, 3
    track, state = SnapshotTrack(policy), None
    for rollout in range(2):  # the second rollout continues the first one's episodes
        obs = rng.uniform(-1, 1, (T, E, 4)).astype(np.float32)
        starts = np.zeros((T, E), np.float32)
        starts[0] = 1.0 if rollout == 0 else 0.0
        starts[4, 1] = starts[7, 2] = starts[1, 0] = 1.0
        track.run(obs, starts)
        ref, state = _step_by_step(policy, obs, starts, state)
        rows = th.as_tensor([e * T + t for t in range(T) for e in range(E)])
        got = track.distribution(rows).distribution.mean.reshape(T, E, -1)
        want = th.stack([d.mean for d in ref])
        th.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


def _collect(model) -> None:
    model.set_logger(configure(None, []))
    _, callback = model._setup_learn(10_000, callback=None)
    callback.on_training_start(locals(), globals())
    model.collect_rollouts(model.env, callback, model.rollout_buffer, model.n_steps)


@pytest.mark.parametrize("rnn_type", ["lstm", "gru", "sb3_contrib"])
def test_recurrent_kl_on_rollout_sequences_equals_the_step_by_step_kl(tmp_path: Path,
                                                                      rnn_type: str) -> None:
    if rnn_type == "sb3_contrib":  # sb3-contrib's own RecurrentPPO, buffers and policy
        model = Sb3RecurrentPPO("MlpLstmPolicy", _venv(), seed=0, n_steps=16, batch_size=32,
                                policy_kwargs={"lstm_hidden_size": 8, "net_arch": [16]})
    else:
        model = _recurrent(rnn_type)
    model.save(tmp_path / "snap.zip")
    snapshot = type(model).load(tmp_path / "snap.zip").policy
    _collect(model)
    buf = model.rollout_buffer
    obs, starts = buf.observations.copy(), buf.episode_starts.copy()
    total = buf.buffer_size * buf.n_envs
    same = RecurrentKLTerm(ActorView(model), snapshot, total, np.random.default_rng(0))
    same.on_rollout_end()
    assert abs(same().item()) < 1e-6  # an identical snapshot: the same states, the same actions
    with th.no_grad():
        for p in snapshot.parameters():
            p.add_(0.3 * th.randn_like(p))
    term = RecurrentKLTerm(ActorView(model), snapshot, total, np.random.default_rng(0))
    term.on_rollout_end()
    pol, _ = _step_by_step(model.policy, obs, starts)
    snap, _ = _step_by_step(snapshot, obs, starts)
    want = np.mean([_kl(p, q) for p, q in zip(snap, pol)])
    assert want > 1e-3
    before = term().item()  # the buffer as collected, then as the update flattens it
    next(buf.get(model.batch_size))
    assert before == pytest.approx(want, rel=1e-4)
    assert term().item() == pytest.approx(want, rel=1e-4)
    small = RecurrentKLTerm(ActorView(model), snapshot, 20, np.random.default_rng(1))
    small.on_rollout_end()  # from the flattened buffer: the same snapshot track
    th.testing.assert_close(small.track.latent, term.track.latent)
    loss = small()
    loss.backward()
    assert loss.item() > 0 and model.policy.lstm_actor.weight_ih_l0.grad.abs().sum() > 0


def _label_dataset() -> Dataset:
    rng = np.random.default_rng(3)
    T, N = 40, 4
    obs = rng.uniform(-1, 1, (T, N, 4)).astype(np.float32)
    starts = np.zeros((T, N), bool)
    starts[::8] = True
    return Dataset([Round(obs, np.full((T, N, 1), LABEL, np.float32), starts, np.ones((T, N), bool))])


def _model(family: str):
    if family.startswith("RecurrentPPO"):
        return _recurrent(family.split("-")[1], learning_rate=1e-2, n_epochs=4)
    if family == "AsymmetricPPO":
        return MAPPO("MlpPolicy", it.FollowRowsVecEnv(4), seed=0, n_steps=16, batch_size=32,
                     n_epochs=4, learning_rate=1e-2, policy_kwargs={"net_arch": [16]})
    cls = SAC if family == "SAC" else TD3
    return cls("MlpPolicy", _venv(), seed=0, learning_rate=3e-3, learning_starts=64,
               buffer_size=4000, batch_size=64, policy_kwargs={"net_arch": [16, 16]})


def _distance(model, snapshot, loss: str) -> float:
    """How far the model's actor is from the snapshot (kl, mse) or from the labels (bc)."""
    rng = np.random.default_rng(9)
    view, snap = ActorView(model), ActorView(snapshot)
    if view.recurrent:
        obs = rng.uniform(-1, 1, (12, 8, 4)).astype(np.float32)
        starts = np.zeros((12, 8), np.float32)
        starts[0] = 1.0
        pol, _ = _step_by_step(model.policy, obs, starts)
        if loss == "bc":
            return float(np.mean([((d.mean - LABEL) ** 2).mean() for d in pol]))
        ref, _ = _step_by_step(snapshot.policy, obs, starts)
        return float(np.mean([_kl(p, q).mean() for p, q in zip(ref, pol)]))
    obs = th.as_tensor(rng.uniform(-1, 1, (256, 4)).astype(np.float32))
    with th.no_grad():
        if loss == "bc":
            target = view.target(np.full((256, 1), LABEL, np.float32))
            return float(((view.mean(obs) - target) ** 2).mean())
        if loss == "mse":
            return float(((view.mean(obs) - snap.mean(obs)) ** 2).mean())
        return float(kl_per_sample(snap.distribution(obs), view.distribution(obs)).mean())


@pytest.mark.parametrize("family,loss,weight", [
    ("RecurrentPPO-lstm", "kl", 10.0), ("RecurrentPPO-gru", "kl", 10.0),
    ("RecurrentPPO-lstm", "bc", 1.0), ("SAC", "kl", 10.0), ("SAC", "bc", 1.0),
    ("TD3", "mse", 10.0), ("TD3", "bc", 1.0), ("AsymmetricPPO", "kl", 10.0),
])
def test_the_regulariser_pulls_the_actor_toward_the_snapshot(tmp_path: Path, family: str,
                                                            loss: str, weight: float) -> None:
    distances = {}
    for w in (0.0, weight):
        model = _model(family)
        model.save(tmp_path / "snap.zip")
        snapshot = type(model).load(tmp_path / "snap.zip", device="cpu")
        params = SimpleNamespace(loss=loss, weight=w, batch_size=64)
        reg = FineTuneRegularizer(params, 512, snapshot=None if loss == "bc" else snapshot,
                                  dataset=_label_dataset() if loss == "bc" else None, seed=0)
        model.learn(320 if family in ("SAC", "TD3") else 512, callback=reg)
        assert reg.updates > 0 if w else reg.updates == 0
        assert reg._handle is None  # the hook is removed when training ends
        distances[w] = _distance(model, snapshot, loss)
    assert distances[0.0] > 0
    assert distances[weight] < 0.2 * distances[0.0], distances


def test_the_hook_is_on_the_actor_optimizer_for_off_policy_models(tmp_path: Path) -> None:
    model = _model("TD3")
    model.save(tmp_path / "snap.zip")
    snapshot = TD3.load(tmp_path / "snap.zip", device="cpu")
    reg = FineTuneRegularizer(SimpleNamespace(loss="mse", weight=1.0, batch_size=16), 256,
                              snapshot=snapshot)
    reg.init_callback(model)
    reg.on_training_start({}, {})
    assert len(model.actor.optimizer._optimizer_step_pre_hooks) == 1
    assert not model.critic.optimizer._optimizer_step_pre_hooks
    assert all(not p.requires_grad for p in snapshot.policy.parameters())
