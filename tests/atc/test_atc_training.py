"""hlynr/ATC-v0 through the parameter-sharing path, the shipped configs and monitor --csv."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

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


def test_shipped_ppo_config_trains_and_evaluates_next_to_mvp(tmp_path: Path) -> None:
    """The shipped config, shrunk: curriculum, evaluation, checkpoints and the streak stop run;
    evaluate.py scores the model next to mvp and direct on the same episodes."""
    import yaml

    from hlynr.cli.evaluate import main as evaluate_main
    from hlynr.cli.train import main as train_main

    repo = Path(__file__).resolve().parents[2]
    cfg = yaml.safe_load((repo / "configs/atc/ppo_shared.yaml").read_text())
    cfg.update(total_timesteps=768, runs_dir=str(tmp_path / "runs"))
    cfg["env"].update(n_envs=2, kwargs={**cfg["env"]["kwargs"], "max_steps": 20})
    cfg["algo"]["hyperparams"].update(n_steps=32, batch_size=128, n_epochs=1)
    cfg["algo"]["policy_kwargs"]["net_arch"] = [16]
    for cb in cfg["callbacks"]:
        name = next(iter(cb))
        if name == "evaluation":
            cb[name].update(every=384, episodes=2)
        elif name == "checkpoint":
            cb[name]["every"] = 384
        elif name == "curriculum":
            cb[name].update(mode="schedule", at=[100, 200, 300, 400, 500])
            cb[name].pop("threshold"), cb[name].pop("window")
    path = tmp_path / "atc.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert run_main(train_main, ["--config", str(path)]) == 0
    run = next((tmp_path / "runs").glob("*/*"))
    evals = [json.loads(line) for line in (run / "progress.jsonl").read_text().splitlines()
             if '"eval"' in line]
    assert len(evals) == 2 and {"conflict_free", "los_events", "path_efficiency"} <= set(evals[0]["eval_info"])
    out = tmp_path / "scores.json"
    assert run_main(evaluate_main, [str(run), "--baseline", "mvp", "--baseline", "direct", "-n", "4",
                                    "--paired", "path_efficiency", "--paired", "los_events",
                                    "--json", str(out)]) == 0
    rows = {r["label"]: r for r in json.loads(out.read_text())["results"]}
    assert {"best", "baseline:mvp", "baseline:direct"} <= set(rows)
    for r in rows.values():  # paired: every row on the same seeded episodes
        assert [e["seed"] for e in r["episodes"]] == [0, 1, 2, 3]
        assert r["info"]["n_aircraft"]["mean"] == 6.0  # scored at the final stage (random, 6)
    assert "paired_info" not in rows["baseline:mvp"]  # the first baseline is the reference
    for label in ("best", "baseline:direct"):
        d = rows[label]["paired_info"]
        assert d["reference"] == "baseline:mvp" and list(d["keys"]) == ["path_efficiency", "los_events"]
        for key, c in d["keys"].items():
            mine = [e[key] for e in rows[label]["episodes"]]
            ref = [e[key] for e in rows["baseline:mvp"]["episodes"]]
            assert c["difference"] == pytest.approx(np.mean(np.subtract(mine, ref)))
    assert run_main(evaluate_main, [str(run), "--baseline", "mvp", "-n", "2", "--paired", "path_eficiency"]) == 2
