"""Create or join a study, run this process's trials, then report on the whole study.

Several processes (or machines, with a database server) that run the same config with the
same study name and storage share one study: Optuna hands each trial a unique number, and each
trial writes its own run folders. A process joining a study checks that the study was started
from the same experiment and search space, so results from different configs never mix.
"""

from __future__ import annotations

import random
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from hlynr.config import ConfigError, ExperimentConfig
from hlynr.config.tuning import TuneConfig
from hlynr.tuning.objective import Objective, StudyAborted, TrialContext, TrialFailed
from hlynr.tuning.report import (
    BEST_FILE,
    SUMMARY_FILE,
    export_best,
    param_importances,
    trial_values,
    write_summary,
)
from hlynr.tuning.space import base_config, choice_labels, encode_params
from hlynr.tuning.storage import (
    OPEN_ATTEMPTS,
    StorageSpec,
    is_creation_race,
    open_problem,
    resolve_storage,
)

FINGERPRINT_ATTR = "hlynr"
WORKERS_SUFFIX = ":workers"
WORKER_SEED_STRIDE = 1_000_003
# Keys that may differ between processes sharing a study (they do not change the results).
_LOCAL_KEYS = ("runs_dir", "device", "torch_threads")


@dataclass
class StudyOutcome:
    """What one call of :func:`run_study` did and produced."""

    study: optuna.Study
    storage: StorageSpec
    study_dir: Path
    trials_run: list[int] = field(default_factory=list)
    best_yaml: Path | None = None
    best_trial: FrozenTrial | None = None
    importances: dict[str, float] | None = None
    importance_note: str = ""
    aborted: str | None = None


def worker_seed(seed: int | None, worker: int) -> int | None:
    """The sampler seed of the ``worker``-th process of a study (worker 0: the seed itself)."""
    return None if seed is None else (seed + worker * WORKER_SEED_STRIDE) % 2**32


def register_worker(study: optuna.Study, storage: optuna.storages.BaseStorage) -> int:
    """This process's index among the processes that have joined ``study`` (0 for the first).

    The index is the number of a trial this process adds to the companion study
    ``<study>:workers`` in the same storage. Every Optuna storage numbers a study's trials
    atomically, so two processes never share an index, and so never a sampler seed, however
    close together they join.
    """
    name = study.study_name + WORKERS_SUFFIX
    attempt = 0
    while True:
        attempt += 1
        try:
            workers = optuna.create_study(storage=storage, study_name=name, load_if_exists=True)
            break
        except Exception as exc:
            if attempt >= OPEN_ATTEMPTS or not is_creation_race(exc):
                raise
            time.sleep(0.2 * attempt + random.random() * 0.3)
    trial = workers.ask()
    workers.tell(trial, 0.0)
    return trial.number


def make_sampler(tune: TuneConfig, worker: int = 0) -> optuna.samplers.BaseSampler:
    """The configured Optuna sampler of the ``worker``-th process of the study."""
    s = tune.sampler.model_copy(update={"seed": worker_seed(tune.sampler.seed, worker)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if s.name == "random":
            return optuna.samplers.RandomSampler(seed=s.seed)
        if s.name == "grid":
            space = {name: (choice_labels(spec) if spec.type == "categorical" else spec.grid())
                     for name, spec in tune.params.items()}
            return optuna.samplers.GridSampler(space, seed=s.seed)  # type: ignore[arg-type]
        if s.name == "cmaes":
            return optuna.samplers.CmaEsSampler(
                seed=s.seed, n_startup_trials=s.n_startup_trials, warn_independent_sampling=False,
                independent_sampler=optuna.samplers.RandomSampler(seed=s.seed))
        conditional = any(spec.when for spec in tune.params.values())
        return optuna.samplers.TPESampler(
            seed=s.seed, n_startup_trials=s.n_startup_trials, multivariate=s.multivariate,
            group=s.multivariate and conditional)


def make_pruner(tune: TuneConfig) -> optuna.pruners.BasePruner:
    """The configured Optuna pruner (steps are evaluations)."""
    p = tune.pruner
    if p.name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=p.n_startup_trials,
                                           n_warmup_steps=p.n_warmup_evaluations)
    if p.name == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=p.min_resource,
                                                      reduction_factor=p.reduction_factor)
    if p.name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=p.min_resource,
                                              reduction_factor=p.reduction_factor)
    return optuna.pruners.NopPruner()


