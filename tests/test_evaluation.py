"""Seeded evaluation episodes: statistics, seeds independent of n_envs, recurrent state."""

from __future__ import annotations

import numpy as np
import pytest
from hlynr_testing import CoinEnv
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv

from hlynr.evaluation.episodes import run_episodes
from hlynr.evaluation.stats import mean_interval, numeric_items, paired_difference, summarize, wilson_interval


def test_wilson_interval_known_values() -> None:
    lo, hi = wilson_interval(8, 10)
    assert lo == pytest.approx(0.4902, abs=1e-4) and hi == pytest.approx(0.9433, abs=1e-4)
    assert wilson_interval(0, 20)[0] == 0.0 and wilson_interval(20, 20)[1] == 1.0
    assert wilson_interval(0, 0) == (0.0, 1.0)
    s = summarize([1.0, 2.0, 3.0, 4.0, float("nan")])
    assert s["n"] == 4 and s["median"] == 2.5


def test_mean_interval_is_the_student_t_interval() -> None:
    lo, hi = mean_interval([1.0, 2.0, 3.0, 4.0, 5.0])  # t(0.975, 4) = 2.7764, sd = 1.5811
    assert lo == pytest.approx(3.0 - 1.9632, abs=1e-4) and hi == pytest.approx(3.0 + 1.9632, abs=1e-4)
    assert mean_interval([2.0, 2.0, 2.0]) == (2.0, 2.0) and mean_interval([7.0]) == (7.0, 7.0)


class RecordingPolicy:
    """Constant action; records episode_start flags and the state it was handed."""

    def __init__(self) -> None:
        self.calls: list[tuple[np.ndarray, object]] = []

    def predict(self, obs, state=None, episode_start=None, deterministic=True):
        self.calls.append((np.array(episode_start), state))
        n = len(obs)
        new_state = (np.where(episode_start, 0, (state[0] if state is not None else 0) + 1),)
        return np.zeros(n, dtype=int), new_state


def venv(n: int, horizon: int = 3) -> DummyVecEnv:
    return DummyVecEnv([lambda: Monitor(CoinEnv(p=0.5, horizon=horizon)) for _ in range(n)])


def test_episode_k_uses_seed_k_whatever_the_number_of_envs() -> None:
    a = run_episodes(RecordingPolicy(), venv(1), 10, seed=100)
    b = run_episodes(RecordingPolicy(), venv(4), 10, seed=100)
    assert [e.seed for e in a.episodes] == list(range(100, 110))
    assert [e.success for e in a.episodes] == [e.success for e in b.episodes]
    assert a.metrics()["success_rate"] == b.metrics()["success_rate"]
    assert a.n == 10 and all(e.length == 3 for e in a.episodes)


def test_recurrent_state_is_carried_and_reset_at_episode_starts() -> None:
    policy = RecordingPolicy()
    run_episodes(policy, venv(2, horizon=3), 2, seed=0)
    starts = [c[0].tolist() for c in policy.calls]
    assert starts[0] == [True, True]  # first step of a wave starts episodes
    assert starts[1] == [False, False] and starts[2] == [False, False]
    assert policy.calls[0][1] is None  # fresh state at the start of a wave
    assert policy.calls[2][1][0].tolist() == [1, 1]  # state handed back between steps


def test_sb3_recurrent_model_evaluates_with_its_state() -> None:
    from sb3_contrib import RecurrentPPO

    model = RecurrentPPO("MlpLstmPolicy", "CartPole-v1", n_steps=16, batch_size=16,
                         policy_kwargs={"lstm_hidden_size": 8, "net_arch": [8]}, seed=0)
    env = DummyVecEnv([lambda: Monitor(__import__("gymnasium").make("CartPole-v1"))] * 2)
    s1 = run_episodes(model, env, 4, seed=3)
    s2 = run_episodes(model, env, 4, seed=3)
    assert [e.reward for e in s1.episodes] == [e.reward for e in s2.episodes]


def test_fraction_below_and_success_only_info() -> None:
    from hlynr.evaluation.episodes import EpisodeRecord, EvaluationSummary

    eps = [EpisodeRecord(i, 0.0, 1, i % 2 == 0, {"miss": float(i)}) for i in range(10)]
    summary = EvaluationSummary(eps)
    below = summary.fraction_below("miss", 3.0)
    assert below["n"] == 10 and below["fraction"] == 0.3
    assert below["ci_low"] < 0.3 < below["ci_high"]
    assert summary.info_stats(success_only=True)["miss"]["mean"] == 4.0  # 0, 2, 4, 6, 8
    assert summary.info_stats()["miss"]["mean"] == 4.5


