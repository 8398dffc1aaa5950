"""Every way a run can end, through the real train.py: its exit code, ``summary.json``, the end
event of ``progress.jsonl``, and the lock released (docs/runs.md, "How a run ends").

The runs train in this process (``run_main(train.main, argv)``: the command's exit code
without ``sys.exit``), so a lock left behind would still be held when the test looks; the
crash also runs as a subprocess, for the interpreter's own exit code.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest
import yaml
from hlynr_testing import coin_config
from stable_baselines3.common.callbacks import BaseCallback
from test_runs import cli

from hlynr.cli import train
from hlynr.cli.common import run_main
from hlynr.registries import MetricError, RunStatus, TrainingDiverged
from hlynr.runs.control import read_ack, request
from hlynr.runs.folder import RunFolder
from hlynr.runs.lock import holder
from hlynr.runs.progress_log import read_progress
from hlynr.training.ending import Outcome, decide_ending
from hlynr.training.errors import RunCrashed

ME = "test_run_endings"  # user callbacks below are named by path, as a user's config would


class StopAt(BaseCallback):
    """A user's callback that ends training at ``at`` timesteps (returns False)."""

    def __init__(self, at: int = 128) -> None:
        super().__init__()
        self.at = at

    def _on_step(self) -> bool:
        return self.num_timesteps < self.at


class RequestStopAt(BaseCallback):
    """Asks the run to stop through its folder's control channel, as the dashboard does."""

    def __init__(self, run_dir: str, at: int = 128) -> None:
        super().__init__()
        self.run_dir, self.at, self.sent = run_dir, at, False

    def _on_step(self) -> bool:
        if self.num_timesteps >= self.at and not self.sent:
            request(Path(self.run_dir), "stop")
            self.sent = True
        return True


class SignalAt(BaseCallback):
    """Sends this process ``signum`` (Ctrl+C: SIGINT) at ``at`` timesteps."""

    def __init__(self, at: int = 128, signum: int = int(signal.SIGINT)) -> None:
        super().__init__()
        self.at, self.signum, self.sent = at, signum, False

    def _on_step(self) -> bool:
        if self.num_timesteps >= self.at and not self.sent:
            self.sent = True
            os.kill(os.getpid(), self.signum)
        return True


class RaiseAt(BaseCallback):
    """Raises at ``at`` timesteps: a bug (``RuntimeError``) or an abort (``KeyboardInterrupt``)."""

    def __init__(self, at: int = 128, abort: bool = False) -> None:
        super().__init__()
        self.at, self.abort = at, abort

    def _on_step(self) -> bool:
        if self.num_timesteps >= self.at:
            if self.abort:
                raise KeyboardInterrupt
            raise RuntimeError(f"test crash at {self.num_timesteps}")
        return True


def _train(tmp_path: Path, **over: Any) -> tuple[int, Path]:
    """``train.py --config CFG --run-dir RUN -q`` in this process: (exit code, run folder)."""
    run = tmp_path / "run"
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(coin_config(**over)))
    return run_main(train.main, ["--config", str(cfg), "--run-dir", str(run), "-q"]), run


def _ended(run: Path, status: str) -> dict[str, Any]:
    """Check the summary, the end event and the lock of an ended run; return the summary."""
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == status, summary
    end = read_progress(run / "progress.jsonl")[-1]
    assert end["type"] == "event" and end["event"] == "end"
    assert (end["status"], end["reason"], end["timesteps"]) == (
        status, summary["reason"], summary["timesteps"])
    assert holder(run) is None  # run.lock released
    return summary


def _checkpoints(run: Path) -> list[str]:
    folder = run / "checkpoints"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_completed(tmp_path: Path) -> None:
    code, run = _train(tmp_path, total_timesteps=256,
                       callbacks=[{"evaluation": {"every": 128, "episodes": 2}}])
    assert code == 0
    summary = _ended(run, "completed")
    assert summary["reason"] == "reached 256 timesteps" and summary["timesteps"] == 256
    assert summary["last_evaluation"]["episodes"] == 2
    assert (run / "final" / "model.zip").is_file() and _checkpoints(run) == ["step_000000000256"]


