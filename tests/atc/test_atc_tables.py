"""benchmarks/atc_tables.py: the results tables are computed from evaluate.py's JSON episodes."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
from hlynr_testing import REPO

_SPEC = importlib.util.spec_from_file_location("atc_tables", REPO / "benchmarks" / "atc_tables.py")
atc_tables = importlib.util.module_from_spec(_SPEC)
sys.modules["atc_tables"] = atc_tables  # dataclasses look their module up
_SPEC.loader.exec_module(atc_tables)


def _episodes(los: list[float], exits: float = 1.0) -> list[dict]:
    return [{"seed": k, "los_events": x, "conflict_free": float(x == 0), "exits_reached": exits,
             "is_success": float(x == 0 and exits == 1.0), "path_efficiency": 0.9,
             "extra_distance_nm": 1.0, "min_separation_nm": 5.0} for k, x in enumerate(los)]


def test_cross_table_ratio_and_paired_counts_from_two_files(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    def _run(*args: str) -> str:
        monkeypatch.setattr(sys, "argv", ["atc_tables.py", *args])
        atc_tables.main()
        return capsys.readouterr().out

    # file 1: stage-all rows (stage 0 = head_on, stage 5 = random); file 2: one fixed scenario
    stage_all = {"results": [
        {"label": "run/best @stage 5", "episodes": _episodes([1, 0, 0, 0])},   # 0.25 / episode
        {"label": "run/best @stage 0", "episodes": _episodes([1, 1, 0, 0])},   # 0.50 -> ratio 2.00
        {"label": "baseline:mvp @stage 0", "episodes": _episodes([0, 0, 0, 1])},
    ]}
    single = {"results": [{"label": "run/best", "episodes": _episodes([3, 0, 0, 0])},  # 0.75
                          {"label": "baseline:mvp", "episodes": _episodes([0, 0, 0, 0])}]}
    (tmp_path / "a.json").write_text(json.dumps(stage_all))
    (tmp_path / "b.json").write_text(json.dumps(single))
    files = [str(tmp_path / "a.json"), f"{tmp_path / 'b.json'}:parallel"]
    cross = _run("cross", *files, "--name", "a: run/best=learned", "--name", "b: run/best=learned",
                 "--policy", "learned=random")
    rows = {line.split("|")[3].strip(): line for line in cross.splitlines() if "learned" in line}
    assert rows["head_on"].rstrip(" |").endswith("2.00")
    assert rows["parallel"].rstrip(" |").endswith("3.00")
    assert rows["random (in-scenario)"].rstrip(" |").endswith("1.00")
    scores = _run("scores", *files, "--name", "a: run/best=learned")
    assert "| parallel | b: run/best |" in scores  # the other file's checkpoint keeps its stem
    only = _run("scores", *files, "--name", "a: run/best=learned", "--only", "learned")
    assert "b: run/best" not in only and "| head_on | learned |" in only and "baseline:mvp" in only
    paired = [line for line in scores.splitlines() if line.startswith("| head_on | learned |")][-1]
    # success per seed: mvp [1, 1, 1, 0], learned [0, 0, 1, 1] -> +25 %, 2 only-mvp / 1 only-learned
    assert "+25.0%" in paired and "| 2 / 1 |" in paired
