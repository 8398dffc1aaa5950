"""Pretraining with a centralised or privileged critic (MAPPO, AsymmetricPPO)."""

from __future__ import annotations

from pathlib import Path

import imitation_testing as it
import numpy as np
import pytest
import torch as th
from stable_baselines3.common.logger import configure

from hlynr.algos.builder import build_model
from hlynr.algos.centralised import MAPPO
from hlynr.config import validate_config
from hlynr.envs.factory import build_vec_env
from hlynr.imitation.actor import ActorView
from hlynr.imitation.pretrain import run_pretraining
from hlynr.imitation.terms import rollout_source
from hlynr.runs.progress_log import ProgressLog, read_progress
from hlynr.training.runner import start_run


def _records(path: Path, kind: str) -> list[dict]:
    return [r for r in read_progress(path) if r["type"] == kind]


@pytest.mark.parametrize("algo,method", [("AsymmetricPPO", "bc"), ("MAPPO", "dagger")])
def test_the_actor_clones_the_teacher_from_local_observations(runs_dir: Path, algo: str,
                                                              method: str) -> None:
    data = it.rows_config(algo, total_timesteps=128)
    data["pretrain"].update(epochs=12)
    if method == "dagger":
        data["pretrain"].update(method="dagger", rounds=2,
                                student_prob={"schedule": "linear", "start": 0.0, "end": 1.0})
    run = start_run(validate_config(data), runs_dir=runs_dir).run_dir
    epochs = _records(run / "progress.jsonl", "pretrain")
    assert epochs[-1]["agreement"] > 0.95
    rounds = [r for r in _records(run / "progress.jsonl", "event") if r["event"] == "pretrain_round"]
    assert [r["student_prob"] for r in rounds] == ([0.0] if method == "bc" else [0.0, 1.0])
    clone = MAPPO.load(run / "pretrain" / "model.zip", device="cpu")  # no env, no global state
    obs = np.random.default_rng(4).uniform(-1, 1, (300, 4)).astype(np.float32)
    act, _ = clone.predict(obs, deterministic=True)
    assert np.mean(np.abs(act - it.teacher_law(obs, 1.0)) < 0.1) > 0.9


def _pretrained(tmp_path: Path, normalise: bool, **pretrain) -> tuple[MAPPO, list[dict]]:
    data = it.rows_config("AsymmetricPPO", total_timesteps=128)
    data["algo"]["hyperparams"]["value_normalisation"] = normalise
    data["pretrain"].update(steps=400, epochs=2, **pretrain)
    cfg = validate_config(data)
    venv = build_vec_env(cfg, observation_tap=True)
    model = build_model(cfg, venv)
    model.set_logger(configure(None, []))
    run_pretraining(model, venv, cfg, tmp_path, ProgressLog(tmp_path / "progress.jsonl"))
    return model, [r for r in read_progress(tmp_path / "progress.jsonl") if "warmup_rollout" in r]


@pytest.mark.parametrize("normalise", [True, False])
def test_warmup_fits_the_centralised_critic_in_its_own_units(tmp_path: Path, normalise: bool) -> None:
    warm = {"rollouts": 2, "epochs": 40, "learning_rate": 0.01}
    model, rounds = _pretrained(tmp_path, normalise, critic_warmup=warm)
    assert len(rounds) == 2
    for r in rounds:  # raw returns (about -7) are slower to fit than normalised ones
        assert r["value_loss_after"] < (0.8 if normalise else 0.95) * r["value_loss_before"]
    vn = model.policy.value_norm
    beta = vn.beta
    if normalise:  # two rollouts folded into the statistics, as two MAPPO updates would
        assert vn.debiasing_term.item() == pytest.approx(1 - beta**2, rel=1e-9)
        mean, var = vn.mean_var()
        assert mean.item() < 0 and var.item() > vn.var_min  # rewards are -(a - teacher)^2
    else:  # no statistics; the critic predicts returns
        assert vn.debiasing_term.item() == 0.0
        rows = th.randn(5, 5)
        th.testing.assert_close(model.policy.values_from_critic(rows),
                                model.policy.critic_values(rows))
    cloned = MAPPO.load(tmp_path / "pretrain" / "model.zip").policy.state_dict()
    now = model.policy.state_dict()
    changed = {k for k in now if not th.equal(now[k], cloned[k])}
    assert changed and all(k.startswith(("critic_body", "value_net", "value_norm"))
                           for k in changed), changed
    if not normalise:
        return
    # the fitted critic, denormalised with the updated statistics, predicts this rollout's
    # returns in return units better than their mean does
    buf = model.rollout_buffer
    _, critic = model.split_rows(th.as_tensor(buf.observations).reshape(-1, 9))
    with th.no_grad():
        pred = model.policy.values_from_critic(critic).flatten().numpy()
    ret = buf.returns.reshape(-1)
    # the returns depend on the steps left, which no row shows: a critic explains part of them
    assert np.mean((pred - ret) ** 2) < 0.8 * np.var(ret)


