"""Statistics across training seeds: rliable's estimators, probability of improvement, holds in
k of n, and bands over seeds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hlynr.evaluation.aggregate import (
    holds_in,
    iqm,
    probability_of_improvement,
    probability_of_improvement_ci,
    stratified_bootstrap,
    trim_mean,
)
from hlynr.evaluation.episodes import EpisodeRecord, EvaluationSummary
from hlynr.evaluation.groups import GroupResult, SeedResult, compare
from hlynr.monitoring.curves import available_metrics, band, common_grid, on_grid, points
from hlynr.runs.group import RunGroup

A = np.array([[0.62], [0.71], [0.55], [0.80], [0.68]])
B = np.array([[0.50, 0.12, 3.0], [0.61, 0.40, 2.5], [0.58, 0.33, 4.0], [0.47, 0.25, 1.0],
              [0.66, 0.41, 2.0], [0.52, 0.10, 3.5], [0.70, 0.38, 2.2]])
Y = np.array([[0.60], [0.52], [0.66], [0.58], [0.61]])
Z = np.array([[0.60], [0.52], [0.66], [0.71]])
W = np.array([[0.64]])
C = np.array([[0.61, 2.0], [0.55, 3.1], [0.72, 1.9], [0.48, 2.7], [0.66, 3.3], [0.59, 2.2],
              [0.70, 2.9], [0.52, 1.5]])
D = np.array([[0.58, 2.4], [0.50, 2.8], [0.63, 2.0], [0.45, 3.0], [0.69, 2.6], [0.54, 1.7]])
E = np.array([[0.60, 2.1], [0.57, 2.5], [0.62, 3.4], [0.49, 2.0], [0.73, 2.8], [0.51, 1.9],
              [0.64, 2.3], [0.58, 3.0]])

# Computed by rliable 1.2.0 (arch 7.2.0, pandas 2.3.3, numpy 2.4.6) in a separate environment:
#   np.random.seed(SEED)
#   rly.get_interval_estimates({"k": S}, lambda s: np.array([metrics.aggregate_mean(s),
#                              metrics.aggregate_iqm(s)]), reps=2000)             # A: 0, B: 7
#   rly.get_interval_estimates({"k": [X, Y]}, lambda x, y: np.array(
#       [metrics.probability_of_improvement(x, y)]), reps=REPS)
# The resamples are deterministic (NumPy's legacy stream), so the numbers are equal, not close.
RLIABLE_MEAN_IQM = {  # name: (scores, seed, [mean, iqm], [[lows], [highs]])
    "A": (A, 0, [0.672, 0.6699999999999999], [[0.6020000000000001, 0.5733333333333334],
                                              [0.746, 0.77]]),
    "B": (B, 7, [1.1538095238095238, 0.7136363636363637],
          [[0.9222023809523812, 0.5918181818181818], [1.3866666666666667, 0.8945681818181817]]),
}
RLIABLE_POI = {  # name: (X, Y, seed, reps, point, low, high)
    "A>Y": (A, Y, 3, 2000, 0.8, 0.4, 1.0),
    "A>Z": (A, Z, 4, 2000, 0.675, 0.25, 1.0),
    "A>W": (A, W, 5, 2000, 0.6, 0.2, 1.0),
    "A>A": (A, A, 6, 2000, 0.5, 0.14, 0.88),
    "C>D": (C, D, 11, 3000, 0.5885416666666667, 0.34375, 0.8020833333333334),
    "C>E": (C, E, 12, 3000, 0.5, 0.296875, 0.7109375),
    "W>C": (W, C[:, :1], 13, 3000, 0.625, 0.25, 0.875),
    "C>W": (C[:, :1], W, 14, 3000, 0.375, 0.125, 0.75),
}


@pytest.mark.parametrize("name", sorted(RLIABLE_MEAN_IQM))
def test_mean_iqm_and_stratified_bootstrap_equal_rliable(name: str) -> None:
    scores, seed, point, (lows, highs) = RLIABLE_MEAN_IQM[name]
    out = stratified_bootstrap(scores, reps=2000, seed=seed)
    assert [out["mean"]["value"], out["iqm"]["value"]] == pytest.approx(point, abs=1e-12)
    assert [out["mean"]["ci_low"], out["iqm"]["ci_low"]] == pytest.approx(lows, abs=1e-12)
    assert [out["mean"]["ci_high"], out["iqm"]["ci_high"]] == pytest.approx(highs, abs=1e-12)


@pytest.mark.parametrize("name", sorted(RLIABLE_POI))
def test_probability_of_improvement_and_its_interval_equal_rliable(name: str) -> None:
    x, y, seed, reps, point, low, high = RLIABLE_POI[name]
    out = probability_of_improvement_ci(x, y, reps=reps, seed=seed)
    assert (out["value"], out["ci_low"], out["ci_high"]) == pytest.approx((point, low, high), abs=1e-12)


def test_iqm_is_scipys_trimmed_mean_of_all_runs_and_tasks() -> None:
    from scipy.stats import trim_mean as scipy_trim_mean

    rng = np.random.default_rng(1)
    for shape in [(1, 1), (3, 1), (4, 1), (5, 1), (10, 1), (7, 3), (13, 4)]:
        scores = rng.normal(size=shape)
        assert iqm(scores) == scipy_trim_mean(scores, 0.25, axis=None)
    batch = rng.normal(size=(6, 9))
    assert np.array_equal(trim_mean(batch, 0.25), scipy_trim_mean(batch, 0.25, axis=1))
    # the middle half: the lowest and the highest quarter go
    assert iqm(np.array([[0.0], [1.0], [2.0], [3.0], [100.0], [-100.0], [1.5], [2.5]])) == 1.75


def test_probability_of_improvement_sanity() -> None:
    assert probability_of_improvement(A, A) == 0.5  # identical groups
    assert probability_of_improvement(A + 1, A) == 1.0 and probability_of_improvement(A, A + 1) == 0.0
    assert probability_of_improvement(A, Y) + probability_of_improvement(Y, A) == pytest.approx(1.0)
    # ties count one half: [1, 2] against [2]: one pair lower, one tied
    assert probability_of_improvement(np.array([[1.0], [2.0]]), np.array([[2.0]])) == 0.25
    same = probability_of_improvement_ci(A, A, reps=500)
    assert same["value"] == 0.5 and same["ci_low"] < 0.5 < same["ci_high"]


def test_one_seed_gives_a_point_interval_and_the_interval_holds_the_estimate() -> None:
    out = stratified_bootstrap([0.4], reps=100)
    assert out["iqm"] == {"value": 0.4, "ci_low": 0.4, "ci_high": 0.4}
    out = stratified_bootstrap(B, reps=500, seed=3)
    for stat in out.values():
        assert stat["ci_low"] <= stat["value"] <= stat["ci_high"]
    with pytest.raises(ValueError, match="runs, tasks"):
        stratified_bootstrap(np.empty((0, 1)))


def test_holds_in_counts_significant_comparisons_in_the_claimed_direction() -> None:
    comparisons = [
        {"n": 100, "difference": 0.20, "mcnemar_p": 0.001},   # better, significant
        {"n": 100, "difference": 0.05, "mcnemar_p": 0.30},    # better, not significant
        {"n": 100, "difference": -0.15, "mcnemar_p": 0.004},  # worse, significant
        {"n": 100, "difference": 3.0, "sign_test_p": 0.01},   # reward: sign test
        {"n": 0},
    ]
    assert holds_in(comparisons, +1) == 2
    assert holds_in(comparisons, -1) == 1
    assert holds_in(comparisons, 0) == 0


def _summary(successes: list[bool], reward: float = 0.0) -> EvaluationSummary:
    return EvaluationSummary([EpisodeRecord(k, float(s) + reward, 4, s) for k, s in enumerate(successes)])


def _group(per_seed: list[list[bool]]) -> GroupResult:
    group = RunGroup(path=Path("g"), name="g", env_id="E", algo="PPO",
                     seeds=tuple(range(len(per_seed))))
    return GroupResult(group, "g", [SeedResult(i, group.run_dir(i), summary=_summary(s))
                                    for i, s in enumerate(per_seed)])


def test_compare_with_a_baseline_holds_in_the_seeds_that_are_significantly_better() -> None:
    n = 60
    baseline = [k % 2 == 0 for k in range(n)]  # 50 %
    strong = [True] * n  # +50 points: significant
    slightly = [k % 2 == 0 or k < 6 for k in range(n)]  # +5 points: not significant
    result = _group([strong, strong, slightly])
    c = compare(result, "baseline:pn", [_summary(baseline)], success=True, reps=500)
    assert c["direction"] == 1 and c["n"] == 3
    assert c["holds"] == 2 and c["opposite"] == 0
    assert [s["holds"] for s in c["per_seed"]] == [True, True, False]
    assert c["per_seed"][0]["only_first"] == 30 and c["per_seed"][0]["mcnemar_p"] < 1e-6
    assert c["probability_of_improvement"]["value"] == 1.0  # every seed beats the baseline


def test_compare_groups_pairs_seeds_in_order_and_identical_groups_claim_nothing() -> None:
    n = 40
    runs = [[k % 3 != 0 for k in range(n)], [k % 4 != 0 for k in range(n)]]
    a, b = _group(runs), _group(runs)
    c = compare(a, "b", [s.summary for s in b.scored if s.summary], success=True, reps=500)
    assert c["probability_of_improvement"]["value"] == 0.5
    assert c["direction"] == 0 and c["holds"] == 0
    assert [s["difference"] for s in c["per_seed"]] == [0.0, 0.0]
    worse = _group([[False] * n, [False] * n])
    c = compare(worse, "a", [s.summary for s in a.scored if s.summary], success=True, reps=500)
    assert c["direction"] == -1 and c["holds"] == 2
    assert c["probability_of_improvement"]["value"] == 0.0


def test_compare_by_reward_uses_the_sign_test_on_episodes() -> None:
    n = 30
    better = _group([[False] * n])
    for e in better.seeds[0].summary.episodes:  # type: ignore[union-attr]
        e.reward = 1.0
    c = compare(better, "ref", [_summary([False] * n)], success=False, reps=200)
    s = c["per_seed"][0]
    assert c["direction"] == 1 and s["only_first"] == n and s["sign_test_p"] < 1e-6 and s["holds"]


def test_points_skip_repeated_x_and_other_records() -> None:
    records = [{"type": "rollout", "timesteps": 10, "wall_time": 1.0, "success_rate": 0.1},
               {"type": "eval", "timesteps": 10, "wall_time": 1.5, "eval_success_rate": 0.2,
                "eval_info": {"miss": 3.0}},
               {"type": "eval", "timesteps": 10, "wall_time": 1.6, "eval_success_rate": 0.9},
               {"type": "eval", "timesteps": 20, "wall_time": 2.5, "eval_success_rate": None},
               {"type": "eval", "timesteps": 30, "wall_time": 3.5, "eval_success_rate": 0.4}]
    x, y = points(records, "eval/success_rate")
    assert x.tolist() == [10, 30] and y.tolist() == [0.2, 0.4]
    assert points(records, "eval/success_rate", "wall_time")[0].tolist() == [1.5, 1.6, 3.5]
    assert points(records, "eval/info/miss")[1].tolist() == [3.0]
    assert points(records, "rollout/success_rate")[1].tolist() == [0.1]
    staged = [{"type": "eval", "timesteps": 10, "eval_stages": {"win": {"success_rate": 1.0}}},
              {"type": "eval", "timesteps": 20, "eval_stages": {"lose": {"success_rate": 0.0}}},
              {"type": "eval", "timesteps": 30, "eval_stages": {"win": {"success_rate": 0.5}}}]
    assert points(staged, "eval/win/success_rate")[1].tolist() == [1.0, 0.5]
    assert "eval/lose/success_rate" in available_metrics(staged)


def test_band_over_seeds_on_a_common_grid() -> None:
    curves = [(np.array([0.0, 10, 20, 30]), np.array([0.0, 1, 2, 3])),
              (np.array([0.0, 10, 20]), np.array([1.0, 2, 3])),
              (np.array([5.0, 15, 25]), np.array([1.0, 1, 1]))]
    grid = common_grid(curves)
    assert grid.tolist() == [5, 10, 15, 20]  # where every seed has data, at their own points
    values = on_grid(curves, grid)
    assert values[0].tolist() == [0.5, 1, 1.5, 2] and values[1].tolist() == [1.5, 2, 2.5, 3]
    b = band(values, reps=300)
    assert b["value"] == pytest.approx(values.mean(axis=0))
    assert b["min"].tolist() == [0.5, 1, 1, 1] and b["max"].tolist() == [1.5, 2, 2.5, 3]
    assert np.all(b["ci_low"] <= b["value"] + 1e-12) and np.all(b["value"] <= b["ci_high"] + 1e-12)
    assert np.all(b["ci_low"] >= b["min"] - 1e-12) and np.all(b["ci_high"] <= b["max"] + 1e-12)
    # IQM over 3 seeds trims nothing (int(0.75) = 0); over 4 it is the mean of the middle two
    assert band(values, "iqm", reps=50)["value"] == pytest.approx(values.mean(axis=0))
    four = np.vstack([values, values[:1] + 10])
    assert band(four, "iqm", reps=50)["value"] == pytest.approx(np.median(four, axis=0))
    assert len(common_grid(curves, n_points=3)) == 3
    assert len(common_grid([(np.array([0.0, 1]), np.zeros(2)), (np.array([2.0, 3]), np.zeros(2))])) == 0
