"""Shared fixtures of the test suite."""

from __future__ import annotations

import os
from pathlib import Path

import hlynr_testing  # noqa: F401  (registers the test env HlynrTest/Coin-v0)
import pytest
import torch

torch.set_num_threads(1)
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture
def runs_dir(tmp_path: Path) -> Path:
    """A fresh runs folder for one test."""
    return tmp_path / "runs"
