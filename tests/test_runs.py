"""Run folders, Ctrl+C checkpoints, resume, and the three commands end to end as subprocesses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from hlynr_testing import REPO, coin_config

from hlynr.runs.progress_log import read_progress

ENV = {**os.environ, "PYTHONPATH": f"{REPO / 'tests'}{os.pathsep}{REPO}", "OMP_NUM_THREADS": "1"}
# the tests' CoinEnv is registered by importing hlynr_testing inside the subprocess
PRELUDE = "import hlynr_testing, runpy, sys; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run a top-level script (train.py, evaluate.py, ...) with the test env registered."""
    return subprocess.run([sys.executable, "-c", PRELUDE, *args], cwd=REPO, env=ENV,
                          capture_output=True, text=True, timeout=timeout)


def popen(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", PRELUDE, *args], cwd=REPO, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def write_config(tmp_path: Path, **over) -> Path:
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(coin_config(**over)))
    return path


def only_run(runs_dir: Path) -> Path:
    runs = list(runs_dir.glob("*/*/"))
    assert len(runs) == 1, runs
    return runs[0]


def test_sigint_saves_checkpoint_and_resume_continues_counters(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    cfg = write_config(
        tmp_path, total_timesteps=6000,
        algo={"name": "PPO", "hyperparams": {
            "n_steps": 32, "batch_size": 32, "n_epochs": 1,
            "learning_rate": {"schedule": "linear", "start": 1e-3, "end": 0.0}},
            "policy_kwargs": {"net_arch": [8]}},
        callbacks=[{"evaluation": {"every": 256, "episodes": 4}}, "best_model",
                   {"checkpoint": {"every": 512, "keep_last": 2}},
                   {"curriculum": {"mode": "schedule", "stages": [{"p": 1.0}, {"p": 0.5}],
                                   "at": [640]}}],
    )
    proc = popen("train.py", "--config", str(cfg), "--runs-dir", str(runs), "--quiet")
    deadline = time.time() + 60
    while time.time() < deadline:
        logs = list(runs.glob("*/*/progress.jsonl"))
        if logs and any(r.get("timesteps", 0) >= 1200 for r in read_progress(logs[0])):
            break
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "--resume" in out
    run = only_run(runs)
    records = read_progress(run / "progress.jsonl")
    stopped_at = records[-1]["timesteps"]
    assert records[-1]["event"] == "end" and records[-1]["status"] == "interrupted"
    assert 1200 <= stopped_at < 6000
    ckpts = sorted((run / "checkpoints").iterdir())
    assert len(ckpts) <= 2 and ckpts[-1].name == f"step_{stopped_at:012d}"
    state = json.loads((ckpts[-1] / "meta.json").read_text())["state"]
    assert state["curriculum"]["stage"] == 1 and state["best_model"]["best"] is not None

    res = cli("train.py", "--resume", str(run), "--quiet")
    assert res.returncode == 0, res.stderr
    records = read_progress(run / "progress.jsonl")
    rollouts = [r for r in records if r["type"] == "rollout"]
    steps = [r["timesteps"] for r in rollouts]
    # the counter continued (not restarted): whole 64-step rollouts from where it stopped
    assert steps == sorted(steps) and 6000 <= steps[-1] < 6064
    assert (steps[-1] - stopped_at) % 64 == 0
    resumed = [r for r in rollouts if r["timesteps"] > stopped_at]
    assert len(resumed) >= 10
    for r in resumed:  # learning-rate schedule continued (value of the last update's progress)
        t = r["timesteps"]
        assert 1e-3 * (1 - t / 6000) - 1e-9 <= r["learning_rate"] <= 1e-3 * (1 - (t - 128) / 6000)
        assert r["stage"] == 1  # curriculum stage restored
    assert any(r.get("event") == "resume" for r in records)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["timesteps"] == steps[-1]
    assert (run / "final" / "model.zip").is_file()


def test_train_evaluate_monitor_end_to_end(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    cfg = write_config(tmp_path, total_timesteps=640,
                       callbacks=[{"evaluation": {"every": 320, "episodes": 5}}, "best_model"])
    res = cli("train.py", "--config", str(cfg), "--runs-dir", str(runs))
    assert res.returncode == 0, res.stderr
    assert "eval @ 320" in res.stdout and "run completed" in res.stdout
    run = only_run(runs)
    for name in ("config.yaml", "versions.json", "progress.jsonl", "summary.json"):
        assert (run / name).is_file(), name
    assert list((run / "tb").iterdir())
    # the resolved config reproduces the run
    assert cli("train.py", "--config", str(run / "config.yaml"), "--check").returncode == 0

    out = tmp_path / "scores.json"
    res = cli("evaluate.py", str(run), "--which", "all", "-n", "12", "--n-envs", "3",
              "--json", str(out))
    assert res.returncode == 0, res.stderr
    data = json.loads(out.read_text())
    labels = {r["label"] for r in data["results"]}
    assert {"best", "final"} <= labels
    for r in data["results"]:
        m = r["metrics"]
        assert m["episodes"] == 12
        assert m["success_ci_low"] <= m["success_rate"] <= m["success_ci_high"]
        assert [e["seed"] for e in r["episodes"]] == list(range(12))
        assert "p_used" in r["info"]

    res = cli("monitor_training.py", str(run), "--json", "--plot", str(tmp_path / "c.png"))
    assert res.returncode == 0, res.stderr
    status = json.loads(res.stdout)
    assert status["state"] == "finished" and status["timesteps"] == 640
    assert status["evaluations"] == 2
    assert (tmp_path / "c.png").stat().st_size > 1000


@pytest.mark.parametrize("args, fragment", [
    (["train.py", "--config", "nope.yaml"], "config file not found"),
    (["train.py", "--set", "env.id=NoSuchEnv-v0"], "unknown Gymnasium env id"),
    (["train.py", "--preset", "pendulum_ppo", "--set", "env.id=CartPole-v1", "--set", "algo.name=SAC",
      "--set", "algo.hyperparams={}", "--set", "algo.policy_kwargs={}"],
     "SAC cannot act on CartPole-v1"),
    (["evaluate.py", "no/such/run"], "not found"),
    (["monitor_training.py", "--runs-dir", "no/such/dir"], "no runs found"),
    (["train.py", "--resume", "no/such/run"], "not a run folder"),
    (["evaluate.py", "--config", "configs/intercept/ppo_standard.yaml", "--baseline", "pn:n=6"],
     "unknown key 'n' (did you mean 'N'?)"),
    (["evaluate.py", "--config", "configs/intercept/ppo_standard.yaml", "--baseline", "pnn"],
     "unknown baseline 'pnn' (did you mean 'pn'?)"),
    (["evaluate.py", "--config", "configs/intercept/ppo_standard.yaml", "--baseline", "pn:N"],
     "expected NAME:KEY=VALUE"),
])
def test_bad_input_gives_one_clear_error(args: list[str], fragment: str, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from hlynr.cli import evaluate, monitor, train
    from hlynr.cli.common import run_main

    monkeypatch.chdir(REPO)
    mains = {"train.py": train.main, "evaluate.py": evaluate.main,
             "monitor_training.py": monitor.main}
    extra = ["--runs-dir", str(tmp_path / "runs")] if args[0] == "train.py" else []
    assert run_main(mains[args[0]], args[1:] + extra) == 2
    err = capsys.readouterr().err
    assert fragment in err, err
    assert "Traceback" not in err
    assert not (tmp_path / "runs").exists()  # nothing half-written


def test_corrupt_checkpoints_fall_back_then_fail_clearly_and_leave_run_intact(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    cfg = write_config(tmp_path, total_timesteps=256,
                       callbacks=[{"checkpoint": {"every": 128, "keep_last": 3}}])
    assert cli("train.py", "--config", str(cfg), "--runs-dir", str(runs), "-q").returncode == 0
    run = only_run(runs)
    oldest, newest = sorted((run / "checkpoints").iterdir())[-2:]
    (newest / "model.zip").write_bytes(b"not a zip")
    (oldest / "model.zip").write_bytes((oldest / "model.zip").read_bytes()[:100])  # truncated
    before = (run / "progress.jsonl").read_text(), (run / "config.yaml").read_text()
    res = cli("train.py", "--resume", str(run), "--set", "total_timesteps=1024")
    assert res.returncode == 2 and "no checkpoint can be resumed from" in res.stderr, res.stderr
    assert f"{newest.name} is damaged" in res.stderr and f"{oldest.name} is damaged" in res.stderr
    assert "Traceback" not in res.stderr
    assert ((run / "progress.jsonl").read_text(), (run / "config.yaml").read_text()) == before
    res = cli("evaluate.py", str(newest))
    assert res.returncode == 2 and "cannot load" in res.stderr and "Traceback" not in res.stderr


def test_evaluate_per_curriculum_stage(runs_dir: Path, tmp_path: Path) -> None:
    from hlynr.cli.common import run_main
    from hlynr.cli.evaluate import main as evaluate_main
    from hlynr.config import validate_config
    from hlynr.training.runner import start_run

    config = validate_config(coin_config(
        total_timesteps=128,
        callbacks=[{"curriculum": {"mode": "frozen", "stages": [{"p": 1.0}, {"p": 0.0}]}}]))
    run = start_run(config, runs_dir=runs_dir).run_dir
    out = tmp_path / "stages.json"
    assert run_main(evaluate_main, [str(run), "--which", "final", "--stage", "all", "-n", "6",
                                    "--json", str(out)]) == 0
    rows = {r["label"]: r["metrics"]["success_rate"] for r in json.loads(out.read_text())["results"]}
    assert rows == {"final @stage 0": 1.0, "final @stage 1": 0.0}
    # an env value the evaluated stage would replace is refused, not silently dropped
    args = [str(run), "--which", "final", "-n", "6", "--set", "env.kwargs.p=0.5"]
    assert run_main(evaluate_main, args) == 2
    assert run_main(evaluate_main, [*args, "--stage", "9"]) == 2  # no such stage: its own error
    assert run_main(evaluate_main, [*args, "--stage", "none", "--json", str(out)]) == 0


def test_resume_can_extend_a_finished_run_and_takes_no_other_override(
        runs_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hlynr.cli.common import run_main
    from hlynr.cli.train import main as train_main
    from hlynr.config import validate_config
    from hlynr.training.runner import RunError, resume_run, start_run
    from hlynr.zoo import load_config

    run = start_run(validate_config(coin_config(total_timesteps=256)), runs_dir=runs_dir).run_dir
    with pytest.raises(RunError, match="--set total_timesteps=N"):
        resume_run(run)
    assert run_main(train_main, ["--resume", str(run), "--set", "seed=3"]) == 2
    assert "only --set total_timesteps" in capsys.readouterr().err
    result = resume_run(run, total_timesteps=512)
    assert result.status == "completed" and result.timesteps == 512
    assert load_config(run / "config.yaml").config.total_timesteps == 512