@pytest.mark.parametrize("callback, reason", [
    ({f"{ME}:StopAt": {"at": 128}}, "stopped by a callback at 128 of 512 timesteps"),
    ({"success_streak": {"metric": "mean_length", "threshold": 0.0, "count": 1}},
     "stopped by success_streak: mean_length >= 0.0 in 1 consecutive evaluations"),
])
def test_stopped_by_a_callback(tmp_path: Path, callback: dict, reason: str) -> None:
    code, run = _train(tmp_path, callbacks=[{"evaluation": {"every": 128, "episodes": 2}}, callback])
    assert code == 0
    summary = _ended(run, "stopped")
    assert summary["reason"] == reason and summary["timesteps"] == 128
    assert (run / "final" / "model.zip").is_file() and _checkpoints(run) == ["step_000000000128"]


def test_stopped_by_the_time_budget(tmp_path: Path) -> None:
    """A budget of 0.3 s stops a run meant for 10^6 steps within a few rollouts, saving final/."""
    code, run = _train(tmp_path, total_timesteps=1_000_000, callbacks=[{"time_budget": {"minutes": 0.005}}])
    assert code == 0
    summary = _ended(run, "stopped")
    assert summary["reason"] == "stopped by time_budget: 0.005 min of training wall-clock time used"
    assert 0 < summary["timesteps"] < 100_000 and summary["wall_time"] >= 0.3
    (event,) = [r for r in read_progress(run / "progress.jsonl") if r.get("event") == "time_budget"]
    assert event["timesteps"] == summary["timesteps"]
    assert (run / "final" / "model.zip").is_file()


def test_stopped_through_the_control_channel(tmp_path: Path) -> None:
    code, run = _train(tmp_path, callbacks=[{f"{ME}:RequestStopAt": {
        "run_dir": str(tmp_path / "run"), "at": 100}}])
    assert code == 0
    summary = _ended(run, "stopped")
    assert summary["reason"] == "stop requested through the run folder's control channel"
    # read at the end of the rollout (128 timesteps); training stops at the next step
    assert summary["timesteps"] == 130
    (ack,) = (run / "control" / "acks").iterdir()
    answer = read_ack(run, ack.stem)
    assert answer is not None and answer["status"] == "done"
    assert answer["checkpoint"] == "checkpoints/step_000000000130"
    assert (run / "final" / "model.zip").is_file()


def test_interrupted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, run = _train(tmp_path, callbacks=[{f"{ME}:SignalAt": {"at": 128}}])
    assert code == 130
    summary = _ended(run, "interrupted")
    assert summary["reason"] == "signal SIGINT" and summary["timesteps"] == 128
    assert _checkpoints(run) == ["step_000000000128"] and not (run / "final").exists()
    assert "continue with: python train.py --resume" in capsys.readouterr().out


def test_aborted_by_a_keyboard_interrupt(tmp_path: Path) -> None:
    """What a second Ctrl+C does: the run ends at once, interrupted, with nothing saved."""
    code, run = _train(tmp_path, callbacks=[{f"{ME}:RaiseAt": {"at": 128, "abort": True}}])
    assert code == 130
    summary = _ended(run, "interrupted")
    assert summary["reason"].startswith("aborted (KeyboardInterrupt)")
    assert _checkpoints(run) == [] and not (run / "final").exists()


def test_diverged(tmp_path: Path) -> None:
    code, run = _train(tmp_path, algo={
        "name": "PPO", "hyperparams": {"n_steps": 32, "batch_size": 32, "n_epochs": 1, "ent_coef": 1.0e300},
        "policy_kwargs": {"net_arch": [8]}})
    assert code == 1
    summary = _ended(run, "failed")
    assert summary["reason"].startswith("diverged: non-finite parameters in ")
    assert _checkpoints(run) == [] and not (run / "final").exists()


def test_metric_error_mid_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, run = _train(tmp_path, callbacks=[{"evaluation": {"every": 128, "episodes": 2}},
                                            {"best_model": {"metric": "no_such_metric"}}])
    assert code == 1
    summary = _ended(run, "failed")
    assert summary["reason"].startswith("metric error: evaluation has no metric 'no_such_metric'")
    assert summary["timesteps"] == 128 and summary["last_evaluation"]["episodes"] == 2
    assert _checkpoints(run) == [] and not (run / "final").exists()
    err = capsys.readouterr().err
    assert err.startswith(f"error: {run}: metric error:") and "Traceback" not in err


