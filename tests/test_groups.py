"""``evaluate.py GROUP`` and ``hlynr plot``: run groups scored seed by seed, aggregated across
seeds, and drawn as bands; bad input as one error line.

The groups are built around one tiny trained coin run (copied into each seed's folder): the coin
env's success depends on its ``p`` and the episode seed only, so every seed of a group scores the
same, and a group trained with ``p=0.9`` beats one with ``p=0.3`` on every pair of seeds.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from hlynr_testing import REPO, coin_config

from hlynr.cli.common import run_main
from hlynr.runs.group import RunGroup
from hlynr.runs.progress_log import ProgressLog


def _zero_policy(observation_space: Any, action_space: Any, params: Any) -> Any:
    class Zero:
        def predict(self, obs: Any, state: Any = None, episode_start: Any = None,
                    deterministic: bool = True) -> Any:
            return np.zeros(len(obs), dtype=int), state

    return Zero()


@pytest.fixture(scope="module", autouse=True)
def coin_baseline() -> None:
    """A scripted baseline for the coin env that plays on a coin of p = 0.3."""
    from hlynr.config.base import StrictModel
    from hlynr.registries import BASELINES
    from hlynr.registries.baselines import BaselineEntry

    class NoParams(StrictModel):
        pass

    BASELINES.register("coin_p03", BaselineEntry(NoParams, _zero_policy, ("HlynrTest/Coin-v0",),
                                                 {"p": 0.3}), replace=True)


@pytest.fixture(scope="module")
def groups(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``a`` (p=0.9: seeds 0-2 scored, 3 failed, 4 never trained), ``a2`` (a copy of ``a``'s
    scored seeds), ``b`` (p=0.3, seeds 0-2), ``nomodel`` (its one seed has no best model) and
    ``cartpole`` (another env)."""
    from hlynr.config import validate_config
    from hlynr.training.runner import start_run

    root = tmp_path_factory.mktemp("groups")
    config = coin_config(total_timesteps=128, callbacks=[{"evaluation": {"every": 64, "episodes": 4}},
                                                         "best_model"])
    template = start_run(validate_config(config), run_dir=root / "template").run_dir

    def group(name: str, p: float, seeds: list[int], trained: list[int], env: str = "HlynrTest/Coin-v0",
              success_key: str = "is_success") -> Path:
        folder = root / name
        folder.mkdir()
        data = yaml.safe_load((template / "config.yaml").read_text())
        data["env"]["kwargs"] = {"p": p}
        data["env"]["success_key"] = success_key
        for seed in trained:
            run = folder / f"seed_{seed}"
            shutil.copytree(template, run)
            (run / "config.yaml").write_text(yaml.safe_dump({**data, "seed": seed}))
        (folder / "config.yaml").write_text(yaml.safe_dump(data))
        RunGroup(folder, name, env, "PPO", tuple(seeds)).write()
        return folder

    a = group("a", 0.9, [0, 1, 2, 3, 4], [0, 1, 2, 3])
    (a / "seed_3" / "summary.json").write_text(json.dumps(
        {"status": "failed", "reason": "diverged: non-finite parameters in policy"}))
    group("a2", 0.9, [0, 1, 2], [0, 1, 2])
    group("b", 0.3, [0, 1, 2], [0, 1, 2])
    nomodel = group("nomodel", 0.9, [7], [7])
    shutil.rmtree(nomodel / "seed_7" / "best")
    group("cartpole", 0.9, [0], [], env="CartPole-v1")
    for name, p in (("ra", 0.9), ("rb", 0.3)):  # no success reported: scored by reward
        group(name, p, [0, 1], [0, 1], success_key="not_reported")
    return root