def fingerprint(config: ExperimentConfig, base: dict[str, Any]) -> dict[str, Any]:
    """What processes sharing a study must agree on: experiment, search space, objective."""
    tune = config.tune
    assert tune is not None
    dumped = tune.model_dump(mode="json")
    return {"experiment": {k: v for k, v in base.items() if k not in _LOCAL_KEYS},
            "search": {k: dumped[k] for k in ("params", "objective", "timesteps", "seeds")}}


def _differences(a: Any, b: Any, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in list(a) + [k for k in b if k not in a]:
            out += _differences(a.get(k), b.get(k), f"{path}.{k}" if path else str(k))
        return out
    return [] if a == b else [f"{path or '(top level)'}: study has {a!r}, this config {b!r}"]


def _create_or_load(storage: StorageSpec, name: str, tune: TuneConfig) -> optuna.Study:
    """``optuna.create_study(load_if_exists=True)``, retried while another process creates it."""
    attempt = 0
    while True:
        attempt += 1
        try:
            return optuna.create_study(
                storage=storage.open(), study_name=name, load_if_exists=True,
                direction=tune.objective.resolved_direction, sampler=make_sampler(tune),
                pruner=make_pruner(tune))
        except Exception as exc:
            if attempt >= OPEN_ATTEMPTS or not is_creation_race(exc):
                raise
            time.sleep(0.2 * attempt + random.random() * 0.3)


def open_study(config: ExperimentConfig, storage: StorageSpec, name: str,
               base: dict[str, Any]) -> optuna.Study:
    """Create the study, or join an existing one started from the same experiment."""
    tune = config.tune
    assert tune is not None
    try:
        study = _create_or_load(storage, name, tune)
    except Exception as exc:
        problem = open_problem(exc)
        if problem is None:
            raise
        raise ConfigError(f"tune.storage {storage.display}: {problem}") from None
    want = tune.objective.resolved_direction
    if study.direction.name.lower() != want:
        raise ConfigError(f"study '{name}' in {storage.display} {study.direction.name.lower()}s "
                          f"its objective but this config asks to {want}; use another study "
                          "name (tune.study)")
    mine = fingerprint(config, base)
    theirs = study.user_attrs.get(FINGERPRINT_ATTR)
    if theirs is None:
        study.set_user_attr(FINGERPRINT_ATTR, mine)
        if not study.get_trials(deepcopy=False):
            for point in tune.enqueue:
                study.enqueue_trial(encode_params(tune, point))
    elif theirs != mine:
        diffs = _differences(theirs, mine)
        raise ConfigError(
            f"study '{name}' in {storage.display} was started from a different experiment or "
            "search space; trials of both would mix. Differences:\n  " + "\n  ".join(diffs[:8])
            + ("\n  ..." if len(diffs) > 8 else "")
            + "\nUse another study name (tune.study or --study) or the same config.")
    study.sampler = make_sampler(tune, register_worker(study, storage.open()))
    return study


def study_dir(config: ExperimentConfig, runs_dir: Path | None, study_name: str) -> Path:
    """``<runs_dir>/<config name>/tune-<study>/``: trial folders, best.yaml, study.json."""
    return Path(runs_dir or config.runs_dir) / config.name / f"tune-{study_name}"


def run_study(
    config: ExperimentConfig, *, runs_dir: Path | None = None,
    on_start: Callable[[StudyOutcome], None] | None = None,
    on_trial: Callable[[optuna.Study, FrozenTrial], None] | None = None,
) -> StudyOutcome:
    """Run this process's trials, export and summarise the study.

    ``config`` comes from :func:`hlynr.zoo.load_config` or :func:`hlynr.config.validate_config`,
    which checked its search space. Raises :class:`ConfigError` for a config without a ``tune``
    section or an unusable storage. A trial that fails is recorded with its reason and the
    study goes on.
    """
    tune = config.tune
    if tune is None:
        raise ConfigError(f"config '{config.name}' has no 'tune:' section: add one with the "
                          "search space (see docs/tuning.md)")
    base = base_config(config)
    name = tune.study or config.name
    folder = study_dir(config, runs_dir, name)
    storage = resolve_storage(tune.storage, Path(runs_dir or config.runs_dir), config.name)
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # hlynr reports trials itself
    try:
        study = open_study(config, storage, name, base)
        folder.mkdir(parents=True, exist_ok=True)
        outcome = StudyOutcome(study, storage, folder)
        if on_start is not None:
            on_start(outcome)
        _optimize(outcome, config, base, on_trial)
    finally:
        optuna.logging.set_verbosity(verbosity)
    return outcome


def _optimize(outcome: StudyOutcome, config: ExperimentConfig, base: dict[str, Any],
              on_trial: Callable[[optuna.Study, FrozenTrial], None] | None) -> None:
    """Run this process's trials, then write the study's outputs (also when stopped)."""
    tune = config.tune
    assert tune is not None
    study = outcome.study
    objective = Objective(TrialContext(config, tune, base, outcome.study_dir))

    def _after_trial(st: optuna.Study, trial: FrozenTrial) -> None:
        outcome.trials_run.append(trial.number)
        if on_trial is not None:
            on_trial(st, trial)

    try:
        if tune.n_trials > 0:
            study.optimize(objective, n_trials=tune.n_trials, timeout=tune.timeout,
                           n_jobs=tune.n_jobs, catch=(TrialFailed,), callbacks=[_after_trial],
                           gc_after_trial=True)
    except StudyAborted as exc:
        outcome.aborted = str(exc)
    except KeyboardInterrupt:
        outcome.aborted = "interrupted"
    finally:
        _finish(outcome, config, base)


def _finish(outcome: StudyOutcome, config: ExperimentConfig, base: dict[str, Any]) -> None:
    """Importances, ``best.yaml`` and ``study.json`` from every trial in the storage."""
    tune = config.tune
    assert tune is not None
    study = outcome.study
    outcome.importances, outcome.importance_note = param_importances(study)
    exported = export_best(study, config, base, outcome.study_dir / BEST_FILE,
                           outcome.storage.display)
    if exported is not None:
        outcome.best_yaml, outcome.best_trial = exported
    write_summary(study, tune, outcome.study_dir / SUMMARY_FILE, outcome.storage.display,
                  outcome.importances)


def trial_line(trial: FrozenTrial, tune: TuneConfig) -> str:
    """One line about a finished trial (state, score, values, time)."""
    values = ", ".join(f"{k.rsplit('.', 1)[-1]}={v:.4g}" if isinstance(v, float)
                       else f"{k.rsplit('.', 1)[-1]}={v}"
                       for k, v in trial_values(trial, tune).items())
    secs = ((trial.datetime_complete - trial.datetime_start).total_seconds()
            if trial.datetime_complete and trial.datetime_start else 0.0)
    if trial.state == TrialState.COMPLETE:
        head = f"{trial.user_attrs.get('metric', 'objective')} = {trial.value:.4g}"
    elif trial.state == TrialState.PRUNED:
        at = trial.user_attrs.get("pruned_at") or {}
        head = f"pruned at {at.get('timesteps', '?')} timesteps"
    else:
        head = f"failed: {trial.user_attrs.get('fail_reason', 'unknown')}"
    return f"trial {trial.number} {trial.state.name.lower()} in {secs:.0f} s: {head} ({values})"
