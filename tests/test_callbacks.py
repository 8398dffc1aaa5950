"""Callbacks on short runs and on synthetic evaluation sequences."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from hlynr_testing import coin_config

from hlynr.callbacks.best_model import BestModelParams, BestModelSaver
from hlynr.callbacks.collapse import CollapseGuard, CollapseGuardParams
from hlynr.callbacks.stopping import (
    EarlyStopping,
    EarlyStoppingParams,
    SuccessStreak,
    SuccessStreakParams,
)
from hlynr.config import validate_config
from hlynr.registries import EvalResult, MetricError
from hlynr.runs.progress_log import ProgressLog, read_progress
from hlynr.training.runner import start_run


def result(t: int, success: float, reward: float = 0.0) -> EvalResult:
    return EvalResult(t, {"success_rate": success, "mean_reward": reward}, {}, None)


def fake_ctx(tmp_path: Path) -> Any:
    return SimpleNamespace(run_dir=tmp_path, log=ProgressLog(tmp_path / "progress.jsonl"))


def events(run_dir: Path, name: str) -> list[dict]:
    return [r for r in read_progress(run_dir / "progress.jsonl") if r.get("event") == name]


def test_early_stopping_counts_evaluations_without_min_delta_improvement(tmp_path: Path) -> None:
    stop = EarlyStopping(EarlyStoppingParams(patience=2, min_delta=0.05), fake_ctx(tmp_path))
    seq = [0.1, 0.2, 0.22, 0.24, 0.5, 0.52, 0.53]
    keep = [stop.on_evaluation(result(i, s), None) for i, s in enumerate(seq)]
    # 0.22 and 0.24 do not beat 0.2 by 0.05 -> stop at the 4th evaluation
    assert keep == [True, True, True, False, True, True, False]


def test_success_streak_needs_consecutive_evaluations(tmp_path: Path) -> None:
    streak = SuccessStreak(SuccessStreakParams(threshold=0.9, count=2), fake_ctx(tmp_path))
    keep = [streak.on_evaluation(result(i, s), None) for i, s in enumerate([0.95, 0.5, 0.9, 0.91])]
    assert keep == [True, True, True, False]


def test_collapse_guard_stop_on_synthetic_sequence(tmp_path: Path) -> None:
    """The seed-003 pattern: peak 22 %, then a slide to 0 %."""
    guard = CollapseGuard(CollapseGuardParams(fraction=0.5, patience=3), fake_ctx(tmp_path))
    seq = [0.1, 0.22, 0.2, 0.1, 0.12, 0.05, 0.0, 0.0]
    keep = [guard.on_evaluation(result(i, s), None) for i, s in enumerate(seq)]
    # below 0.11 (= 0.5 x 0.22): 0.1 (1), 0.12 resets, 0.05 (1), 0.0 (2), 0.0 (3) -> stop
    assert keep == [True] * 7 + [False]
    assert guard.peak == pytest.approx(0.22) and guard.peak_timesteps == 1
    noisy = CollapseGuard(CollapseGuardParams(min_peak=0.05, patience=1), fake_ctx(tmp_path))
    assert all(noisy.on_evaluation(result(i, s), None) for i, s in enumerate([0.04, 0.0, 0.0]))


def test_collapse_guard_restore_puts_back_peak_weights_and_scales_lr(tmp_path: Path) -> None:
    from stable_baselines3 import PPO

    model = PPO("MlpPolicy", "CartPole-v1", n_steps=32, batch_size=32, learning_rate=1e-3,
                policy_kwargs={"net_arch": [8]}, seed=0)
    guard = CollapseGuard(CollapseGuardParams(action="restore", patience=1, lr_scale=0.5),
                          fake_ctx(tmp_path))
    guard.on_evaluation(result(0, 0.8), model)
    peak = {k: v.clone() for k, v in model.policy.state_dict().items()}
    with torch.no_grad():
        for p in model.policy.parameters():
            p.add_(1.0)
    assert guard.on_evaluation(result(1, 0.1), model)  # restored, training goes on
    for k, v in model.policy.state_dict().items():
        assert torch.equal(v, peak[k]), k
    assert model.lr_schedule(1.0) == pytest.approx(5e-4)
    assert guard.restores == 1
    state = guard.state_dict()
    other = CollapseGuard(CollapseGuardParams(action="restore"), fake_ctx(tmp_path))
    other.load_state_dict(state)
    other.apply_lr_scale(model)  # idempotent: not scaled twice
    assert model.lr_schedule(1.0) == pytest.approx(5e-4)


def test_best_model_saved_only_on_improvement_with_tie_break(tmp_path: Path) -> None:
    from stable_baselines3 import PPO

    model = PPO("MlpPolicy", "CartPole-v1", n_steps=32, batch_size=32,
                policy_kwargs={"net_arch": [8]}, seed=0)
    saver = BestModelSaver(BestModelParams(), fake_ctx(tmp_path))
    seq = [(0.5, 1.0), (0.4, 9.0), (0.5, 2.0), (0.5, 1.5), (0.7, 0.0)]
    for i, (s, r) in enumerate(seq):
        saver.on_evaluation(result(100 * i, s, r), model)
    assert saver.saves == 3  # 0.5/1.0, then the tie broken by reward 2.0, then 0.7
    meta = json.loads((tmp_path / "best" / "meta.json").read_text())
    assert meta["timesteps"] == 400 and meta["value"] == pytest.approx(0.7)
    assert (tmp_path / "best" / "model.zip").is_file()


def _run(runs_dir: Path, **over: Any):
    config = validate_config(coin_config(**over))
    return start_run(config, runs_dir=runs_dir)


def test_early_stopping_stops_a_real_run(runs_dir: Path) -> None:
    res = _run(runs_dir, total_timesteps=20_000, env={"id": "HlynrTest/Coin-v0", "n_envs": 2,
                                                        "kwargs": {"p": 0.0}},
               callbacks=[{"evaluation": {"every": 64, "episodes": 4}},
                          {"early_stopping": {"patience": 2}}])
    assert res.status == "stopped" and "early_stopping" in res.reason
    assert res.timesteps < 1000  # 3 evaluations at 64-step intervals, not 20k steps
    assert len(res.evaluations) == 3
    assert (res.run_dir / "final" / "model.zip").is_file()


def test_entropy_schedule_values_logged_each_rollout(runs_dir: Path) -> None:
    res = _run(runs_dir, total_timesteps=640,
               callbacks=[{"entropy_schedule": {"schedule": "linear", "start": 0.1, "end": 0.0,
                                                "fraction": 0.5}}])
    rollouts = [r for r in read_progress(res.run_dir / "progress.jsonl") if r["type"] == "rollout"]
    assert len(rollouts) == 10
    for r in rollouts:
        # set at rollout start, i.e. at timesteps - 64
        expected = max(0.0, 0.1 * (1 - (r["timesteps"] - 64) / 320))
        assert r["ent_coef"] == pytest.approx(expected), r["timesteps"]


def _stages(run_dir: Path) -> list[tuple[int, int]]:
    return [(e["timesteps"], e["to"]) for e in events(run_dir, "curriculum")]


def test_curriculum_schedule_mode_advances_at_timesteps(runs_dir: Path) -> None:
    res = _run(runs_dir, total_timesteps=512,
               callbacks=[{"curriculum": {"mode": "schedule", "stages": [{"p": 1.0}, {"p": 0.5},
                                                                          {"p": 0.0}],
                                          "at": [128, 300]}}])
    assert _stages(res.run_dir) == [(128, 1), (300, 2)]
    rollouts = [r for r in read_progress(res.run_dir / "progress.jsonl") if r["type"] == "rollout"]
    assert rollouts[-1]["stage"] == 2


def test_curriculum_adaptive_advances_on_rolling_success_and_regresses(runs_dir: Path) -> None:
    # stage 0 always succeeds -> advance; stage 1 never -> regress (threshold 0.9, floor 0.2)
    res = _run(runs_dir, total_timesteps=512,
               callbacks=[{"curriculum": {"mode": "adaptive", "stages": [{"p": 1.0}, {"p": 0.0}],
                                          "threshold": 0.9, "window": 8, "regress_below": 0.2}}])
    moves = [to for _, to in _stages(res.run_dir)]
    assert moves[:3] == [1, 0, 1]
    first = events(res.run_dir, "curriculum")[0]
    assert first["timesteps"] >= 8 * 4 / 2  # 8 episodes of 4 steps over 2 envs


def test_curriculum_frozen_holds_stage_and_eval_uses_final_stage(runs_dir: Path) -> None:
    res = _run(runs_dir, total_timesteps=256,
               callbacks=[{"curriculum": {"mode": "frozen", "stage": 0,
                                          "stages": [{"p": 1.0}, {"p": 0.0}]}},
                          {"evaluation": {"every": 128, "episodes": 6}}])
    assert _stages(res.run_dir) == []
    rollouts = [r for r in read_progress(res.run_dir / "progress.jsonl") if r["type"] == "rollout"]
    assert rollouts[-1]["success_rate"] == 1.0  # training at stage 0 (p = 1)
    assert all(e.metrics["success_rate"] == 0.0 for e in res.evaluations)  # eval at final p = 0
    assert all(e.stage == 1 for e in res.evaluations)


@pytest.mark.parametrize(("shares", "rate"), [([1, 3], 0.25), ([3, 1], 0.75), (None, 0.5)])
def test_curriculum_mixed_trains_each_stage_on_its_share_of_copies(
        runs_dir: Path, shares: list[int] | None, rate: float) -> None:
    # stage "win" always succeeds, stage "lose" never; 4 copies, episodes of 4 steps everywhere:
    # the training success is exactly the share of copies at "win"
    mixed: dict[str, Any] = {"mode": "mixed", "stages": [{"p": 1.0}, {"p": 0.0}],
                             "names": ["win", "lose"]}
    if shares is not None:
        mixed["shares"] = shares
    res = _run(runs_dir, total_timesteps=512, env={"id": "HlynrTest/Coin-v0", "n_envs": 4},
               callbacks=[{"curriculum": mixed}, {"evaluation": {"every": 256, "episodes": 4}}])
    rollouts = [r for r in read_progress(res.run_dir / "progress.jsonl") if r["type"] == "rollout"]
    assert rollouts[-1]["success_rate"] == pytest.approx(rate)
    assert rollouts[-1]["stage_success"] == {"win": 1.0, "lose": 0.0}
    assert _stages(res.run_dir) == []
    assert all(e.stage == 1 and e.metrics["success_rate"] == 0.0 for e in res.evaluations)


def test_curriculum_mixed_rejects_shares_it_cannot_honour() -> None:
    from hlynr.config import ConfigError

    def config(n_envs: int, **mixed: Any) -> dict[str, Any]:
        return coin_config(env={"id": "HlynrTest/Coin-v0", "n_envs": n_envs}, callbacks=[
            {"curriculum": {"mode": "mixed", "stages": [{"p": 1.0}, {"p": 0.0}], **mixed}}])

    with pytest.raises(ConfigError, match="2 positive numbers"):
        validate_config(config(4, shares=[1.0]))
    with pytest.raises(ConfigError, match="rounds to no copy"):
        validate_config(config(4, shares=[1.0, 0.01]))
    with pytest.raises(ConfigError, match=r"env.n_envs >= 2"):
        validate_config(config(1))
    with pytest.raises(ConfigError, match="'a/b' cannot be one"):
        validate_config(config(4, names=["a/b", "c"]))
    with pytest.raises(ConfigError, match="names must differ"):
        validate_config(config(4, names=["a", "a"]))
    with pytest.raises(ConfigError, match="only used in mixed mode"):
        validate_config(coin_config(callbacks=[{"curriculum": {
            "mode": "adaptive", "stages": [{"p": 1.0}], "shares": [1.0]}}]))


def test_evaluation_at_several_stages_logs_each_and_pools_them_for_best_model(
        runs_dir: Path) -> None:
    # stage "win" always succeeds, "lose" never: pooled success 1/2, each stage's own under its name
    res = _run(runs_dir, total_timesteps=256, env={"id": "HlynrTest/Coin-v0", "n_envs": 4},
               callbacks=[{"curriculum": {"mode": "mixed", "stages": [{"p": 1.0}, {"p": 0.0}],
                                          "names": ["win", "lose"]}},
                          {"evaluation": {"every": 128, "episodes": 6, "stages": ["final", 0]}},
                          {"best_model": {"metric": "win/success_rate"}}])
    assert len(res.evaluations) == 2
    for e in res.evaluations:
        assert e.stage is None and e.metrics["episodes"] == 12.0
        assert e.metrics["success_rate"] == 0.5
        assert list(e.by_stage) == ["lose", "win"]  # in the order asked for
        assert e.get("lose/success_rate") == 0.0 and e.get("win/success_rate") == 1.0
        assert e.by_stage["win"]["episodes"] == 6.0
    lines = [r for r in read_progress(res.run_dir / "progress.jsonl") if r["type"] == "eval"]
    assert [r["eval_stages"]["win"]["success_rate"] for r in lines] == [1.0, 1.0]
    meta = json.loads((res.run_dir / "best" / "meta.json").read_text())
    assert meta["metric"] == "win/success_rate" and meta["value"] == 1.0
    assert meta["by_stage"]["lose"]["success_rate"] == 0.0


def test_a_missing_per_stage_metric_names_the_available_ones() -> None:
    pooled = EvalResult(1, {"success_rate": 0.5}, {}, None, {"win": {"success_rate": 1.0}})
    with pytest.raises(MetricError, match=r"available: success_rate, win/success_rate"):
        pooled.get("lose/success_rate")


@pytest.mark.parametrize(("evaluation", "curriculum", "message"), [
    ({"stage": 0, "stages": [0, 1]}, True, "not both"),
    ({"stages": [0, 1]}, False, "has no curriculum"),
    ({"stages": [1, "final"]}, True, r"1 and 'final' are the same stage \(1\)"),
    ({"stages": [0, 2]}, True, "no curriculum stage 2"),
    ({"stages": [0]}, True, "at least 2"),
])
def test_evaluation_stages_are_checked_before_anything_runs(
        evaluation: dict[str, Any], curriculum: bool, message: str) -> None:
    from hlynr.config import ConfigError

    callbacks: list[dict[str, Any]] = [{"evaluation": {"every": 64, **evaluation}}]
    if curriculum:
        callbacks.insert(0, {"curriculum": {"mode": "frozen", "stages": [{"p": 1.0}, {"p": 0.0}]}})
    with pytest.raises(ConfigError, match=message):
        validate_config(coin_config(callbacks=callbacks))


def test_off_policy_progress_is_logged_every_1000_steps_not_every_step(runs_dir: Path) -> None:
    """SAC has an ``n_steps`` attribute too (n-step returns); it must not mean a rollout size."""
    config = validate_config(coin_config(
        total_timesteps=2100, env={"id": "Pendulum-v1", "n_envs": 1},
        algo={"name": "SAC", "hyperparams": {"learning_starts": 2000, "buffer_size": 5000},
              "policy_kwargs": {"net_arch": [8]}}))
    res = start_run(config, runs_dir=runs_dir)
    rollouts = [r for r in read_progress(res.run_dir / "progress.jsonl") if r["type"] == "rollout"]
    assert [r["timesteps"] for r in rollouts] == [1000, 2000]
