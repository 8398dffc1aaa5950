"""Tiny CartPole tuning configs and helpers shared by the tuning tests."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]

# About 1 s of training per trial on one core: 1024 timesteps, 4 evaluations of 2 episodes.
BASE: dict[str, Any] = {
    "name": "cp_tune",
    "seed": 0,
    "total_timesteps": 1024,
    "torch_threads": 1,
    "env": {"id": "CartPole-v1", "n_envs": 4},
    "algo": {"name": "PPO",
             "hyperparams": {"n_steps": 64, "batch_size": 64, "n_epochs": 2,
                             "learning_rate": 3.0e-3},
             "policy_kwargs": {"net_arch": [16]}},
    "callbacks": [{"evaluation": {"every": 256, "episodes": 2}}],
}


def make_config(tune: dict[str, Any], **top: Any) -> dict[str, Any]:
    """BASE with a ``tune`` section and top-level keys replaced."""
    data = copy.deepcopy(BASE)
    data.update(copy.deepcopy(top))
    data["tune"] = copy.deepcopy(tune)
    return data


@pytest.fixture
def write_config(tmp_path: Path):
    """Write a config mapping to ``tmp_path/<name>.yaml`` and return the path."""

    def _write(data: dict[str, Any], name: str = "tune") -> Path:
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    return _write


def open_existing(storage_url: str, study: str) -> optuna.Study:
    """Load a study for inspection."""
    from hlynr.tuning.storage import with_installed_driver

    return optuna.load_study(study_name=study, storage=with_installed_driver(storage_url))


def run_tune_process(args: list[str], cwd: Path) -> subprocess.Popen:
    """Start ``python -m hlynr.cli.tune ARGS`` (one torch thread) without waiting."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "hlynr.cli.tune", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