def test_pretraining_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hlynr_testing import CoinEnv
    from stable_baselines3 import PPO

    other = tmp_path / "other"  # a run whose pretrained model has another network
    (other / "pretrain").mkdir(parents=True)
    PPO("MlpPolicy", CoinEnv(), policy_kwargs={"net_arch": [4]}).save(other / "pretrain" / "model.zip")
    code, run = _train(tmp_path, pretrain={"from_run": str(other)})
    assert code == 1
    summary = _ended(run, "failed")
    assert summary["reason"].startswith(f"pretraining failed: cannot start from {other / 'pretrain'}")
    assert summary["timesteps"] == 0 and _checkpoints(run) == []
    err = capsys.readouterr().err
    assert err.startswith(f"error: {run}: pretraining failed:") and "Traceback" not in err


def test_crash(tmp_path: Path) -> None:
    with pytest.raises(RunCrashed, match="crashed: RuntimeError: test crash at 128") as info:
        _train(tmp_path, callbacks=[{f"{ME}:RaiseAt": {"at": 128}}])
    assert isinstance(info.value.__cause__, RuntimeError)  # the bug's own traceback
    summary = _ended(tmp_path / "run", "failed")
    assert summary["reason"] == "crashed: RuntimeError: test crash at 128"
    assert _checkpoints(tmp_path / "run") == []


def test_crash_exit_code_of_the_script(tmp_path: Path) -> None:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(coin_config(callbacks=[{f"{ME}:RaiseAt": {"at": 64}}])))
    res = cli("train.py", "--config", str(cfg), "--run-dir", str(tmp_path / "run"), "-q")
    assert res.returncode == 1
    assert "RuntimeError: test crash at 64" in res.stderr and "RunCrashed" in res.stderr
    _ended(tmp_path / "run", "failed")


def test_a_folder_ends_a_session_that_did_not_end_itself(tmp_path: Path) -> None:
    folder = RunFolder.create(tmp_path / "run")
    with pytest.raises(OSError), folder.held(lambda: (64, 1.5)):
        folder.begin("start", 0, 512)
        raise OSError("disk full (test)")
    summary = _ended(tmp_path / "run", "failed")
    assert summary == {"status": "failed", "reason": "crashed: OSError: disk full (test)",
                       "timesteps": 64, "total_timesteps": 512, "wall_time": 1.5, "best": None,
                       "last_evaluation": None}


@pytest.mark.parametrize("outcome, status, reason, code, saved", [
    (Outcome(512, 512), RunStatus.COMPLETED, "reached 512 timesteps", 0, (True, True)),
    (Outcome(128, 512, stop_reasons=("stopped by early_stopping: x", "y")), RunStatus.STOPPED,
     "stopped by early_stopping: x", 0, (True, True)),
    (Outcome(128, 512), RunStatus.STOPPED, "stopped by a callback at 128 of 512 timesteps", 0, (True, True)),
    (Outcome(128, 512, control_stop=True), RunStatus.STOPPED,
     "stop requested through the run folder's control channel", 0, (True, True)),
    (Outcome(512, 512, signal=int(signal.SIGTERM), control_stop=True), RunStatus.INTERRUPTED,
     "signal SIGTERM", 130, (True, False)),
    (Outcome(0, 512, signal=int(signal.SIGINT), stopped_before_training=True), RunStatus.INTERRUPTED,
     "signal SIGINT during pretraining (its model so far is in pretrain/)", 130, (True, False)),
    (Outcome(128, 512, signal=int(signal.SIGINT), diverged="w"), RunStatus.FAILED,
     "diverged: w", 1, (False, False)),
    (Outcome(128, 512, error=TrainingDiverged("nan loss")), RunStatus.FAILED, "diverged: nan loss", 1,
     (False, False)),
    (Outcome(128, 512, signal=int(signal.SIGINT), error=MetricError("no 'x'")), RunStatus.FAILED,
     "metric error: no 'x'", 1, (False, False)),
    (Outcome(128, 512, error=ValueError("bug")), RunStatus.FAILED, "crashed: ValueError: bug", 1,
     (False, False)),
    (Outcome(128, 512, error=KeyboardInterrupt()), RunStatus.INTERRUPTED,
     "aborted (KeyboardInterrupt): no checkpoint saved at the end", 130, (False, False)),
])
def test_the_ending_decision(outcome: Outcome, status: RunStatus, reason: str, code: int,
                             saved: tuple[bool, bool]) -> None:
    ending = decide_ending(outcome)
    assert (ending.status, ending.reason, ending.exit_code) == (status, reason, code)
    assert (ending.checkpoint, ending.final_model) == saved
    assert ending.reraise == isinstance(outcome.error, (ValueError, KeyboardInterrupt))
