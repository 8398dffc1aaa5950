"""A grid's runs shared by worker processes through an Optuna storage: each run is trained once,
by one worker, and a killed worker's run is taken over (heartbeat) and finished.

The PostgreSQL variants need a server: ``source .ci/postgres.sh`` exports
``HLYNR_TEST_POSTGRES_URL``. Without it they skip, except under CI (``CI`` set), where a missing
server is a failure (``hlynr_testing.missing_system_dependency``). Optuna's journal storage has
no heartbeats, so the takeover is tested on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from hlynr_testing import REPO, coin_config, missing_system_dependency
from optuna.trial import TrialState

from hlynr.runs.group import SeedState, read_grid, seed_dir, seed_status
from hlynr.runs.progress_log import read_progress

ENV = {**os.environ, "PYTHONPATH": f"{REPO / 'tests'}{os.pathsep}{REPO}", "OMP_NUM_THREADS": "1"}


def _storage(kind: str, tmp_path: Path) -> str:
    if kind == "postgresql":
        url = os.environ.get("HLYNR_TEST_POSTGRES_URL")
        if not url:
            missing_system_dependency("HLYNR_TEST_POSTGRES_URL is not set",
                                      "source .ci/postgres.sh (installs and starts PostgreSQL, sets it)")
        return url
    return str(tmp_path / ("queue.log" if kind == "journal" else "queue.db"))


def _load(storage: str, name: str) -> optuna.Study | None:
    from hlynr.tuning.storage import resolve_storage

    spec = resolve_storage(storage, Path("."), "")
    try:
        return optuna.load_study(study_name=name, storage=spec.open())
    except KeyError:
        return None


def _start(tmp_path: Path, storage: str, name: str, cells: int, timesteps: int,
           callbacks: list[Any] | None = None) -> tuple[subprocess.Popen[str], Path]:
    """``train.py`` with a grid of ``cells`` cells x seed 1, queued in ``storage``; it works too."""
    data = coin_config(total_timesteps=timesteps, callbacks=callbacks or [],
                       grid={"env.kwargs.p": [round(0.1 + 0.8 * i / max(cells - 1, 1), 3)
                                              for i in range(cells)]})
    data["env"] = {"id": "hlynr_testing:CoinEnv", "n_envs": 2}
    config = tmp_path / "grid.yaml"
    config.write_text(yaml.safe_dump(data))
    grid = tmp_path / "grid"
    proc = _popen(["train.py", "--config", str(config), "--run-dir", str(grid), "--storage",
                   storage, "--study", name, "--jobs", "1", "--heartbeat", "1"])
    deadline = time.time() + 120
    while _load(storage, name) is None:
        assert proc.poll() is None and time.time() < deadline, proc.communicate()
        time.sleep(0.5)
    return proc, grid


def _popen(args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, *args], cwd=REPO, env=ENV, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _worker(storage: str, name: str) -> subprocess.Popen[str]:
    return _popen(["-m", "hlynr", "worker", "--storage", storage, "--study", name, "--jobs", "1",
                   "--heartbeat", "1"])


def _completed(out: str) -> set[int]:
    return {int(k) for k in re.findall(r"^cell (\d+) seed 1 completed", out, re.M)}


def _cleanup(storage: str, name: str) -> None:
    if "://" in storage:
        from hlynr.tuning.storage import with_installed_driver

        try:
            optuna.delete_study(study_name=name, storage=with_installed_driver(storage))
        except KeyError:
            pass


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["journal", "postgresql"])
def test_two_workers_train_disjoint_cells_of_one_grid(kind: str, tmp_path: Path) -> None:
    storage = _storage(kind, tmp_path)
    name = f"grid-{uuid.uuid4().hex[:10]}"
    try:
        first, grid = _start(tmp_path, storage, name, cells=3, timesteps=6144)
        second = _worker(storage, name)
        outs = []
        for proc in (first, second):
            out, _ = proc.communicate(timeout=400)
            assert proc.returncode == 0, out
            outs.append(out)
        done = [_completed(out) for out in outs]
        assert all(done) and done[0].isdisjoint(done[1]) and done[0] | done[1] == {0, 1, 2}, outs
        for cell in read_grid(grid).cells:  # each run trained once, start to end
            run = seed_dir(grid / f"cell_{cell.index}", 1)
            events = [r["event"] for r in read_progress(run / "progress.jsonl") if r["type"] == "event"]
            assert events == ["start", "end"] and seed_status(run).state is SeedState.DONE
        study = _load(storage, name)
        assert study is not None
        trials = [t for t in study.get_trials() if "hlynr_unit" in t.user_attrs]
        assert sorted((t.params["cell"], t.params["seed"]) for t in trials) == [(0, 1), (1, 1), (2, 1)]
        assert all(t.state is TrialState.COMPLETE and t.user_attrs["status"] == "completed"
                   for t in trials)
    finally:
        _cleanup(storage, name)


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_killed_workers_run_is_taken_over_and_finished(kind: str, tmp_path: Path) -> None:
    storage = _storage(kind, tmp_path)
    name = f"kill-{uuid.uuid4().hex[:10]}"
    total = 4096
    try:
        first, grid = _start(tmp_path, storage, name, cells=2, timesteps=total,
                             callbacks=[{"checkpoint": {"every": 512}}])
        second = _worker(storage, name)
        victim = None
        deadline = time.time() + 300
        while victim is None:  # the run the first process trains, once it has a checkpoint
            assert time.time() < deadline and first.poll() is None, first.communicate()
            for cell in (0, 1):
                run = seed_dir(grid / f"cell_{cell}", 1)
                lock = run / "run.lock"
                if not lock.is_file() or not (run / "checkpoints").is_dir():
                    continue
                steps = [r.get("timesteps", 0) for r in read_progress(run / "progress.jsonl")]
                pid = json.loads(lock.read_text() or "{}").get("pid")
                if pid and max(steps, default=0) >= 1024 and _parent(pid) == first.pid:
                    victim = (cell, pid)
            time.sleep(0.1)
        first.kill()  # a lost machine: the worker and its training process die at once
        os.kill(victim[1], signal.SIGKILL)
        first.communicate(timeout=60)
        out, _ = second.communicate(timeout=600)
        assert second.returncode == 0, out
        assert _completed(out) >= {victim[0]}, out
        run = seed_dir(grid / f"cell_{victim[0]}", 1)
        records = read_progress(run / "progress.jsonl")
        events = [r["event"] for r in records if r["type"] == "event"]
        assert events == ["start", "resume", "end"] and records[-1]["status"] == "completed"
        resumed_at = next(r["timesteps"] for r in records if r.get("event") == "resume")
        assert resumed_at >= 512 and records[-1]["timesteps"] >= total  # from its checkpoint
        study = _load(storage, name)
        assert study is not None
        mine = [t for t in study.get_trials() if t.params.get("cell") == victim[0]]
        states = sorted(t.state.name for t in mine)
        assert states == ["COMPLETE", "FAIL"], states  # the stale trial, and its retry
        retry = next(t for t in mine if t.state is TrialState.COMPLETE)
        assert retry.system_attrs.get("failed_trial") == next(
            t.number for t in mine if t.state is TrialState.FAIL)
        assert "completed" in out and "study: 2 completed, 0 failed, 0 waiting, 0 running" in out
    finally:
        _cleanup(storage, name)


@pytest.mark.parametrize(("args", "fragment"), [
    (["--storage", "{tmp}/q.db", "--study", "nope"], "no study 'nope' in sqlite:///"),
    (["--storage", "{tmp}/q.txt", "--study", "nope"], "--storage: storage '{tmp}/q.txt' is neither"),
    (["--storage", "{tmp}/q.db", "--study", "nope", "--jobs", "0"], "--jobs 0: at least one"),
    (["--storage", "{tmp}/q.db", "--study", "tuning"], "study 'tuning' in sqlite:///"),
])
def test_bad_worker_input_gives_one_error_line(args: list[str], fragment: str, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    from hlynr.cli import worker
    from hlynr.cli.common import run_main

    optuna.create_study(study_name="tuning", storage=f"sqlite:///{tmp_path / 'q.db'}")
    args = [a.format(tmp=tmp_path) for a in args]
    assert run_main(worker.main, args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and fragment.format(tmp=tmp_path) in err, err
    assert "Traceback" not in err
