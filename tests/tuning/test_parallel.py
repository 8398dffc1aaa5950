"""Two tuning processes share one study: distinct trials, none lost or duplicated.

The PostgreSQL variant needs a server: ``source .ci/postgres.sh`` exports
``HLYNR_TEST_POSTGRES_URL``. Without it the test skips, except under CI (``CI`` set), where a
missing server is a failure (``hlynr_testing.missing_system_dependency``).
"""

from __future__ import annotations

import json
import os
import re
import uuid
from pathlib import Path

import optuna
import pytest
from hlynr_testing import missing_system_dependency
from optuna.trial import TrialState

from .conftest import make_config, open_existing, run_tune_process

TRIALS_PER_PROCESS = 2


def _run_two_processes(path: Path, runs: Path, extra: list[str]) -> list[set[int]]:
    args = ["--config", str(path), "--runs-dir", str(runs),
            "--n-trials", str(TRIALS_PER_PROCESS), *extra]
    procs = [run_tune_process(args, cwd=path.parent) for _ in range(2)]
    outputs = []
    for proc in procs:
        out, _ = proc.communicate(timeout=240)
        assert proc.returncode == 0, out
        outputs.append(out)
    return [{int(n) for n in re.findall(r"^trial (\d+) complete", out, re.M)} for out in outputs]


def _check_shared_study(study: optuna.Study, per_process: list[set[int]], study_dir: Path) -> None:
    n = 2 * TRIALS_PER_PROCESS
    trials = study.get_trials()
    assert sorted(t.number for t in trials) == list(range(n)), "a trial was lost or duplicated"
    assert all(t.state == TrialState.COMPLETE for t in trials)
    # Each process ran its own trials; together they ran all of them.
    assert [len(s) for s in per_process] == [TRIALS_PER_PROCESS] * 2
    assert per_process[0].isdisjoint(per_process[1])
    assert per_process[0] | per_process[1] == set(range(n))
    # One run folder per trial, each complete, none written twice.
    run_dirs = [d for t in trials for d in t.user_attrs["run_dirs"]]
    assert len(set(run_dirs)) == n
    for t in trials:
        run_dir = study_dir / f"trial-{t.number:04d}" / "seed-0"
        assert t.user_attrs["run_dirs"] == [str(run_dir)]
        summary = json.loads((run_dir / "summary.json").read_text())
        assert summary["status"] == "completed"
        rows = [json.loads(line) for line in (run_dir / "progress.jsonl").read_text().splitlines()]
        assert [r.get("event") for r in rows if r["type"] == "event"] == ["start", "end"]
    assert sorted(p.name for p in study_dir.glob("trial-*")) == [
        f"trial-{i:04d}" for i in range(n)]


def _config(study: str) -> dict:
    return make_config({
        "study": study, "sampler": "random", "pruner": "none",
        "objective": {"metric": "mean_reward", "aggregate": "last"},
        "params": {"algo.hyperparams.learning_rate": {
            "type": "float", "low": 1e-4, "high": 1e-2, "log": True}}},
        total_timesteps=512, callbacks=[{"evaluation": {"every": 256, "episodes": 2}}])


def test_two_processes_share_the_default_storage(write_config, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    path = write_config(_config("shared"))
    per_process = _run_two_processes(path, runs, [])
    study = open_existing(f"sqlite:///{runs / 'cp_tune' / 'tune.db'}", "shared")
    _check_shared_study(study, per_process, runs / "cp_tune" / "tune-shared")


def _postgres_url() -> str:
    url = os.environ.get("HLYNR_TEST_POSTGRES_URL")
    if not url:
        missing_system_dependency("HLYNR_TEST_POSTGRES_URL is not set",
                                  "source .ci/postgres.sh (installs and starts PostgreSQL, sets it)")
    return url


def test_two_processes_share_a_postgresql_study(write_config, tmp_path: Path) -> None:
    url = _postgres_url()
    name = f"pg-{uuid.uuid4().hex[:10]}"
    runs = tmp_path / "runs"
    path = write_config(_config(name))
    try:
        per_process = _run_two_processes(path, runs, ["--storage", url])
        study = open_existing(url, name)
        assert not (runs / "cp_tune" / "tune.db").exists(), "must not fall back to SQLite"
        _check_shared_study(study, per_process, runs / "cp_tune" / f"tune-{name}")
    finally:
        from hlynr.tuning.storage import with_installed_driver

        try:
            optuna.delete_study(study_name=name, storage=with_installed_driver(url))
        except KeyError:
            pass


@pytest.mark.slow
def test_three_processes_with_one_sampler_seed_sample_distinct_trials(
        write_config, tmp_path: Path) -> None:
    """Each process derives its own sampler seed from the study seed: no repeated proposals."""
    runs = tmp_path / "runs"
    config = _config("seeded")
    config["tune"]["sampler"] = {"name": "random", "seed": 7}
    path = write_config(config)
    args = ["--config", str(path), "--runs-dir", str(runs), "--n-trials", "2"]
    procs = [run_tune_process(args, cwd=path.parent) for _ in range(3)]
    for proc in procs:
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, out
    study = open_existing(f"sqlite:///{runs / 'cp_tune' / 'tune.db'}", "seeded")
    rates = [t.params["algo.hyperparams.learning_rate"] for t in study.get_trials()]
    assert len(rates) == 6 and len(set(rates)) == 6, rates


def test_worker_indices_are_distinct_and_the_first_keeps_the_seed(tmp_path: Path) -> None:
    from hlynr.tuning.study import register_worker, worker_seed

    storage = f"sqlite:///{tmp_path / 'w.db'}"
    optuna.create_study(storage=storage, study_name="w")
    joined = [register_worker(optuna.load_study(study_name="w", storage=storage), storage)
              for _ in range(4)]
    assert joined == [0, 1, 2, 3]
    assert worker_seed(7, 0) == 7 and len({worker_seed(7, i) for i in range(4)}) == 4
    assert worker_seed(None, 3) is None
