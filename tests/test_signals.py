"""Ctrl+C as a terminal sends it: SIGINT to the training command's whole process group.

Every vectoriser's worker processes leave the signal to the training process, which stops at the
next step, saves its checkpoint and summary, closes the workers and exits 130. A second Ctrl+C at
any point after the first ends the same way, with at most one line about it and no traceback.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hlynr_testing import REPO

from hlynr.runs.checkpoints import list_checkpoints
from hlynr.runs.lock import holder
from hlynr.runs.progress_log import read_progress
from hlynr.training.signals import ABANDON_NOTE

ENV = {**os.environ, "PYTHONPATH": f"{REPO / 'tests'}{os.pathsep}{REPO}", "OMP_NUM_THREADS": "1"}
WAIT_S = 240  # generous: a loaded 2-core machine starts torch and worker processes slowly

PPO = {"name": "PPO", "hyperparams": {"n_steps": 16, "batch_size": 32, "n_epochs": 1},
       "policy_kwargs": {"net_arch": [8]}}
CARTPOLE = {"id": "CartPole-v1", "n_envs": 2}
SWARM = {"type": "pettingzoo", "id": "hlynr/Swarm-v0", "n_envs": 2,
         "kwargs": {"max_agents": 2, "n_agents": 2, "k_neighbours": 1}}
INTERCEPT = {"id": "hlynr/Intercept-v0", "n_envs": 2, "vectoriser": "batched"}
VECTORISERS = [
    pytest.param({**CARTPOLE, "vectoriser": "dummy"}, id="dummy"),
    pytest.param({**CARTPOLE, "vectoriser": "subproc"}, id="subproc"),
    pytest.param(INTERCEPT, id="batched", marks=pytest.mark.slow),
    pytest.param({**INTERCEPT, "workers": 2}, id="batched-workers", marks=pytest.mark.slow),
    pytest.param({**SWARM, "num_cpus": 0}, id="supersuit", marks=pytest.mark.slow),
    pytest.param({**SWARM, "num_cpus": 2}, id="supersuit-processes", marks=pytest.mark.slow),
    pytest.param({**SWARM, "vectoriser": "batched", "workers": 2}, id="agent-rows-workers",
                 marks=pytest.mark.slow),
]


def config(env: dict[str, Any], **over: Any) -> dict[str, Any]:
    return {"name": "sig", "seed": 0, "total_timesteps": 10_000_000, "torch_threads": 1, "env": env,
            "wrappers": [{"normalize": {"norm_obs": True, "norm_reward": True}}], "algo": PPO,
            "callbacks": [], **over}


class Training:
    """``python train.py`` in its own session (process group), as a terminal would run it."""

    def __init__(self, tmp_path: Path, cfg: dict[str, Any]) -> None:
        path = tmp_path / "cfg.yaml"
        path.write_text(yaml.safe_dump(cfg))
        self.runs = tmp_path / "runs"
        self.proc = subprocess.Popen(
            [sys.executable, "train.py", "--config", str(path), "--runs-dir", str(self.runs), "--quiet"],
            cwd=REPO, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            start_new_session=True)
        self.out = self.err = ""

    @property
    def run(self) -> Path:
        runs = list(self.runs.glob("*/*/"))
        assert len(runs) == 1, runs
        return runs[0]

    def wait_for(self, cond: Callable[[], Any], what: str) -> None:
        deadline = time.monotonic() + WAIT_S
        while not cond():
            if self.proc.poll() is not None:
                self.finish()
                pytest.fail(f"train.py ended (exit {self.proc.returncode}) before {what}:\n{self.err}")
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {what}")
            time.sleep(0.05)

    def rollouts(self) -> int:
        logs = list(self.runs.glob("*/*/progress.jsonl"))
        return sum(r["type"] == "rollout" for r in read_progress(logs[0])) if logs else 0

    def wait_training(self, rollouts: int = 1) -> None:
        self.wait_for(lambda: self.rollouts() >= rollouts, "training")

    def ctrl_c(self) -> None:
        """SIGINT to the whole process group (what a terminal does on Ctrl+C)."""
        try:
            os.killpg(self.proc.pid, signal.SIGINT)
        except ProcessLookupError:  # already gone: the first Ctrl+C ended it
            pass

    def finish(self) -> None:
        self.out, self.err = self.proc.communicate(timeout=WAIT_S)

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()


@pytest.fixture
def training(tmp_path: Path) -> Iterator[Callable[[dict[str, Any]], Training]]:
    started: list[Training] = []

    def start(cfg: dict[str, Any]) -> Training:
        started.append(Training(tmp_path, cfg))
        return started[-1]

    yield start
    for t in started:
        t.kill()


def group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def assert_interrupted(t: Training) -> Path:
    """Exit 130 and a complete, resumable run folder; no worker process left behind."""
    assert t.proc.returncode == 130, t.err
    for stream in (t.out, t.err):
        assert "Traceback" not in stream and "Exception ignored" not in stream, stream
    assert "continue with: python train.py --resume" in t.out
    run = t.run
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "interrupted", summary
    end = read_progress(run / "progress.jsonl")[-1]
    assert end["event"] == "end" and end["status"] == "interrupted"
    checkpoints = list_checkpoints(run)
    assert checkpoints and json.loads((checkpoints[-1] / "meta.json").read_text())["timesteps"] == \
        summary["timesteps"]
    assert holder(run) is None  # the run lock was released
    deadline = time.monotonic() + 30
    while not group_gone(t.proc.pid):  # workers, fork server, resource tracker: all ended
        assert time.monotonic() < deadline, "processes of the run outlived it"
        time.sleep(0.1)
    return run


@pytest.mark.parametrize("env", VECTORISERS)
def test_ctrl_c_stops_and_saves_with_every_vectoriser(training, env: dict[str, Any]) -> None:
    t = training(config(env))
    t.wait_training()
    t.ctrl_c()
    t.finish()
    assert_interrupted(t)
    assert t.err.strip() == ""


@pytest.mark.parametrize(("vectoriser", "gap"), [
    ("dummy", 0.01), ("dummy", 0.2), ("subproc", 0.01),
    pytest.param("subproc", 0.2, marks=pytest.mark.slow)])
def test_a_second_ctrl_c_soon_after_the_first_ends_the_same_way(
        training, vectoriser: str, gap: float) -> None:
    t = training(config({**CARTPOLE, "vectoriser": vectoriser}))
    t.wait_training()
    t.ctrl_c()
    time.sleep(gap)
    t.ctrl_c()
    t.finish()
    assert_interrupted(t)
    assert len(t.err.strip().splitlines()) <= 1, t.err


@pytest.mark.slow
def test_a_ctrl_c_after_the_checkpoint_was_saved_changes_nothing(training) -> None:
    t = training(config({**CARTPOLE, "vectoriser": "dummy"}))
    t.wait_training()
    t.ctrl_c()
    t.wait_for(lambda: list(t.runs.glob("*/*/summary.json")), "the interrupted run's summary")
    t.ctrl_c()
    t.finish()
    assert_interrupted(t)
    assert len(t.err.strip().splitlines()) <= 1, t.err


@pytest.mark.slow
def test_a_second_ctrl_c_abandons_a_slow_step_then_saves_and_resume_works(training) -> None:
    t = training(config({"id": "signals_testing:SlowEnv", "n_envs": 2, "vectoriser": "subproc",
                         "kwargs": {"delay": 2.0}},
                        algo={**PPO, "hyperparams": {"n_steps": 2, "batch_size": 4, "n_epochs": 1}}))
    t.wait_training()  # a rollout just ended: the next step takes 2 s
    t.ctrl_c()
    time.sleep(0.2)
    t.ctrl_c()
    t.finish()
    assert t.err.strip() == ABANDON_NOTE
    run = assert_interrupted(t)
    stopped = json.loads((run / "summary.json").read_text())["timesteps"]
    resumed = subprocess.run([sys.executable, "train.py", "--resume", str(run), "--quiet",
                              "--set", f"total_timesteps={stopped + 4}"],  # one more rollout
                             cwd=REPO, env=ENV, capture_output=True, text=True, timeout=WAIT_S)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((run / "summary.json").read_text())["status"] == "completed"


def test_an_interrupted_save_keeps_the_previous_model_and_leaves_no_temporary_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A KeyboardInterrupt (second Ctrl+C) at any point of a save, even between the two renames
    that replace a model folder, leaves the previous complete folder in place."""
    from stable_baselines3 import PPO as SB3PPO

    from hlynr.runs import artifacts
    from hlynr.runs.artifacts import is_complete, read_meta, save_model_dir, write_json

    model = SB3PPO("MlpPolicy", "CartPole-v1", n_steps=16, batch_size=16, device="cpu",
                   policy_kwargs={"net_arch": [4]})
    folder = tmp_path / "checkpoints" / "step_000000000016"
    save_model_dir(folder, model, {"timesteps": 16, "version": 1})
    real = os.replace
    for k in range(3):  # the save's renames: meta.json, folder -> .old, temporary -> folder
        calls = []

        def replace(src: Any, dst: Any, k: int = k, calls: list = calls) -> None:
            calls.append(1)
            if len(calls) == k + 1:
                raise KeyboardInterrupt
            real(src, dst)

        monkeypatch.setattr(artifacts.os, "replace", replace)
        with pytest.raises(KeyboardInterrupt):
            save_model_dir(folder, model, {"timesteps": 16, "version": 2})
        monkeypatch.setattr(artifacts.os, "replace", real)
        assert is_complete(folder) and read_meta(folder)["version"] == 1, k
        assert sorted(p.name for p in folder.parent.iterdir()) == [folder.name], k
    monkeypatch.setattr(artifacts.os, "replace", lambda src, dst: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        write_json(tmp_path / "summary.json", {"status": "interrupted"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoints"]
