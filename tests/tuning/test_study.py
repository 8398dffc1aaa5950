"""Small studies end to end on CartPole: default storage, export, pruning, failing trials."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.trial import TrialState

from hlynr.cli.study import run_study_from_config
from hlynr.config import ConfigError
from hlynr.training.runner import start_run
from hlynr.zoo import load_config

from .conftest import make_config, open_existing

LR = "algo.hyperparams.learning_rate"
ARCH = "algo.policy_kwargs.net_arch"


def _eval_rewards(run_dir: Path) -> list[float]:
    rows = [json.loads(line) for line in (run_dir / "progress.jsonl").read_text().splitlines()]
    return [r["eval_mean_reward"] for r in rows if "eval_mean_reward" in r]


def test_study_end_to_end_default_storage_export_and_resume(write_config, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    path = write_config(make_config({
        "n_trials": 3, "sampler": {"name": "random", "seed": 0}, "pruner": "none",
        "objective": {"metric": "mean_reward", "aggregate": "mean_last_k", "k": 2},
        "params": {LR: {"type": "float", "low": 1e-4, "high": 3e-2, "log": True},
                   ARCH: {"type": "categorical", "choices": [[16], [32, 32]]}}}))
    config = load_config(path).config
    assert run_study_from_config(config, path, runs_dir=runs, quiet=True) == 0

    db = runs / "cp_tune" / "tune.db"
    assert db.is_file(), "default storage: a SQLite file in the runs folder"
    study = open_existing(f"sqlite:///{db}", "cp_tune")
    trials = study.get_trials()
    assert [t.number for t in trials] == [0, 1, 2]
    assert all(t.state == TrialState.COMPLETE for t in trials)
    study_dir = runs / "cp_tune" / "tune-cp_tune"
    for t in trials:
        run_dir = study_dir / f"trial-{t.number:04d}" / "seed-0"
        assert t.user_attrs["run_dirs"] == [str(run_dir)]
        evals = _eval_rewards(run_dir)
        assert len(evals) == 4
        assert t.value == pytest.approx(sum(evals[-2:]) / 2)  # mean of the last k = 2
        run_config = yaml.safe_load((run_dir / "config.yaml").read_text())
        assert run_config["algo"]["hyperparams"]["learning_rate"] == t.user_attrs["values"][LR]
        assert run_config["algo"]["policy_kwargs"]["net_arch"] == t.user_attrs["values"][ARCH]
        assert run_config.get("tune") is None
        assert json.loads((run_dir / "summary.json").read_text())["status"] == "completed"

    summary = json.loads((study_dir / "study.json").read_text())
    assert summary["counts"] == {"complete": 3}
    best = max(trials, key=lambda t: t.value)
    assert summary["best"]["number"] == best.number
    assert summary["importances"] is not None
    assert set(summary["importances"]) == {LR, ARCH}

    # best.yaml: validates, has no tune section, and reproduces the best trial exactly.
    best_yaml = study_dir / "best.yaml"
    exported = yaml.safe_load(best_yaml.read_text())
    assert "tune" not in exported
    best_config = load_config(best_yaml).config
    assert best_config.tune is None and best_config.total_timesteps == 1024
    assert best_config.algo.hyperparams["learning_rate"] == best.user_attrs["values"][LR]
    result = start_run(best_config, runs_dir=tmp_path / "replay")
    assert result.status == "completed"
    replay = [e.metrics["mean_reward"] for e in result.evaluations]
    assert replay == _eval_rewards(study_dir / f"trial-{best.number:04d}" / "seed-0")

    # Resume by name: the same command adds trials to the same study.
    config = load_config(path, ["tune.n_trials=1"]).config
    assert run_study_from_config(config, path, runs_dir=runs, quiet=True) == 0
    assert [t.number for t in open_existing(f"sqlite:///{db}", "cp_tune").get_trials()] == [
        0, 1, 2, 3]

    # A changed experiment cannot join the study (results would mix).
    config = load_config(path, ["tune.n_trials=1", "algo.hyperparams.n_epochs=3"]).config
    with pytest.raises(ConfigError,
                       match=r"(?s)different experiment.*n_epochs: study has 2, this config 3"):
        run_study_from_config(config, path, runs_dir=runs, quiet=True)


def test_pruning_stops_a_clearly_worse_trial(write_config, tmp_path: Path) -> None:
    # Sutton & Barto's CartPole reward is 0 per step and -1 at the end: a trial scoring about -1
    # against about +10..100 for the others, so the median pruner must stop it at once.
    runs = tmp_path / "runs"
    key = "env.kwargs.sutton_barto_reward"
    path = write_config(make_config({
        "n_trials": 3, "pruner": {"name": "median", "n_startup_trials": 2,
                                  "n_warmup_evaluations": 0},
        "objective": {"metric": "mean_reward", "aggregate": "last"},
        "params": {key: {"type": "categorical", "choices": [False, True]}},
        "enqueue": [{key: False}, {key: False}, {key: True}]}))
    assert run_study_from_config(load_config(path).config, path, runs_dir=runs, quiet=True) == 0
    study = open_existing(f"sqlite:///{runs / 'cp_tune' / 'tune.db'}", "cp_tune")
    states = [t.state for t in study.get_trials()]
    assert states == [TrialState.COMPLETE, TrialState.COMPLETE, TrialState.PRUNED]
    pruned = study.trials[2]
    assert pruned.user_attrs["pruned_at"]["evaluation"] == 1
    assert pruned.intermediate_values[1] <= 0.0
    run_dir = Path(pruned.user_attrs["run_dirs"][0])
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "stopped" and summary["timesteps"] < 1024


def test_failing_trials_are_recorded_and_the_study_goes_on(
        write_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runs = tmp_path / "runs"
    ent, batch = "algo.hyperparams.ent_coef", "algo.hyperparams.batch_size"
    import hlynr.training.runner as runner

    real_build = runner.build_model

    def build_model(config, venv):
        if config.algo.hyperparams.get("batch_size") == 32:
            raise RuntimeError("cannot build a model with batch_size 32 (test failure)")
        return real_build(config, venv)

    monkeypatch.setattr(runner, "build_model", build_model)
    path = write_config(make_config({
        "n_trials": 3, "pruner": "none", "objective": {"metric": "mean_reward"},
        "params": {ent: {"type": "categorical", "choices": [0.0, 1.0e300]},
                   batch: {"type": "categorical", "choices": [64, 32]}},
        "enqueue": [{ent: 0.0, batch: 32},      # the model cannot be built
                    {ent: 1.0e300, batch: 64},  # the loss overflows: NaN parameters
                    {ent: 0.0, batch: 64}]}))   # fine
    assert run_study_from_config(load_config(path).config, path, runs_dir=runs, quiet=True) == 0
    study = open_existing(f"sqlite:///{runs / 'cp_tune' / 'tune.db'}", "cp_tune")
    t0, t1, t2 = study.get_trials()
    assert (t0.state, t1.state, t2.state) == (TrialState.FAIL, TrialState.FAIL,
                                              TrialState.COMPLETE)
    assert "batch_size" in t0.user_attrs["fail_reason"]
    assert (Path(t0.user_attrs["trial_dir"]) / "error.txt").is_file()
    assert t1.user_attrs["fail_reason"].startswith("diverged")
    assert "non-finite parameters" in t1.user_attrs["fail_reason"]
    summary = json.loads((runs / "cp_tune" / "tune-cp_tune" / "study.json").read_text())
    assert summary["best"]["number"] == 2
    assert summary["counts"] == {"complete": 1, "fail": 2}


def test_journal_storage_parallel_jobs_and_seeds(write_config, tmp_path: Path) -> None:
    journal = tmp_path / "shared" / "study.log"
    path = write_config(make_config({
        "storage": str(journal), "n_trials": 2, "n_jobs": 2, "pruner": "none", "seeds": [3, 5],
        "objective": {"metric": "mean_reward", "aggregate": "last"},
        "params": {ARCH: {"type": "categorical", "choices": [[16], [8, 8]]}}},
        total_timesteps=256))
    assert run_study_from_config(load_config(path).config, path, runs_dir=tmp_path / "runs",
                                 quiet=True) == 0
    assert journal.is_file() and not (tmp_path / "runs" / "cp_tune" / "tune.db").exists()
    from hlynr.tuning.storage import resolve_storage

    storage = resolve_storage(str(journal), tmp_path, "cp_tune").open()
    trials = optuna.load_study(study_name="cp_tune", storage=storage).get_trials()
    assert sorted(t.number for t in trials) == [0, 1]
    assert all(t.state == TrialState.COMPLETE for t in trials)
    for t in trials:
        folder = tmp_path / "runs" / "cp_tune" / "tune-cp_tune" / f"trial-{t.number:04d}"
        assert t.user_attrs["run_dirs"] == [str(folder / "seed-3"), str(folder / "seed-5")]
        scores = []
        for run_dir, seed in zip(t.user_attrs["run_dirs"], (3, 5)):
            assert yaml.safe_load((Path(run_dir) / "config.yaml").read_text())["seed"] == seed
            scores.append(_eval_rewards(Path(run_dir))[-1])
        assert t.user_attrs["seed_scores"] == scores
        assert t.value == pytest.approx(sum(scores) / 2)  # the mean over seeds
    if importlib.util.find_spec("optuna_dashboard") is not None:  # optional dev dependency
        _check_dashboard_reads(storage, n_trials=2)


def _check_dashboard_reads(storage: optuna.storages.BaseStorage, n_trials: int) -> None:
    """optuna-dashboard's HTTP API lists the study and its trials."""
    import io
    import sys

    import optuna_dashboard

    app = optuna_dashboard.wsgi(storage)

    def get(route: str) -> dict:
        status: list[str] = []
        env = {"REQUEST_METHOD": "GET", "PATH_INFO": route, "QUERY_STRING": "",
               "wsgi.input": io.BytesIO(), "wsgi.errors": sys.stderr, "SERVER_NAME": "x",
               "SERVER_PORT": "80", "wsgi.url_scheme": "http"}
        body = b"".join(app(env, lambda s, h, e=None: status.append(s)))
        assert status == ["200 OK"]
        return json.loads(body)

    summaries = {s["study_name"]: s for s in get("/api/studies")["study_summaries"]}
    # the study, and the companion that numbers the processes that joined it
    assert sorted(summaries) == ["cp_tune", "cp_tune:workers"]
    summary = summaries["cp_tune"]
    trials = get(f"/api/studies/{summary['study_id']}")["trials"]
    assert len(trials) == n_trials
    for trial in trials:
        assert trial["state"] == "Complete"
        assert trial["params"][0]["name"] == ARCH
        assert trial["params"][0]["param_external_value"] in ("[16]", "[8, 8]")
