"""benchmarks/bench_atc.py los-causes: losses of separation sorted by what the pair was doing."""

from __future__ import annotations

import importlib.util
import sys

from hlynr_testing import REPO

sys.path.insert(0, str(REPO / "benchmarks"))  # bench_atc imports its sibling rows_timing
_SPEC = importlib.util.spec_from_file_location("bench_atc", REPO / "benchmarks" / "bench_atc.py")
bench_atc = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(bench_atc)


def test_direct_meets_its_predicted_conflicts_and_mvp_also_loses_separation_resuming() -> None:
    causes, warning = bench_atc.los_causes("direct", 20, 0)
    assert causes["in_conflict"] > 20 and causes["resuming"] == causes["neither"] == 0
    assert len(warning) == causes["in_conflict"] and min(warning) > 0  # predicted steps before
    causes, _ = bench_atc.los_causes("mvp", 200, 0)
    assert causes["neither"] == 0  # with mvp, aircraft only meet while resolving or resuming
    assert causes["in_conflict"] > 0 and causes["resuming"] > causes["in_conflict"]
