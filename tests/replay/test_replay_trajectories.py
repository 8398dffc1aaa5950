"""``evaluate.py --trajectories``: the record tells the same story as evaluate.py's scores."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from replay_testing import INTERCEPT_KWARGS

from hlynr.cli.common import run_main
from hlynr.cli.evaluate import main as evaluate_main
from hlynr.evaluation.episodes import EvaluationSummary
from hlynr.evaluation.trajectories import Trajectories


def _evaluate(*args: str) -> None:
    assert run_main(evaluate_main, list(args)) == 0


def _results(path: Path) -> dict[str, dict[str, Any]]:
    return {r["label"]: r for r in json.loads(path.read_text())["results"]}


def _same_episodes(traj: Trajectories, results: dict[str, dict[str, Any]], keys: tuple[str, ...]) -> None:
    """Every row's outcomes recomputed from the record equal evaluate.py's, episode by episode."""
    assert sorted(traj.labels) == sorted(results)
    for row, label in enumerate(traj.labels):
        recomputed = traj.outcomes(row)
        scored = results[label]["episodes"]
        assert [e.seed for e in recomputed] == [e["seed"] for e in scored]
        for mine, theirs in zip(recomputed, scored):
            assert mine.reward == theirs["reward"] and mine.length == theirs["length"]
            assert mine.success == theirs["success"]
            for key in keys:
                assert mine.info[key] == theirs[key], (label, key)
        assert EvaluationSummary(recomputed).metrics() == results[label]["metrics"]
        assert EvaluationSummary(recomputed).info_stats() == results[label]["info"]


def test_intercept_record_recomputes_success_and_miss_distance(intercept_run: Path, tmp_path: Path) -> None:
    common = [str(intercept_run), "--which", "final", "--baseline", "pn", "-n", "3", "--n-envs", "2",
              "--seed", "7"]
    _evaluate(*common, "--json", str(tmp_path / "plain.json"))
    _evaluate(*common, "--json", str(tmp_path / "scores.json"), "--trajectories", str(tmp_path / "t.npz"))
    plain, results = _results(tmp_path / "plain.json"), _results(tmp_path / "scores.json")
    assert plain == results  # recording changes nothing
    traj = Trajectories.load(tmp_path / "t.npz")
    assert traj.meta["env_id"] == "hlynr/Intercept-v0" and traj.meta["seeds"] == [7, 8, 9]
    assert [r["kind"] for r in traj.meta["rows"]] == ["model", "baseline"]
    _same_episodes(traj, results, ("miss_distance", "is_success", "termination_code"))
    assert not list(tmp_path.glob(".*"))  # no temporary file left
    cols = traj.columns
    n = len(cols["row"])
    assert all(len(v) == n for k, v in cols.items() if not k.startswith("state."))
    assert cols["obs"].shape == (n, 28) and cols["action"].shape == (n, 2)
    for row in range(2):
        for k, episode in enumerate(results[traj.labels[row]]["episodes"]):
            states, scene = traj.states(row, k)
            assert len(states) == episode["length"] + 1  # the first state, then one per step
            assert states[-1].min_dist == episode["miss_distance"]  # the truth the renderer draws
            assert states[-1].reason == traj.final_info(row, k)["termination_reason"] != ""
            assert not states[-2].reason
            assert scene.kill_radius == 10.0
            rewards = cols["reward"][traj.steps(row, k)]
            assert rewards.sum() == pytest.approx(episode["reward"], rel=1e-5)
    # what the policy observed is the task's observation (before its normalisation): the same
    # first observation as the baseline's on every seed
    for k in range(3):
        first = [cols["obs"][traj.steps(row, k)[0]] for row in range(2)]
        np.testing.assert_array_equal(first[0], first[1])


def test_atc_record_recomputes_los_counts_and_keeps_attention(atc_run: Path, tmp_path: Path) -> None:
    from hlynr.envs.atc import layout as L
    from hlynr.envs.replay import attention_geometry

    _evaluate(str(atc_run), "--which", "final", "--baseline", "mvp", "-n", "3", "--n-envs", "2",
              "--json", str(tmp_path / "scores.json"), "--trajectories", str(tmp_path / "t.npz"))
    results = _results(tmp_path / "scores.json")
    traj = Trajectories.load(tmp_path / "t.npz")
    _same_episodes(traj, results, ("los_events", "conflicts", "is_success", "min_separation_nm"))
    cols = traj.columns
    policy, baseline = traj.row_index("final"), traj.row_index("baseline:mvp")
    assert traj.meta["rows"][policy]["attention_slots"] == 3
    assert traj.meta["rows"][baseline]["attention_slots"] == 0
    att, valid = cols["attention"], cols["attention_valid"]
    mine = cols["row"] == policy
    assert np.isnan(att[~mine]).all() and not valid[~mine].any()
    sums = np.where(valid[mine], att[mine], 0.0).sum(axis=1)
    has = valid[mine].any(axis=1)
    assert has.any() and np.allclose(sums[has], 1.0, atol=1e-5) and np.all(sums[~has] == 0)
    # the slot -> aircraft mapping a replay draws agrees with the distances the policy observed
    geo = attention_geometry("hlynr/ATC-v0")
    assert geo is not None
    checked = 0
    for k in traj.episode_indices(policy):
        states, _ = traj.states(policy, k)
        for i in traj.steps(policy, k).tolist():
            t, agent = int(cols["step"][i]), int(cols["agent"][i])
            slots = geo.slots(states[t], 3)[agent]
            for j in np.flatnonzero(valid[i]).tolist():
                dist = np.linalg.norm(states[t].pos[agent] - states[t].pos[slots[j]])
                seen = cols["obs"][i, L.OWN_SIZE + j * L.SLOT_SIZE + L.SLOT["distance"].start]
                assert dist == pytest.approx(seen * L.REL_SCALE, rel=1e-4, abs=1.0)
                checked += 1
    assert checked > 20
    # a loss of separation the states show is counted by the env
    for row in (policy, baseline):
        for k, episode in enumerate(results[traj.labels[row]]["episodes"]):
            states, _ = traj.states(row, k)
            if any(s.los.any() for s in states):
                assert episode["los_events"] >= 1


def test_the_record_does_not_depend_on_the_number_of_envs(tmp_path: Path) -> None:
    import yaml

    cfg = tmp_path / "intercept.yaml"
    cfg.write_text(yaml.safe_dump({"name": "x", "total_timesteps": 1, "algo": {"name": "PPO"},
                                   "env": {"id": "hlynr/Intercept-v0", "vectoriser": "batched",
                                           "kwargs": INTERCEPT_KWARGS}}))
    for n_envs in ("2", "3"):
        _evaluate("--config", str(cfg), "--baseline", "pn", "-n", "3", "--n-envs", n_envs,
                  "--trajectories", str(tmp_path / f"t{n_envs}.npz"))
    a, b = (Trajectories.load(tmp_path / f"t{n}.npz") for n in ("2", "3"))
    assert a.columns.keys() == b.columns.keys()
    for key in a.columns:
        np.testing.assert_array_equal(a.columns[key], b.columns[key], err_msg=key)
    assert a.meta == b.meta