def test_paired_difference_counts_discordant_pairs_and_exact_mcnemar() -> None:
    from scipy.stats import binomtest

    first = [1] * 30 + [1] * 12 + [0] * 4 + [0] * 54
    second = [1] * 30 + [0] * 12 + [1] * 4 + [0] * 54
    d = paired_difference(first, second)
    assert (d["n"], d["only_first"], d["only_second"]) == (100, 12, 4)
    assert d["difference"] == pytest.approx(0.08)
    assert d["mcnemar_p"] == pytest.approx(binomtest(4, 16, 0.5).pvalue)
    assert d["ci_low"] < 0.08 < d["ci_high"]
    # identical policies: no difference, p = 1, an interval around 0 that is not empty
    same = paired_difference(first, first)
    assert same["difference"] == 0 and same["mcnemar_p"] == 1.0 and same["ci_low"] <= 0 <= same["ci_high"]
    with pytest.raises(ValueError, match="equal episode counts"):
        paired_difference([1, 0], [1])


def test_paired_interval_matches_the_large_sample_wald_interval() -> None:
    """For many pairs Newcombe's interval approaches diff +- z sqrt((b + c) / n^2 - (b - c)^2 / n^3)."""
    n, b, c = 200_000, 30_000, 20_000
    first = [1] * b + [0] * c + [1] * 50_000 + [0] * (n - b - c - 50_000)
    second = [0] * b + [1] * c + [1] * 50_000 + [0] * (n - b - c - 50_000)
    d = paired_difference(first, second)
    diff = (b - c) / n
    half = 1.959963984540054 * np.sqrt((b + c) / n**2 - (b - c) ** 2 / n**3)
    assert d["ci_low"] == pytest.approx(diff - half, rel=2e-3)
    assert d["ci_high"] == pytest.approx(diff + half, rel=2e-3)
    # and it is far narrower than two independent Wilson intervals would suggest
    lo1, hi1 = wilson_interval(b + 50_000, n)
    assert d["ci_high"] - d["ci_low"] < 1.2 * (hi1 - lo1) * np.sqrt(2)


def test_paired_mean_difference_is_the_paired_t_test_and_interval() -> None:
    from scipy.stats import ttest_rel

    from hlynr.evaluation.episodes import EpisodeRecord, EvaluationSummary
    from hlynr.evaluation.stats import paired_mean_difference

    rng = np.random.default_rng(3)
    first = rng.poisson(0.3, 400).astype(float)
    second = first + rng.normal(0.05, 0.2, 400)
    d = paired_mean_difference(first, second)
    assert d["difference"] == pytest.approx(float(np.mean(first - second)))
    assert d["t_test_p"] == pytest.approx(ttest_rel(first, second).pvalue, rel=1e-9)
    assert (d["ci_low"], d["ci_high"]) == pytest.approx(mean_interval(first - second))
    assert d["ci_high"] < 0  # the 0.05 shift is found in 400 pairs
    assert paired_mean_difference([1.0, 2.0], [1.0, 2.0])["t_test_p"] == 1.0
    with pytest.raises(ValueError, match="equal episode counts"):
        paired_mean_difference([1.0], [1.0, 2.0])
    a = EvaluationSummary([EpisodeRecord(i, 0.0, 1, True, {"los_events": float(i % 3)}) for i in range(6)])
    b = EvaluationSummary([EpisodeRecord(i, 0.0, 1, True, {"los_events": 1.0}) for i in range(6)])
    assert a.paired_info(b, "los_events")["difference"] == pytest.approx(0.0)
    with pytest.raises(ValueError, match="did you mean 'los_events'"):
        a.paired_info(b, "los_event")
    shifted = EvaluationSummary([EpisodeRecord(i + 1, 0.0, 1, True, {"los_events": 1.0}) for i in range(6)])
    with pytest.raises(ValueError, match="different episodes"):
        a.paired_info(shifted, "los_events")


def test_final_step_metrics_are_the_numeric_entries_without_bookkeeping() -> None:
    info = {"miss_distance": np.float32(3.5), "is_success": True, "n_agents": 3, "active": False,
            "TimeLimit.truncated": False, "terminal_observation": np.zeros(3), "name": "x",
            "episode": {"r": 1.0}}
    assert numeric_items(info) == {"miss_distance": 3.5, "is_success": 1.0, "n_agents": 3.0}
