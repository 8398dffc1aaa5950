"""monitor_training.py's analysis on synthetic progress logs."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

from hlynr.cli.common import run_main
from hlynr.cli.monitor import main as monitor_main
from hlynr.cli.monitor import render
from hlynr.monitoring.analysis import analyse


def rollout(t: int, **kw) -> dict:
    return {"type": "rollout", "timesteps": t, "total_timesteps": 100_000, "wall_time": t / 1000,
            "steps_per_s": 1000.0, "success_rate": kw.get("train", 0.5), "stage": kw.get("stage"),
            "ent_coef": 0.01, "learning_rate": 3e-4}


def ev(t: int, success: float, reward: float = 0.0) -> dict:
    return {"type": "eval", "timesteps": t, "eval_success_rate": success,
            "eval_success_ci_low": max(0, success - 0.1), "eval_success_ci_high": min(1, success + 0.1),
            "eval_mean_reward": reward}


def kinds(status) -> set[str]:
    return {a.kind for a in status.alerts}


def test_progress_eta_peak_and_trend() -> None:
    recs = [rollout(t) for t in range(10_000, 50_001, 10_000)]
    recs += [ev(10_000, 0.1), ev(20_000, 0.3), ev(30_000, 0.5), ev(40_000, 0.6), ev(50_000, 0.7)]
    st = analyse(recs, "run", mtime=0.0, now=1.0)
    assert st.state == "running" and st.progress == 0.5
    assert st.eta_s == 50.0  # 50k steps left at 1000 steps/s
    assert st.peak_success == 0.7 and st.peak_timesteps == 50_000
    assert st.trend == "rising" and not st.alerts


def test_collapse_from_peak_is_flagged_with_when() -> None:
    recs = [rollout(1000)] + [ev(t * 1000, s) for t, s in enumerate([0.1, 0.22, 0.15, 0.05, 0.0], 1)]
    st = analyse(recs, "run", mtime=0.0, now=1.0)
    assert "collapse" in kinds(st)
    assert st.peak_timesteps == 2000 and st.trend == "falling"


def test_stall_and_reward_success_divergence() -> None:
    flat = [ev(t * 1000, 0.4 if t == 1 else 0.35) for t in range(1, 11)]
    assert "stall" in kinds(analyse(flat, "run", mtime=0.0, now=1.0))
    diverge = [ev(t * 1000, s, r) for t, (s, r) in
               enumerate([(0.6, 10), (0.5, 20), (0.4, 30), (0.35, 40), (0.3, 50)], 1)]
    assert "reward_success_divergence" in kinds(analyse(diverge, "run", mtime=0.0, now=1.0))
    healthy = [ev(t * 1000, s, r) for t, (s, r) in
               enumerate([(0.3, 10), (0.4, 20), (0.5, 30), (0.55, 40), (0.6, 50)], 1)]
    assert not analyse(healthy, "run", mtime=0.0, now=1.0).alerts


def test_stale_log_is_flagged_but_finished_run_is_not() -> None:
    recs = [rollout(1000), ev(1000, 0.5)]
    assert "not_writing" in kinds(analyse(recs, "run", mtime=0.0, now=1000.0, stale_after=300))
    done = recs + [{"type": "event", "event": "end", "timesteps": 1000, "status": "completed",
                    "reason": "done"}]
    st = analyse(done, "run", mtime=0.0, now=1000.0, stale_after=300)
    assert st.state == "finished" and not st.alerts
    resumed = done + [{"type": "event", "event": "resume", "timesteps": 1000}]
    assert analyse(resumed, "run", mtime=999.0, now=1000.0).state != "finished"


def test_cli_json_on_synthetic_log(tmp_path: Path, capsys) -> None:
    run = tmp_path / "runs" / "x" / "20260101-000000"
    run.mkdir(parents=True)
    lines = [rollout(1000, stage=2), ev(1000, 0.8), ev(2000, 0.2)]
    (run / "progress.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines) + '{"trunc')
    code = run_main(monitor_main, ["--runs-dir", str(tmp_path / "runs"), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 1  # a collapse alert makes the exit code non-zero for scripts
    assert out["stage"] == 2 and out["success"] == 0.2 and out["peak_success"] == 0.8
    assert any(a["kind"] == "collapse" for a in out["alerts"])


def test_newest_run_is_found_inside_groups_grids_and_studies(tmp_path: Path) -> None:
    import os

    from hlynr.cli.monitor import newest_run

    runs = tmp_path / "runs"
    folders = [runs / "a" / "20260101-000000", runs / "b" / "group-1" / "seed_3",
               runs / "c" / "group-2" / "algo.name=PPO" / "seed_0",
               runs / "d" / "tune-s" / "trial-4" / "seed-0"]
    for k, folder in enumerate(folders):
        folder.mkdir(parents=True)
        log = folder / "progress.jsonl"
        log.write_text(json.dumps(rollout(1000)) + "\n")
        os.utime(log, (1000 + k, 1000 + k))
    for k, folder in enumerate(folders):
        os.utime(folder / "progress.jsonl", (5000, 5000))
        assert newest_run(runs) == folder
        os.utime(folder / "progress.jsonl", (1000 + k, 1000 + k))


def test_each_stage_of_the_latest_evaluation_and_rollout_is_shown(capsys) -> None:
    staged = {**ev(20_000, 0.6), "eval_stages": {"hard": {"success_rate": 0.25, "los_events": 1.0},
                                                 "easy": {"success_rate": 0.95}}}
    recs = [{**rollout(10_000), "stage_success": {"hard": 0.1, "easy": 0.9}},
            {**ev(10_000, 0.5), "eval_stages": {"hard": {"success_rate": 0.0}}}, staged]
    st = analyse(recs, "run", mtime=0.0, now=1.0)
    assert st.eval_success_by_stage == {"hard": 0.25, "easy": 0.95}  # the latest evaluation's
    assert st.train_success_by_stage == {"hard": 0.1, "easy": 0.9}
    Console(width=200).print(render(st))
    out = capsys.readouterr().out
    assert "eval success by stage" in out and "hard 25.0%, easy 95.0%" in out
    assert "hard 10.0%, easy 90.0%" in out
    plain = analyse([rollout(10_000), ev(10_000, 0.5)], "run", mtime=0.0, now=1.0)
    Console(width=200).print(render(plain))
    assert "by stage" not in capsys.readouterr().out
