"""Run groups on the dashboard's API: listed with their seeds nested, and a group's series as the
mean over seeds with a 95 % band and the min-max range."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from fastapi.testclient import TestClient

from hlynr.runs.group import RunGroup
from hlynr.runs.progress_log import ProgressLog
from hlynr.server import create_app
from tests.server.conftest import TINY


def seed_run(folder: Path, rates: list[float], every: int = 1000) -> Path:
    """A finished run folder with one evaluation (success ``rates[i]``) every ``every`` steps."""
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(TINY))
    log = ProgressLog(folder / "progress.jsonl")
    log.write("event", timesteps=0, event="start")
    for i, rate in enumerate(rates, 1):
        log.write("rollout", timesteps=every * i, total_timesteps=every * len(rates),
                  steps_per_s=100.0, ep_reward_mean=10 * rate, success_rate=rate)
        log.write("eval", timesteps=every * i, eval_mean_reward=10 * rate, eval_success_rate=rate)
    log.write("event", timesteps=every * len(rates), event="end", status="completed", reason="t")
    return folder


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    """``plain/run1`` (a run), ``grp`` (seeds 0-2 trained, seed 3 not yet) and ``grid/cell_0``
    (a grid's group with one seed)."""
    runs = tmp_path / "runs"
    seed_run(runs / "plain" / "run1", [0.1, 0.2])
    grp = runs / "grp"
    for seed, rates in {0: [0.2, 0.4, 0.6], 1: [0.3, 0.5, 0.7], 2: [0.1, 0.6, 0.8, 0.9]}.items():
        seed_run(grp / f"seed_{seed}", rates)
    (grp / "config.yaml").write_text(yaml.safe_dump(TINY))
    RunGroup(grp, "grp", "CartPole-v1", "PPO", (0, 1, 2, 3)).write()
    cell = runs / "grid" / "cell_0"
    seed_run(cell / "seed_5", [0.5])
    (cell / "config.yaml").write_text(yaml.safe_dump(TINY))
    RunGroup(cell, "grid", "CartPole-v1", "PPO", (5,), {"algo.hyperparams.n_steps": 64}).write()
    (runs / "grid" / "grid.json").write_text('{"kind": "grid", "cells": []}')
    (runs / "grid" / "config.yaml").write_text(yaml.safe_dump(TINY))  # a grid is no run either
    return runs


def test_groups_are_listed_with_their_seeds_nested(runs: Path, tmp_path: Path) -> None:
    c = TestClient(create_app(runs, tmp_path / "configs"))
    body = c.get("/api/runs").json()
    ids = {r["id"]: r for r in body["runs"]}
    assert set(ids) == {"plain/run1", "grp/seed_0", "grp/seed_1", "grp/seed_2", "grid/cell_0/seed_5"}
    assert "grp" not in ids  # a group folder (it has a config.yaml too) is not a run
    assert ids["plain/run1"]["group"] is None
    assert ids["grp/seed_1"]["group"] == "grp" and ids["grid/cell_0/seed_5"]["group"] == "grid/cell_0"
    groups = {g["id"]: g for g in body["groups"]}
    assert set(groups) == {"grp", "grid/cell_0"}
    grp = groups["grp"]
    assert (grp["name"], grp["env_id"], grp["algo"]) == ("grp", "CartPole-v1", "PPO")
    assert grp["seeds"] == [{"seed": 0, "run": "grp/seed_0"}, {"seed": 1, "run": "grp/seed_1"},
                            {"seed": 2, "run": "grp/seed_2"}, {"seed": 3, "run": None}]
    assert groups["grid/cell_0"]["cell"] == {"algo.hyperparams.n_steps": 64}
    assert c.get("/api/runs/grp/seed_2").json()["status"] == "completed"  # a seed is a run
    assert c.get("/api/runs/grp").status_code == 404

    with c.websocket_connect("/ws/runs") as ws:
        msg = ws.receive_json()
    assert msg["full"] and [g["id"] for g in msg["groups"]] == ["grid/cell_0", "grp"]


def test_a_groups_series_is_a_band_over_its_seeds(runs: Path, tmp_path: Path) -> None:
    c = TestClient(create_app(runs, tmp_path / "configs"))
    body = c.get("/api/groups/grp/series", params={"metric": "success.eval"}).json()
    assert body["seeds"] == [0, 1, 2] and body["n_seeds"] == 4
    # the x range every seed covers (seed 2 goes on to 4000), at the seeds' own timesteps
    assert body["x"] == [1000, 2000, 3000]
    seeds = np.array([[0.2, 0.4, 0.6], [0.3, 0.5, 0.7], [0.1, 0.6, 0.8]])
    assert body["mean"] == pytest.approx(seeds.mean(axis=0).tolist())
    assert body["min"] == pytest.approx(seeds.min(axis=0).tolist())
    assert body["max"] == pytest.approx(seeds.max(axis=0).tolist())
    eps = 1e-12  # a mean of equal values may differ from them in the last bit
    for lo, m, hi, mn, mx in zip(body["lo"], body["mean"], body["hi"], body["min"], body["max"]):
        assert mn - eps <= lo <= m + eps and m - eps <= hi <= mx + eps
    reward = c.get("/api/groups/grp/series", params={"metric": "reward.ma"}).json()
    assert reward["mean"] == pytest.approx((10 * seeds.mean(axis=0)).tolist())
    one = c.get("/api/groups/grid/cell_0/series").json()
    assert one["seeds"] == [5] and one["mean"] == one["lo"] == one["hi"] == [0.5]
    none = c.get("/api/groups/grp/series", params={"metric": "no.such"}).json()
    assert none["seeds"] == [] and none["x"] == [] and none["mean"] == []
    assert c.get("/api/groups/plain/run1/series").status_code == 404
    assert c.get("/api/groups/nosuch/series").status_code == 404
    assert c.get("/api/groups/../x/series").status_code == 404
