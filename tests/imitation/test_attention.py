"""The attention features extractor: masking, slot order, no valid slot, every algorithm."""

from __future__ import annotations

import json
from pathlib import Path

import imitation_testing as it
import numpy as np
import pytest
import torch as th
from gymnasium import spaces

from hlynr.algos.attention import AttentionExtractor, attention_extractors
from hlynr.config import ConfigError, validate_config
from hlynr.registries import EntityLayout
from hlynr.runs.progress_log import read_progress
from hlynr.training.runner import start_run

LAYOUT = EntityLayout(own_size=2, slot_size=3, slots=4, valid_index=2)
SPACE = spaces.Box(-1, 1, (14,), np.float32)


def _extractor() -> AttentionExtractor:
    th.manual_seed(0)
    return AttentionExtractor(SPACE, LAYOUT, heads=2, key_dim=4, mlp=[16])


def _obs(n: int = 32, seed: int = 0) -> th.Tensor:
    rng = np.random.default_rng(seed)
    obs = rng.uniform(-1, 1, (n, 14)).astype(np.float32)
    slots = obs[:, 2:].reshape(n, 4, 3)
    slots[..., 2] = rng.random((n, 4)) < 0.6
    return th.as_tensor(obs)


def test_invalid_slot_contents_change_nothing() -> None:
    ext = _extractor()
    obs = _obs()
    out = ext(obs)
    changed = obs.clone()
    slots = changed[:, 2:].view(-1, 4, 3)
    invalid = slots[..., 2] < 0.5
    slots[..., :2][invalid] = 123.0
    th.testing.assert_close(ext(changed), out)
    assert ext.last_weights[invalid].abs().max() == 0


def test_slot_order_changes_nothing() -> None:
    ext = _extractor()
    obs = _obs()
    out = ext(obs)
    perm = th.tensor([2, 0, 3, 1])
    shuffled = th.cat([obs[:, :2], obs[:, 2:].view(-1, 4, 3)[:, perm].reshape(-1, 12)], dim=1)
    th.testing.assert_close(ext(shuffled), out, rtol=1e-5, atol=1e-6)


def test_no_valid_slot_gives_finite_features_and_zero_attention() -> None:
    ext = _extractor()
    obs = _obs()
    obs[:, 2:].view(-1, 4, 3)[..., 2] = 0.0
    out = ext(obs)
    assert th.isfinite(out).all()
    assert ext.last_weights.abs().max() == 0
    out.sum().backward()  # and finite gradients
    assert all(th.isfinite(p.grad).all() for p in ext.parameters() if p.grad is not None)
    assert ext.pop_sharpness() is None


def test_wrong_observation_size_is_rejected() -> None:
    with pytest.raises(ValueError, match="flat observations of 14"):
        AttentionExtractor(spaces.Box(-1, 1, (28,), np.float32), LAYOUT)


def _config(algo: str, **pretrain) -> dict:
    pk: dict = {"features_extractor_class": "attention",
                "features_extractor_kwargs": {"heads": 2, "key_dim": 8, "mlp": [32]},
                "net_arch": [32]}
    hp: dict = {"n_steps": 32, "batch_size": 64, "n_epochs": 2}
    if algo == "RecurrentPPO":
        pk["lstm_hidden_size"] = 8
    if algo == "SAC":
        hp = {"learning_starts": 64, "batch_size": 32, "train_freq": 8}
    data = {"name": "slots", "seed": 1, "total_timesteps": 256,
            "env": {"id": it.SLOTS_ID, "n_envs": 4},
            "algo": {"name": algo, "hyperparams": hp, "policy_kwargs": pk}}
    if pretrain:
        data["pretrain"] = pretrain
    return data


@pytest.mark.parametrize("algo", ["PPO", "RecurrentPPO", "SAC"])
def test_every_algorithm_uses_it_in_actor_and_critic(runs_dir: Path, algo: str) -> None:
    run = start_run(validate_config(_config(algo)), runs_dir=runs_dir)
    from hlynr.algos.builder import load_model

    model = load_model(validate_config(_config(algo)), run.run_dir / "final" / "model.zip")
    found = attention_extractors(model.policy)
    if algo == "SAC":  # separate extractors for the actor and the critics
        assert model.policy.actor.features_extractor in found
        assert model.policy.critic.features_extractor in found
    else:
        assert isinstance(model.policy.features_extractor, AttentionExtractor)
    assert found[0].layout == LAYOUT  # read from the env's declaration
    if algo != "SAC":
        rollouts = [r for r in read_progress(run.run_dir / "progress.jsonl") if r["type"] == "rollout"]
        sharp = [r["losses"]["attention_sharpness"] for r in rollouts
                 if "attention_sharpness" in r["losses"]]
        assert sharp and all(0.25 <= s <= 1.0 for s in sharp)


