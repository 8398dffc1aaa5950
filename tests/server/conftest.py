"""Tiny CartPole configs and training subprocesses shared by the dashboard tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
       "OMP_NUM_THREADS": "1"}

TINY = {
    "name": "tiny", "seed": 0, "total_timesteps": 2_000_000, "torch_threads": 1,
    "env": {"id": "CartPole-v1", "n_envs": 2},
    "algo": {"name": "PPO", "hyperparams": {"n_steps": 64, "batch_size": 64, "n_epochs": 1},
             "policy_kwargs": {"net_arch": [16]}},
    "callbacks": [{"evaluation": {"every": 2000, "episodes": 2}},
                  {"best_model": {"metric": "mean_reward", "tie_break": None}}],
}


def wait_for(cond: Callable[[], Any], timeout: float = 90.0, what: str = "condition",
             explain: Callable[[], str] | None = None) -> Any:
    """Poll ``cond`` until it returns something truthy; fail after ``timeout`` seconds, with what
    ``explain`` says about the state it was waiting in."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            detail = f"\n{explain()}" if explain is not None else ""
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}{detail}")
        time.sleep(0.1)


def hlynr(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    """``python -m hlynr ARGS`` to completion."""
    return subprocess.run([sys.executable, "-m", "hlynr", *args], cwd=REPO, env=ENV,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def configs_dir(tmp_path: Path) -> Path:
    """A configs folder with ``tiny.yaml`` (CartPole PPO, 2 envs, runs until stopped)."""
    folder = tmp_path / "configs"
    (folder / "classic").mkdir(parents=True)
    (folder / "tiny.yaml").write_text(yaml.safe_dump(TINY, sort_keys=False))
    (folder / "classic" / "short.yaml").write_text(
        yaml.safe_dump({**TINY, "name": "short", "total_timesteps": 3000}, sort_keys=False))
    return folder


@pytest.fixture
def trainer(configs_dir: Path) -> Iterator[Callable[..., subprocess.Popen]]:
    """Starts ``hlynr train`` subprocesses; kills the ones still running at the end."""
    procs: list[subprocess.Popen] = []

    def start(*args: str) -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-m", "hlynr", "train", "--quiet", *args],
                                cwd=REPO, env=ENV, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
