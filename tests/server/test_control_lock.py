"""The run-folder control channel and the run lock, in process and across real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hlynr_testing import coin_config

from hlynr.config import validate_config
from hlynr.runs import control
from hlynr.runs.lock import RunLock, RunLockedError, holder
from hlynr.runs.progress_log import read_progress
from hlynr.training.runner import RunError, RunHooks, resume_run, start_run
from tests.server.conftest import ENV, REPO, hlynr, wait_for

# The holder loads lock.py alone (standard library only), so it starts in milliseconds.
HOLD = ("import importlib.util as u, sys, time; "
        "s = u.spec_from_file_location('lock', sys.argv[2]); m = u.module_from_spec(s); "
        "s.loader.exec_module(m); m.RunLock(sys.argv[1]).acquire(); "
        "print('locked', flush=True); time.sleep(120)")
LOCK_PY = str(REPO / "hlynr" / "runs" / "lock.py")


def test_lock_names_the_live_holder_and_a_dead_holders_lock_is_taken_over(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    child = subprocess.Popen([sys.executable, "-c", HOLD, str(run), LOCK_PY], cwd=REPO, env=ENV,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "locked"
        assert holder(run) == child.pid
        t0 = time.monotonic()
        with pytest.raises(RunLockedError, match=f"in use by process {child.pid}") as info:
            RunLock(run).acquire()
        assert info.value.pid == child.pid
        assert time.monotonic() - t0 < 2.0  # fails at once, does not wait for the holder
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert holder(run) is None  # the kernel released the dead holder's lock
    with RunLock(run) as lock:
        assert lock.previous_pid == child.pid  # its stale lock file was taken over
        assert holder(run) == os.getpid()
    assert holder(run) is None


def _coin(**over):
    return validate_config(coin_config(**over))


def test_save_and_stop_requests_are_answered_and_the_run_ends_stopped(runs_dir: Path) -> None:
    sent: dict[str, str] = {}
    run_dir = runs_dir / "coin" / "r"

    def on_rollout(record: dict) -> None:
        if record["timesteps"] == 128:
            sent["save"] = control.request(run_dir, "save")
        elif record["timesteps"] == 256:
            sent["stop"] = control.request(run_dir, "stop")

    config = _coin(total_timesteps=100_000,
                   callbacks=[{"checkpoint": {"every": 100_000, "keep_last": 5}}])
    result = start_run(config, run_dir=run_dir, hooks=RunHooks(on_rollout=on_rollout))
    assert result.status == "stopped" and result.timesteps < 400
    save = control.read_ack(run_dir, sent["save"])
    assert save["status"] == "done" and save["timesteps"] == 128  # served at that rollout's end
    assert (run_dir / save["checkpoint"] / "model.zip").is_file()
    stop = control.read_ack(run_dir, sent["stop"])
    assert stop["status"] == "done" and (run_dir / stop["checkpoint"] / "model.zip").is_file()
    assert (run_dir / "final" / "model.zip").is_file()
    assert control.pending(run_dir) == []
    ends = [r for r in read_progress(run_dir / "progress.jsonl") if r.get("event") == "end"]
    assert [e["status"] for e in ends] == ["stopped"]
    assert holder(run_dir) is None  # the lock is released when the run ends
    resumed = resume_run(run_dir, total_timesteps=512)
    assert resumed.status == "completed" and resumed.timesteps >= 512


def test_requests_left_while_nothing_trained_are_dropped(runs_dir: Path) -> None:
    run_dir = runs_dir / "coin" / "r"
    result = start_run(_coin(total_timesteps=256), run_dir=run_dir)
    stale = control.request(run_dir, "stop")
    result = resume_run(run_dir, total_timesteps=512)
    assert result.status == "completed"  # the old stop request did not stop the resumed run
    assert control.read_ack(run_dir, stale)["status"] == "dropped"


def test_off_policy_runs_look_at_the_channel_between_steps(runs_dir: Path) -> None:
    run_dir = runs_dir / "coin" / "dqn"
    sent: list[str] = []

    def on_rollout(record: dict) -> None:
        if not sent:
            sent.append(control.request(run_dir, "stop"))

    config = _coin(total_timesteps=50_000, algo={
        "name": "DQN", "hyperparams": {"learning_starts": 100, "buffer_size": 1000},
        "policy_kwargs": {"net_arch": [8]}})
    result = start_run(config, run_dir=run_dir, hooks=RunHooks(on_rollout=on_rollout))
    assert result.status == "stopped"
    # the first progress record is written at 1000 steps; the channel is read every 1000
    assert result.timesteps <= 1000 + control.OFF_POLICY_CHECK_EVERY + 2
    assert control.read_ack(run_dir, sent[0])["status"] == "done"


def test_training_into_an_existing_folder_is_refused_before_anything_runs(runs_dir: Path) -> None:
    run_dir = runs_dir / "coin" / "r"
    start_run(_coin(total_timesteps=64), run_dir=run_dir)
    before = sorted(p.name for p in run_dir.iterdir())
    with pytest.raises(RunError, match="already exists"):
        start_run(_coin(total_timesteps=64), run_dir=run_dir)
    assert sorted(p.name for p in run_dir.iterdir()) == before


@pytest.mark.slow
def test_a_second_resume_of_a_live_run_fails_at_once_and_stop_resume_work_from_the_terminal(
        tmp_path: Path, configs_dir: Path, trainer) -> None:
    run = tmp_path / "runs" / "live"
    proc = trainer("--config", str(configs_dir / "tiny.yaml"), "--run-dir", str(run))
    wait_for(lambda: holder(run) == proc.pid and (run / "progress.jsonl").is_file(),
             what="the trainer to lock its run")
    second = hlynr("train", "--resume", str(run))
    assert second.returncode == 2, second.stderr
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and f"process {proc.pid}" in lines[0]
    into = hlynr("train", "--config", str(configs_dir / "tiny.yaml"), "--run-dir", str(run))
    assert into.returncode == 2 and f"process {proc.pid}" in into.stderr
    records_before = len(read_progress(run / "progress.jsonl"))
    req = control.request(run, "stop")
    ack = wait_for(lambda: control.read_ack(run, req), what="the stop answer")
    assert proc.wait(timeout=60) == 0
    assert ack["status"] == "done" and (run / ack["checkpoint"] / "model.zip").is_file()
    records = read_progress(run / "progress.jsonl")
    assert len(records) > records_before
    assert records[-1]["event"] == "end" and records[-1]["status"] == "stopped"
    stopped_at = records[-1]["timesteps"]
    again = hlynr("train", "--resume", str(run), "--set", f"total_timesteps={stopped_at + 512}")
    assert again.returncode == 0, again.stderr
    records = read_progress(run / "progress.jsonl")
    assert records[-1]["status"] == "completed" and records[-1]["timesteps"] >= stopped_at + 512