def evaluate(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    from hlynr.cli.evaluate import main

    code = run_main(main, list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_every_seed_is_scored_and_failed_or_missing_seeds_are_left_out(
        groups: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_json = tmp_path / "a.json"
    code, out, err = evaluate(capsys, str(groups / "a"), "-n", "30", "--n-envs", "4",
                              "--json", str(out_json))
    assert code == 0, err
    assert "a seed 3: left out of the aggregate: run failed: diverged" in err
    assert "a seed 4: left out of the aggregate: no run folder" in err
    assert "3 of 5" in out and "IQM" in out
    data = json.loads(out_json.read_text())
    (g,) = data["groups"]
    assert data["metric"] == "success_rate" and g["env_id"] == "HlynrTest/Coin-v0"
    assert [s["seed"] for s in g["seeds"] if s["scored"]] == [0, 1, 2]
    assert [s["left_out"] is not None for s in g["seeds"]] == [False, False, False, True, True]
    rates = [s["metrics"]["success_rate"] for s in g["seeds"] if s["scored"]]
    episodes = [[e["success"] for e in s["episodes"]] for s in g["seeds"] if s["scored"]]
    assert len(episodes[0]) == 30 and episodes[0] == episodes[1] == episodes[2]  # same episodes
    agg = g["aggregate"]
    assert agg["n"] == 3 and agg["scores"] == rates
    assert agg["mean"]["value"] == pytest.approx(np.mean(rates))
    assert agg["iqm"]["ci_low"] <= agg["iqm"]["value"] <= agg["iqm"]["ci_high"]
    assert g["comparisons"] == []  # nothing to compare with


def test_against_a_scripted_baseline_and_another_group(
        groups: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_json = tmp_path / "ab.json"
    code, out, err = evaluate(capsys, str(groups / "a"), "--baseline", "coin_p03",
                              "--baseline", str(groups / "b"), "-n", "40", "--json", str(out_json))
    assert code == 0, err
    data = json.loads(out_json.read_text())
    a, b = data["groups"]
    assert (a["label"], b["label"]) == ("a", "b") and b["comparisons"] == []  # b is a reference
    assert [c["reference"] for c in a["comparisons"]] == ["baseline:coin_p03", "b"]
    for c in a["comparisons"]:
        assert c["direction"] == 1 and c["n"] == 3 and c["holds"] == 3 and c["opposite"] == 0
        assert c["probability_of_improvement"]["value"] == 1.0
        assert all(s["mcnemar_p"] < 0.05 and s["difference"] > 0 for s in c["per_seed"])
    # the baseline played p = 0.3 on the same episodes as group b did
    baseline = [e["success"] for e in data["baselines"][0]["episodes"]]
    assert baseline == [e["success"] for e in b["seeds"][0]["episodes"]]
    assert "better" in out and "3 of 3 seeds" in out
    assert "other env parameters" in out  # b trained (and is scored) on p = 0.3


def test_paired_info_per_seed_against_the_baseline(groups: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    out_json = tmp_path / "info.json"
    code, out, err = evaluate(capsys, str(groups / "a"), "--baseline", "coin_p03", "-n", "40",
                              "--paired", "is_success", "--paired", "p_used", "--json", str(out_json))
    assert code == 0, err
    (a,) = json.loads(out_json.read_text())["groups"]
    success, p_used = a["paired_info"]
    assert (success["key"], success["reference"], success["n"]) == ("is_success", "baseline:coin_p03", 3)
    assert success["higher"] == 3 and success["lower"] == 0  # p = 0.9 against 0.3, every seed
    for d, seed in zip(success["per_seed"], a["seeds"]):
        rate = seed["metrics"]["success_rate"]
        base = np.mean([e["success"] for e in json.loads(out_json.read_text())["baselines"][0]["episodes"]])
        assert d["difference"] == pytest.approx(rate - base) and d["t_test_p"] < 0.05
    assert all(d["difference"] == pytest.approx(0.6) and d["t_test_p"] == 0.0 for d in p_used["per_seed"])
    assert "3 of 3" in out and "is_success" in out
    code, _, err = evaluate(capsys, str(groups / "a"), "--paired", "is_success", "-n", "4")
    assert code == 2 and "--paired compares with a reference" in err
    code, _, err = evaluate(capsys, str(groups / "a"), "--baseline", "coin_p03", "-n", "4", "--paired", "p_use")
    assert code == 2 and "did you mean 'p_used'" in err


def test_identical_groups_have_probability_of_improvement_one_half(
        groups: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_json = tmp_path / "same.json"
    code, out, err = evaluate(capsys, str(groups / "a2"), str(groups / "a"), "-n", "20",
                              "--json", str(out_json))
    assert code == 0, err
    data = json.loads(out_json.read_text())
    first, second = data["groups"]
    assert first["comparisons"] == []  # without --baseline the first group is the reference
    (c,) = second["comparisons"]
    assert c["reference"] == "a2" and c["probability_of_improvement"]["value"] == 0.5
    assert c["direction"] == 0 and c["holds"] == 0 and "no difference" in out


def test_an_env_without_success_is_compared_by_reward(
        groups: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_json = tmp_path / "r.json"
    code, out, err = evaluate(capsys, str(groups / "ra"), "--baseline", str(groups / "rb"), "-n", "40",
                              "--json", str(out_json))
    assert code == 0, err
    data = json.loads(out_json.read_text())
    assert data["metric"] == "mean_reward"
    ra = data["groups"][0]
    assert ra["aggregate"]["scores"] == [s["metrics"]["mean_reward"] for s in ra["seeds"]]
    (c,) = ra["comparisons"]
    assert c["direction"] == 1 and c["holds"] == 2
    assert all(s["sign_test_p"] < 0.05 and "mcnemar_p" not in s for s in c["per_seed"])
    assert "mean_reward per seed" in out and "2 of 2 seeds" in out


@pytest.mark.parametrize("args, message", [
    (["{g}/a", "{g}/template"], "is not a run group"),
    (["{g}/a", "{g}/cartpole"], "different envs"),
    (["{g}/a", "--which", "all"], "--which all is for single runs"),
    (["{g}/a", "--attention", "x.jsonl"], "--attention is for single runs"),
    (["{g}/nomodel"], "no seed of the groups named has a model"),
    (["{g}/a", "--stage", "soon"], "--stage must be"),
    (["{g}/a", "--baseline", "nosuch"], "nosuch"),
])
def test_bad_group_input_is_one_error_line(groups: Path, capsys: pytest.CaptureFixture[str],
                                           args: list[str], message: str) -> None:
    code, _, err = evaluate(capsys, *[a.format(g=groups) for a in args], "-n", "2")
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2 and len(lines) == 1 and message in lines[0], err
    assert "Traceback" not in err


def synthetic_group(root: Path, name: str, curves: dict[int, list[tuple[int, float, float]]],
                    env: str = "hlynr/Intercept-v0") -> Path:
    """A group whose seeds' logs hold evaluations ``(timesteps, wall_time, success_rate)``."""
    folder = root / name
    for seed, points in curves.items():
        run = folder / f"seed_{seed}"
        run.mkdir(parents=True)
        (run / "config.yaml").write_text(yaml.safe_dump({"name": name, "seed": seed}))
        log = ProgressLog(run / "progress.jsonl")
        for t, wall, rate in points:
            log.write("rollout", timesteps=t, wall_time=wall, ep_reward_mean=rate * 10)
            log.write("eval", timesteps=t, wall_time=wall, eval_success_rate=rate,
                      eval_info={"miss_distance": 1 - rate})
    RunGroup(folder, name, env, "PPO", tuple(curves)).write()
    return folder


@pytest.fixture
def curve_groups(tmp_path: Path) -> tuple[Path, Path]:
    low = synthetic_group(tmp_path, "low", {s: [(t, t / 100 + s, 0.1 * s + t / 4000) for t in
                                               (1000, 2000, 3000)] for s in range(3)})
    high = synthetic_group(tmp_path, "high", {s: [(t, t / 50, 0.5 + 0.01 * s + t / 10000) for t in
                                                 (1000, 2000, 3000, 4000)] for s in range(4)})
    return low, high


def plot(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    from hlynr.cli.plot import main

    code = run_main(main, list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_plot_draws_one_line_and_band_per_group(curve_groups: tuple[Path, Path], tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    low, high = curve_groups
    svg, png = tmp_path / "c.svg", tmp_path / "c.png"
    code, out, err = plot(capsys, str(low), str(high), "--metric", "eval/success_rate",
                          "--out", str(svg))
    assert code == 0, err
    text = svg.read_text()
    assert text.count('id="curve-') == 2 and text.count('id="band-') == 2
    assert "low (3 seeds)" in text and "high (4 seeds)" in text
    code, _, err = plot(capsys, str(low), str(high), "--x", "both", "--iqm", "--out", str(png))
    assert code == 0, err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_plot_table_gives_the_final_iqm_over_seeds(curve_groups: tuple[Path, Path],
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    low, high = curve_groups
    code, out, err = plot(capsys, str(low), str(high), "--table")
    assert code == 0, err
    rows = [line for line in out.splitlines() if line.startswith("|")]
    assert rows[0].startswith("| group | eval/success_rate, final: IQM [95 % CI] |")
    # low: final values 0.75, 0.85, 0.95 (3 seeds: IQM = mean); high: 0.90 to 0.93, IQM 0.915
    assert rows[2].startswith("| low | 0.850 [") and rows[2].endswith("| 0.850 | 3 | 3,000 |")
    assert rows[3].startswith("| high | 0.915 [") and "| 4 | 4,000 |" in rows[3]


def test_plot_leaves_out_failed_seeds_and_refuses_bad_input(
        curve_groups: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    low, high = curve_groups
    (low / "seed_2" / "summary.json").write_text(json.dumps({"status": "failed", "reason": "diverged"}))
    code, out, err = plot(capsys, str(low), "--table")
    assert code == 0 and "low seed 2: left out: run failed: diverged" in err
    assert "| low | 0.800 [" in out and "| 2 |" in out
    other = synthetic_group(tmp_path, "other_env", {0: [(1000, 1.0, 0.5)]}, env="CartPole-v1")
    for args, message in [
        ([str(low), "--metric", "eval/nosuch", "--table"], "eval/success_rate"),  # lists what exists
        ([str(low), "--metric", "success", "--table"], "expected eval/KEY"),
        ([str(low), str(tmp_path)], "--out"),
        ([str(low), "--out", str(tmp_path / "c.jpg")], ".png, .svg, .pdf"),
        ([str(low / "seed_0"), "--table"], "is not a run group"),
    ]:
        code, _, err = plot(capsys, *args)
        lines = [line for line in err.splitlines() if line.startswith("error:")]
        assert code == 2 and len(lines) == 1 and message in lines[0], (args, err)
    code, _, err = plot(capsys, str(high), str(other), "--table")
    assert code == 0  # curves of different envs may share a figure


def test_plot_help_loads_nothing_heavy() -> None:
    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "hlynr", "plot", "--help"],
                         capture_output=True, text=True, timeout=120, cwd=REPO)
    assert out.returncode == 0 and "usage: hlynr plot" in out.stdout, out.stderr[-2000:]
    loaded = {line.rsplit("|", 1)[1].strip() for line in out.stderr.splitlines()
              if line.startswith("import time:")}
    assert not loaded & {"torch", "stable_baselines3", "matplotlib", "fastapi"}
