"""hlynr/ATC-v0 through the parameter-sharing path, the shipped configs and monitor --csv."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from hlynr.cli.common import run_main
from hlynr.cli.monitor import csv_rows
from hlynr.cli.monitor import main as monitor_main
from hlynr.envs.atc import ATCEnv
from hlynr.multiagent import build_pettingzoo_vec_env


def test_parameter_sharing_rows_seeds_and_end_info() -> None:
    kw = {"scenario": "head_on", "max_aircraft": 3, "k_intruders": 2, "jitter_nm": 0.0}
    venv = build_pettingzoo_vec_env("hlynr/ATC-v0", kw, 2, 0, None)
    try:
        assert venv.num_envs == 6 and venv.rows_per_episode == 3
        venv.seed(7)
        obs = venv.reset()
        for c in range(2):
            ref, _ = ATCEnv(**kw).reset(seed=7 + c)
            np.testing.assert_array_equal(obs[3 * c:3 * c + 3], np.stack(list(ref.values())))
        assert not obs[2].any() and not obs[5].any()  # the unused third slot is black
        ends = []
        for _ in range(200):
            obs, rew, done, infos = venv.step(np.zeros((6, 2), dtype=np.float32))
            ends += [i for i in infos if "episode" in i]
            if len(ends) >= 2:
                break
        assert len(ends) == 2  # one record per team episode, on the copy's first row
        for info in ends:
            assert info["los_events"] == 1.0 and info["conflict_free"] == 0.0
            assert not info["is_success"]
    finally:
        venv.close()


def test_csv_rows_streak_and_columns(tmp_path: Path) -> None:
    def roll(t: int) -> dict:
        return {"type": "rollout", "timesteps": t, "total_timesteps": 1000, "ep_reward_mean": 1.0,
                "ep_reward_min": -2.0, "ep_reward_max": 3.0, "ep_length_mean": 100.0,
                "episodes": t // 100, "success_rate": 0.5, "stage": 0, "wall_time": 1.0,
                "steps_per_s": 10.0}

    def ev(t: int, cf: float) -> dict:
        return {"type": "eval", "timesteps": t, "eval_success_rate": cf, "eval_info": {"conflict_free": cf}}

    recs = [roll(100), ev(150, 1.0), roll(200), ev(250, 1.0), roll(300), ev(350, 0.9), roll(400),
            ev(450, 1.0), roll(500)]
    rows = csv_rows(recs)
    assert [r["zero_conflict_streak"] for r in rows] == [0, 1, 2, 0, 1]
    assert rows[2]["eval_conflict_free"] == 1.0 and rows[3]["evaluations"] == 3
    run = tmp_path / "run"
    run.mkdir()
    (run / "progress.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    out = tmp_path / "p.csv"
    assert run_main(monitor_main, [str(run), "--csv", str(out), "--json"]) == 0
    table = list(csv.DictReader(out.open()))
    assert len(table) == 5 and table[-1]["episode_reward_min"] == "-2.0"
    assert table[-1]["timesteps_total"] == "500" and table[-1]["zero_conflict_streak"] == "1"
