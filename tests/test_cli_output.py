"""Output written to a pipe or a log file keeps every line whole: rich would lay it out for 80
columns there (``hlynr.cli.common.FullWidthConsole``)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hlynr_testing import REPO, coin_config

from hlynr.cli.common import PIPE_WIDTH, make_console

# a pipe as a log or a launched process sees it: no terminal width, no forced terminal
PIPE_ENV = {k: v for k, v in os.environ.items()
            if k not in ("COLUMNS", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE")}
PIPE_ENV.update({"PYTHONPATH": f"{REPO / 'tests'}{os.pathsep}{REPO}", "OMP_NUM_THREADS": "1"})
PRELUDE = ("import hlynr_testing, runpy, sys; sys.argv = sys.argv[1:]; "
           "runpy.run_path(sys.argv[0], run_name='__main__')")


def piped(*args: str) -> str:
    """stdout of a top-level script run with its output piped (the test env registered)."""
    out = subprocess.run([sys.executable, "-c", PRELUDE, *args], cwd=REPO, env=PIPE_ENV,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "…" not in out.stdout, out.stdout  # rich's mark of a cut field
    return out.stdout


def test_train_progress_evaluation_and_final_lines_are_whole(tmp_path: Path) -> None:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(coin_config(callbacks=[{"evaluation": {"every": 256, "episodes": 4}}])))
    runs = tmp_path / "a-runs-folder-with-a-long-name-so-that-the-final-line-is-longer-than-80-columns"
    lines = piped("train.py", "--config", str(cfg), "--runs-dir", str(runs)).splitlines()
    evals = [ln for ln in lines if ln.startswith("eval @ ")]
    assert len(evals) == 2 and all(
        re.fullmatch(r"eval @ \d+: success \S+ \(95% CI \S+-\S+\), reward \S+ ± \S+, length \d+", ln)
        for ln in evals), lines
    progress = [ln for ln in lines if ln.startswith("train ")]
    assert progress and re.fullmatch(
        r"train .* \d+/512 \S+ steps/s \d:\d\d:\d\d eta \S+ eval success \S+ \[\S+, \S+\]\s*",
        progress[-1]), lines
    run_dir = next(runs.glob("coin/*/"))
    assert any(ln.startswith("run completed: ") and ln.endswith(f" -> {run_dir}") for ln in lines), lines


def test_evaluate_tables_are_not_squeezed_into_80_columns() -> None:
    out = piped("evaluate.py", "--config", "configs/intercept/ppo_standard.yaml", "--baseline", "pn",
                "-n", "2", "--n-envs", "2")
    lines = out.splitlines()
    header = "episode_time ┃ fuel_remaining ┃ miss_distance ┃ termination_code ┃ time_to_intercept"
    assert any(header in re.sub(r" +", " ", ln) for ln in lines), out
    rows = [ln for ln in lines if ln.startswith("│ baseline:pn │") and ln.count(" / ") == 10]
    assert len(rows) == 2, out  # the two info tables, one line per policy
    assert max(len(ln) for ln in lines) > 80


def test_a_terminal_keeps_its_width_and_a_file_gets_the_full_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("COLUMNS", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(name, raising=False)
    with open(tmp_path / "log.txt", "w") as f:
        console = make_console()
        console.file = f
        assert console.width == PIPE_WIDTH
    tty = make_console()
    tty.file = type("Tty", (), {"isatty": lambda self: True, "write": lambda self, s: None,
                                "flush": lambda self: None})()
    assert tty.is_terminal and tty.width < PIPE_WIDTH
