"""Tiny trained runs shared by the replay tests (trained once per session, a few seconds each)."""

from __future__ import annotations

from pathlib import Path

import pytest
from replay_testing import atc_config, intercept_config

from hlynr.config import validate_config
from hlynr.training.runner import start_run


@pytest.fixture(scope="session")
def intercept_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished intercept run (final model, no pretrained clone)."""
    runs = tmp_path_factory.mktemp("runs")
    return start_run(validate_config(intercept_config()), runs_dir=runs).run_dir


@pytest.fixture(scope="session")
def atc_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished ATC run whose policy has the attention extractor."""
    runs = tmp_path_factory.mktemp("runs")
    return start_run(validate_config(atc_config()), runs_dir=runs).run_dir
