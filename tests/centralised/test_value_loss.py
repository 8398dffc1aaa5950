"""The centralised critics' value loss: MSE or MAPPO's Huber, on normalised targets, as configured."""

from __future__ import annotations

import numpy as np
import pytest
import torch as th
from torch.nn import functional as F

import hlynr  # noqa: F401  (registers the built-in envs)
from hlynr.algos.centralised import MAPPO, RecurrentMAPPO, value_loss_fn
from hlynr.config import ConfigError, validate_config
from hlynr.envs.swarm import make_batched_swarm

KW = {"stage": "basic", "max_steps": 40}


def test_huber_and_mse_losses_on_a_known_batch() -> None:
    pred = th.tensor([0.0, 1.0, -3.0, 12.0, 0.5], dtype=th.float64)
    target = th.tensor([0.5, -1.0, 3.0, -2.0, 0.5], dtype=th.float64)
    e = np.abs((pred - target).numpy())  # 0.5, 2, 6, 14, 0
    for delta in (10.0, 1.0):
        want = np.where(e <= delta, 0.5 * e**2, delta * (e - delta / 2)).mean()
        got = value_loss_fn("huber", delta)(pred, target)
        assert got.item() == pytest.approx(want, rel=1e-12)
        th.testing.assert_close(got, F.huber_loss(pred, target, delta=delta))
    assert value_loss_fn("huber", 10.0)(pred, target).item() == pytest.approx(
        (0.125 + 2 + 18 + 10 * (14 - 5) + 0) / 5)
    assert value_loss_fn("mse", None)(pred, target).item() == pytest.approx((e**2).mean())


def _mappo(value_loss: str = "mse", **kw: object) -> MAPPO:
    return MAPPO("MlpPolicy", make_batched_swarm(2, seed=0, **KW), n_steps=8, batch_size=80, seed=0,
                 device="cpu", value_loss=value_loss, **kw)


def test_value_loss_uses_normalised_targets_and_clipping() -> None:
    model = _mappo("huber", huber_delta=0.5, clip_range_vf=0.2)
    vn = model.policy.value_norm
    vn.update(th.tensor([3.0, 5.0, 9.0]))
    mean, std = vn.mean_var()[0].item(), vn.mean_var()[1].sqrt().item()
    values = th.tensor([0.0, 0.1, -2.0])  # normalised predictions
    returns, old = th.tensor([4.0, 20.0, 1.0]), th.tensor([mean, mean + 0.3 * std, mean - 1.9 * std])
    got = model._value_loss(values, returns, old, 0.2)
    n_ret, n_old = (returns.numpy() - mean) / std, (old.numpy() - mean) / std
    pred = n_old + np.clip(values.numpy() - n_old, -0.2, 0.2)
    e = np.abs(pred - n_ret)
    assert got.item() == pytest.approx(np.where(e <= 0.5, 0.5 * e**2, 0.5 * (e - 0.25)).mean(), rel=1e-5)


def test_constructor_defaults_and_refusals() -> None:
    assert _mappo().huber_delta is None and _mappo("huber").huber_delta == 10.0
    with pytest.raises(ValueError, match="value_loss must be one of mse, huber"):
        _mappo("l1")
    with pytest.raises(ValueError, match="huber_delta applies only with value_loss: huber"):
        _mappo("mse", huber_delta=1.0)
    with pytest.raises(ValueError, match="huber_delta must be a finite number > 0"):
        _mappo("huber", huber_delta=float("inf"))


def _first_value_loss(cls: type, value_loss: str, **kw: object) -> float:
    """The logged value loss of one update over one minibatch (computed before any step)."""
    policy, pk = ("MlpPolicy", {"net_arch": [16]}) if cls is MAPPO else (
        "MlpLstmPolicy", {"net_arch": [16], "lstm_hidden_size": 8})
    model = cls(policy, make_batched_swarm(2, seed=0, **KW), n_steps=8, batch_size=80, n_epochs=1,
                seed=0, device="cpu", policy_kwargs=pk, value_loss=value_loss, **kw)
    model.learn(80)
    return float(model.logger.name_to_value["train/value_loss"])


@pytest.mark.parametrize("cls", [MAPPO, RecurrentMAPPO])
def test_training_uses_the_configured_loss(cls: type) -> None:
    mse = _first_value_loss(cls, "mse")
    # same seed, same rollout, one minibatch: Huber is half the squared error inside delta ...
    assert _first_value_loss(cls, "huber") == pytest.approx(mse / 2, rel=1e-5)
    # ... and linear beyond it (normalised errors here are well above 1e-3)
    tiny = _first_value_loss(cls, "huber", huber_delta=1e-3)
    assert 0 < tiny < 1e-3 * np.sqrt(mse) * 1.01


def _config(**hyper: object) -> dict:
    return {"name": "x", "total_timesteps": 1000, "seed": 0,
            "env": {"type": "pettingzoo", "id": "hlynr/Swarm-v0", "vectoriser": "batched",
                    "kwargs": {"stage": "basic"}, "n_envs": 2},
            "algo": {"name": "RecurrentMAPPO", "hyperparams": {"n_steps": 8, "batch_size": 40, **hyper}}}


@pytest.mark.parametrize(("hyper", "message"), [
    ({"huber_delta": 2.0}, "huber_delta applies only with value_loss: huber"),
    ({"value_loss": "huber", "huber_delta": 0.0}, "out of range: must be > 0"),
    ({"value_loss": "l2"}, "Input should be 'mse' or 'huber'"),
])
def test_config_rejects_bad_value_loss_settings(hyper: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        validate_config(_config(**hyper))
    validate_config(_config(value_loss="huber", huber_delta=2.0))
