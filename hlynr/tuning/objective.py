"""One trial: sample values, train one run folder per seed, score, prune, or fail with a reason.

Trial runs go to ``<study_dir>/trial-<n>/seed-<s>/`` (normal run folders: ``monitor_training.py
--runs-dir <study_dir>`` follows the newest). Intermediate evaluations are reported to Optuna
at steps 1, 2, ... (counted over all seeds of the trial) so that pruners compare trials at the
same point. A trial that diverges (NaN), raises or scores NaN is marked failed with the reason
in its ``fail_reason`` user attribute, and the study goes on.
"""

from __future__ import annotations

import math
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from stable_baselines3.common.base_class import BaseAlgorithm

from hlynr.config import ConfigError, ExperimentConfig, validate_config
from hlynr.config.tracking import with_group
from hlynr.config.tuning import ObjectiveConfig, TuneConfig
from hlynr.registries import EvalResult, EvaluationListener, MetricError, RunStatus
from hlynr.training.runner import RunHooks, start_run
from hlynr.tuning.space import sample, trial_config_data

DEFAULT_K = 3


class TrialFailed(Exception):
    """A trial could not produce a score; the study records the reason and goes on."""


class StudyAborted(Exception):
    """The study cannot go on (a signal, or a problem every trial would hit)."""


def resolve_metric(objective: ObjectiveConfig, result: EvalResult) -> str:
    """The metric a trial is scored by: the configured one, else success rate or mean reward."""
    if objective.metric is not None:
        return objective.metric
    return "success_rate" if "success_rate" in result.metrics else "mean_reward"


def aggregate(values: Sequence[float], objective: ObjectiveConfig) -> float:
    """Score a sequence of evaluation values: best, last, or mean of the last k."""
    if not values:
        raise ValueError("no evaluation values to aggregate")
    if objective.aggregate == "last":
        return float(values[-1])
    if objective.aggregate == "best":
        return float(max(values) if objective.resolved_direction == "maximize" else min(values))
    k = min(objective.k or DEFAULT_K, len(values))
    return float(sum(values[-k:]) / k)


class _TrialListener(EvaluationListener):
    """Evaluation listener of one trial run: reports to Optuna and stops pruned/diverged runs."""

    def __init__(self, trial: optuna.Trial, objective: ObjectiveConfig, step0: int,
                 last_prunable: int | None = None) -> None:
        self.trial, self.objective = trial, objective
        self.step = step0
        self.last_prunable = last_prunable  # evaluations after this timestep are never pruned
        self.values: list[float] = []
        self.metric: str | None = None
        self.pruned = False
        self.diverged: str | None = None

    def on_evaluation(self, result: EvalResult, model: BaseAlgorithm) -> bool:
        self.metric = self.metric or resolve_metric(self.objective, result)
        value = float(result.get(self.metric))
        if not math.isfinite(value):
            self.diverged = (f"evaluation at {result.timesteps} timesteps gave "
                             f"{self.metric} = {value}")
            return False
        self.values.append(value)
        self.step += 1
        self.trial.report(aggregate(self.values, self.objective), self.step)
        final = self.last_prunable is not None and result.timesteps > self.last_prunable
        if not final and self.trial.should_prune():
            self.pruned = True
            return False
        return True


@dataclass
class TrialContext:
    """What every trial of one process shares."""

    config: ExperimentConfig
    tune: TuneConfig
    base: dict[str, Any]
    study_dir: Path


def _free_dir(path: Path) -> Path:
    """``path``, or ``path-2``, ``path-3``... if a folder of an earlier study is in the way."""
    candidate, k = path, 1
    while candidate.exists():
        k += 1
        candidate = path.with_name(f"{path.name}-{k}")
    return candidate


def trial_dir(study_dir: Path, number: int) -> Path:
    """Folder of trial ``number``."""
    return study_dir / f"trial-{number:04d}"


