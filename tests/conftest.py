"""Shared fixtures of the test suite."""

from __future__ import annotations

import os
from pathlib import Path

import hlynr_testing  # noqa: F401  (registers the test env HlynrTest/Coin-v0)
import pytest
import torch

torch.set_num_threads(1)
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(autouse=True, scope="session")
def sb3_log_folder(tmp_path_factory: pytest.TempPathFactory) -> None:
    """SB3 makes a folder for the logger of every ``learn()`` that is given none, by default a new
    ``SB3-<timestamp>`` in the system's temporary folder; the suite's go under its own temporary
    folder instead (subprocesses inherit the setting)."""
    os.environ["SB3_LOGDIR"] = str(tmp_path_factory.mktemp("sb3_logs"))


@pytest.fixture
def runs_dir(tmp_path: Path) -> Path:
    """A fresh runs folder for one test."""
    return tmp_path / "runs"