def test_the_kl_regulariser_reads_the_local_part_of_the_rows(tmp_path: Path) -> None:
    model, _ = _pretrained(tmp_path, True, critic_warmup={"rollouts": 1, "epochs": 1})
    view = ActorView(model)
    obs = rollout_source(view, np.random.default_rng(0))(32)
    rows = model.rollout_buffer.observations.reshape(-1, 9)
    assert obs.shape == (32, 4)
    for o in obs:  # every sample is the local block of one stored row
        assert (np.abs(rows[:, :4] - o).max(axis=1) == 0).any()


def test_mappo_pretrains_on_the_batched_swarm(runs_dir: Path) -> None:
    data = {"name": "swarm_mappo_bc", "seed": 0, "total_timesteps": 320,
            "env": {"type": "pettingzoo", "id": "hlynr/Swarm-v0", "vectoriser": "batched",
                    "kwargs": {"stage": "basic", "max_agents": 5, "k_neighbours": 3},
                    "n_envs": 4},
            "wrappers": [{"normalize": {"norm_obs": True, "norm_reward": False}}],
            "algo": {"name": "MAPPO", "hyperparams": {"n_steps": 16, "batch_size": 320,
                                                      "n_epochs": 2},
                     "policy_kwargs": {"net_arch": [64, 64]}},
            "pretrain": {"teacher": {"name": "swarm_intercept_point"}, "method": "dagger",
                         "rounds": 2, "student_prob": 0.5, "steps": 3200, "epochs": 6,
                         "batch_size": 256, "learning_rate": 3.0e-3, "loss": "mse",
                         "critic_warmup": {"rollouts": 2, "epochs": 20},
                         "regularizer": {"loss": "kl", "weight": 1.0}}}
    run = start_run(validate_config(data), runs_dir=runs_dir).run_dir
    log = run / "progress.jsonl"
    epochs = [r for r in _records(log, "pretrain") if "agreement" in r]
    assert epochs[-1]["agreement"] > epochs[0]["agreement"]
    # unflown slots are masked: 2 rounds x 80 steps x 4 copies x 3 flown slots, plus the 2
    # unflown slots of each copy on the first step of each round (a reset row counts as live)
    assert epochs[-1]["dataset_size"] == 2 * 80 * 4 * 3 + 2 * 4 * 2
    for r in [r for r in _records(log, "pretrain") if "warmup_rollout" in r]:
        assert r["value_loss_after"] < r["value_loss_before"]
    clone = MAPPO.load(run / "pretrain" / "model.zip", device="cpu")
    assert clone.policy.value_norm.debiasing_term.item() == 0.0  # saved before the warm-up


def test_clone_mvp_into_an_attention_policy_with_a_centralised_critic(runs_dir: Path) -> None:
    """Cloning, MAPPO and the attention extractor in one config, then fine-tuning."""
    import json

    from hlynr.algos.attention import AttentionExtractor

    data = {"name": "atc_mappo_attention", "seed": 0, "total_timesteps": 512,
            "env": {"type": "pettingzoo", "id": "hlynr/ATC-v0", "vectoriser": "batched",
                    "kwargs": {"scenario": "head_on", "max_aircraft": 4, "n_aircraft": 4,
                               "k_intruders": 3}, "n_envs": 8},
            "wrappers": [{"normalize": {"norm_obs": True, "norm_reward": False}}],
            "algo": {"name": "MAPPO", "hyperparams": {"n_steps": 16, "batch_size": 512,
                                                      "n_epochs": 2},
                     "policy_kwargs": {"net_arch": [64], "features_extractor_class": "attention",
                                       "features_extractor_kwargs": {"heads": 2, "key_dim": 8,
                                                                     "mlp": [64]}}},
            "callbacks": [{"checkpoint": {"every": 512}}],  # one rollout of 32 rows x 16
            "pretrain": {"teacher": {"name": "mvp"}, "steps": 4096, "epochs": 6,
                         "batch_size": 256, "learning_rate": 3.0e-3, "loss": "mse",
                         "critic_warmup": {"rollouts": 1, "epochs": 10},
                         "regularizer": {"loss": "kl", "weight": 1.0}}}
    run = start_run(validate_config(data), runs_dir=runs_dir).run_dir
    log = run / "progress.jsonl"
    epochs = [r for r in _records(log, "pretrain") if "agreement" in r]
    # agreement on live aircraft rows only (rows past their exit are masked out)
    assert epochs[-1]["agreement"] > 0.75 and epochs[-1]["agreement"] > epochs[0]["agreement"]
    (warm,) = [r for r in _records(log, "pretrain") if "warmup_rollout" in r]
    assert warm["value_loss_after"] < warm["value_loss_before"]
    (ckpt,) = sorted((run / "checkpoints").iterdir())
    state = json.loads((ckpt / "meta.json").read_text())["state"]["pretrain_regularizer"]
    assert state["updates"] > 0 and state["weight"] == 1.0
    clone = MAPPO.load(run / "pretrain" / "model.zip", device="cpu")
    assert isinstance(clone.policy.pi_features_extractor, AttentionExtractor)
    obs = np.zeros((3, *clone.observation_space.shape), np.float32)
    act, _ = clone.predict(obs, deterministic=True)  # local observations only
    assert act.shape == (3, *clone.action_space.shape)