class Objective:
    """The Optuna objective: a callable ``trial -> score``."""

    def __init__(self, ctx: TrialContext) -> None:
        self.ctx = ctx

    def __call__(self, trial: optuna.Trial) -> float:
        ctx = self.ctx
        values = sample(trial, ctx.tune, ctx.base)
        trial.set_user_attr("values", values)
        folder = trial_dir(ctx.study_dir, trial.number)
        trial.set_user_attr("trial_dir", str(folder))
        try:
            return self._run(trial, values, folder)
        except (TrialFailed, StudyAborted, optuna.TrialPruned):
            raise
        except Exception as exc:  # a raising trial is a failed trial, not a failed study
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "error.txt").write_text(traceback.format_exc())
            reason = f"{type(exc).__name__}: {exc}".strip()
            trial.set_user_attr("fail_reason", reason[:2000])
            raise TrialFailed(reason) from exc

    def _fail(self, trial: optuna.Trial, reason: str) -> TrialFailed:
        trial.set_user_attr("fail_reason", reason[:2000])
        return TrialFailed(reason)

    def _run(self, trial: optuna.Trial, values: dict[str, Any], folder: Path) -> float:
        ctx = self.ctx
        tune = ctx.tune
        timesteps = tune.timesteps or ctx.config.total_timesteps
        seeds = tune.seed_list(ctx.config.seed)
        scores: list[float] = []
        run_dirs: list[str] = []
        step = 0
        metric = None
        for seed in seeds:
            data = trial_config_data(ctx.base, values, timesteps=timesteps, seed=seed)
            data = with_group(data, tune.study or ctx.config.name)  # trackers show the study as a group
            try:
                config = validate_config(data, f"trial {trial.number} config")
            except ConfigError as exc:
                raise self._fail(trial, f"sampled values give an invalid config: {exc}") from None
            run_dir = _free_dir(folder / f"seed-{seed}")
            run_dirs.append(str(run_dir))
            trial.set_user_attr("run_dirs", run_dirs)
            # The final evaluation of the last seed completes the trial: pruning it then would
            # only discard a finished score.
            evaluation = config.callback("evaluation")
            assert evaluation is not None  # check_search_space requires one
            last = timesteps - evaluation.every if seed == seeds[-1] else None
            listener = _TrialListener(trial, tune.objective, step, last)
            result = start_run(config, run_dir=run_dir, hooks=RunHooks(listeners=[listener]))
            if isinstance(result.error, MetricError):  # every trial would hit it
                reason = f"{result.run_dir}: {result.error}"
                trial.set_user_attr("fail_reason", reason)
                raise StudyAborted(f"tune.objective.metric: {reason}")
            step = listener.step
            metric = listener.metric or metric
            if metric:
                trial.set_user_attr("metric", metric)
            if result.status is RunStatus.INTERRUPTED:
                trial.set_user_attr("fail_reason", f"interrupted ({result.reason})")
                raise StudyAborted(f"interrupted ({result.reason}); trial {trial.number} "
                                   "marked failed")
            if result.status is RunStatus.FAILED:
                raise self._fail(trial, f"{result.reason} (seed {seed})")  # diverged, pretraining failed
            if listener.diverged:
                raise self._fail(trial, f"diverged (seed {seed}): {listener.diverged}")
            if listener.pruned:
                trial.set_user_attr("pruned_at", {"seed": seed, "timesteps": result.timesteps,
                                                  "evaluation": listener.step})
                raise optuna.TrialPruned(
                    f"pruned at evaluation {listener.step} ({result.timesteps} timesteps, "
                    f"seed {seed})")
            if not listener.values:
                raise self._fail(trial, f"no evaluation ran (seed {seed}, run {result.status}: "
                                        f"{result.reason})")
            score = aggregate(listener.values, tune.objective)
            scores.append(score)
            trial.set_user_attr("seed_scores", scores)
        value = sum(scores) / len(scores)
        if not math.isfinite(value):
            raise self._fail(trial, f"objective is {value}")
        return value