def test_clone_into_attention_policy_then_fine_tune_and_record_weights(
        runs_dir: Path, tmp_path: Path) -> None:
    from hlynr.cli.common import run_main
    from hlynr.cli.evaluate import main as evaluate_main

    data = _config("PPO", teacher={"name": "slots_teacher"}, steps=6000, epochs=25,
                   batch_size=128, learning_rate=3.0e-3, loss="mse", validation_fraction=0.1,
                   critic_warmup={"rollouts": 1, "epochs": 5},
                   regularizer={"loss": "bc", "weight": 0.5})
    run = start_run(validate_config(data), runs_dir=runs_dir).run_dir
    epochs = [r for r in read_progress(run / "progress.jsonl") if r["type"] == "pretrain"
              and "agreement" in r]
    assert epochs[-1]["agreement"] > 0.8
    out = tmp_path / "att.jsonl"
    assert run_main(evaluate_main, [str(run), "--which", "pretrain", "--episodes", "4",
                                    "--n-envs", "2", "--attention", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 2 * 2 * 8 and {r["row"] for r in rows} == {0, 1}
    for r in rows:
        w = np.array(r["weights"])
        assert np.all(w[~np.array(r["valid"])] == 0)
        assert abs(w.sum() - (1.0 if any(r["valid"]) else 0.0)) < 1e-5


def test_bad_extractor_kwargs_and_missing_layout() -> None:
    data = _config("PPO")
    data["algo"]["policy_kwargs"]["features_extractor_kwargs"] = {"head": 2}
    with pytest.raises(ConfigError, match="features_extractor_kwargs.*head"):
        validate_config(data)
    data = _config("PPO")
    data["algo"]["policy_kwargs"]["features_extractor_class"] = "atention"
    with pytest.raises(ConfigError, match="attention"):
        validate_config(data)
    from hlynr.algos.builder import BuildError, build_model
    from hlynr.envs.factory import build_vec_env

    data = it.follow_config(pretrain=None)
    data["algo"]["policy_kwargs"] = {"features_extractor_class": "attention"}
    cfg = validate_config(data)
    venv = build_vec_env(cfg)
    with pytest.raises(BuildError, match="declares no entity_layout"):
        build_model(cfg, venv)
    venv.close()


@pytest.mark.parametrize("extractor", ["attention", None])
def test_normalize_keeps_validity_flags_raw_for_a_slot_extractor(extractor: str | None, tmp_path: Path) -> None:
    """Standardised, a flag that is 1 on most rows falls below the extractor's 0.5 threshold and
    every slot is masked out; a policy that reads slots gets the flags as 0/1, an MLP the
    standardised observation as before."""
    import pickle

    from hlynr.envs.factory import build_vec_env
    from hlynr.envs.wrappers import SlotFlagsVecNormalize

    data = _config("PPO")
    data["wrappers"] = [{"normalize": {"norm_obs": True, "norm_reward": False}}]
    if extractor is None:
        data["algo"]["policy_kwargs"] = {"net_arch": [32]}
    venv = build_vec_env(validate_config(data))
    flags = [2 + 3 * i + 2 for i in range(4)]
    venv.reset()
    for _ in range(20):
        obs, *_ = venv.step(np.zeros((4, 1), np.float32))
    raw = venv.get_original_obs()
    assert not np.allclose(obs[:, :2], raw[:, :2])  # the rest is normalised
    if extractor is None:
        assert type(venv) is not SlotFlagsVecNormalize
        assert not np.allclose(obs[:, flags], raw[:, flags])
    else:
        assert isinstance(venv, SlotFlagsVecNormalize)
        np.testing.assert_array_equal(obs[:, flags], raw[:, flags])
        np.testing.assert_array_equal(venv.normalize_obs(raw)[:, flags], raw[:, flags])
        venv.save(str(tmp_path / "vn.pkl"))
        with (tmp_path / "vn.pkl").open("rb") as fh:
            saved = pickle.load(fh)
        np.testing.assert_array_equal(saved.raw_index, flags)
    venv.close()
