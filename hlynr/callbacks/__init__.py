"""Callbacks a config can list, each a small class with one job.

=================  ================================================================
name               job
=================  ================================================================
evaluation         seeded evaluation every N timesteps at the final curriculum stage
best_model         save ``best/`` when the evaluation metric improves
checkpoint         resumable checkpoint every N timesteps, keep the newest K
early_stopping     stop after ``patience`` evaluations without improvement
success_streak     stop after K consecutive evaluations at or above a threshold
entropy_schedule   schedule ``ent_coef`` (on-policy algorithms)
curriculum         frozen / schedule / adaptive stages of env parameters
collapse_guard     stop or roll back when the metric collapses from its peak
=================  ================================================================
"""

from __future__ import annotations

from typing import Any

from hlynr.callbacks.best_model import BestModelParams, BestModelSaver
from hlynr.callbacks.checkpoint import CheckpointParams, PeriodicCheckpoint
from hlynr.callbacks.collapse import CollapseGuard, CollapseGuardParams
from hlynr.callbacks.curriculum import Curriculum, CurriculumParams
from hlynr.callbacks.evaluation import EvalResult, EvaluationCallback, EvaluationParams
from hlynr.callbacks.registry import CALLBACKS, CallbackEntry
from hlynr.callbacks.schedules import EntropySchedule, EntropyScheduleParams
from hlynr.callbacks.stopping import (
    EarlyStopping, EarlyStoppingParams, SuccessStreak, SuccessStreakParams,
)


def _needs_entropy_coef(algo: Any) -> str | None:
    return None if algo.entropy_coef else "it has no fixed entropy coefficient to schedule"


for _name, _entry in [
    ("evaluation", CallbackEntry(EvaluationParams, EvaluationCallback)),
    ("best_model", CallbackEntry(BestModelParams, BestModelSaver, needs_evaluation=True)),
    ("checkpoint", CallbackEntry(CheckpointParams, PeriodicCheckpoint)),
    ("early_stopping", CallbackEntry(EarlyStoppingParams, EarlyStopping, needs_evaluation=True)),
    ("success_streak", CallbackEntry(SuccessStreakParams, SuccessStreak, needs_evaluation=True)),
    ("entropy_schedule", CallbackEntry(EntropyScheduleParams, EntropySchedule,
                                       applies_to=_needs_entropy_coef)),
    ("curriculum", CallbackEntry(CurriculumParams, Curriculum)),
    ("collapse_guard", CallbackEntry(CollapseGuardParams, CollapseGuard, needs_evaluation=True)),
]:
    CALLBACKS.register(_name, _entry)

__all__ = ["CALLBACKS", "EvalResult"]
