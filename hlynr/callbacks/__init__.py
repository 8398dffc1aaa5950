"""Callbacks a config can list, each a small class with one job.

=================  ================================================================
name               job
=================  ================================================================
evaluation         seeded evaluation every N timesteps at the final curriculum stage
best_model         save ``best/`` when the evaluation metric improves
checkpoint         resumable checkpoint every N timesteps, keep the newest K
early_stopping     stop after ``patience`` evaluations without improvement
success_streak     stop after K consecutive evaluations at or above a threshold
time_budget        stop after M minutes of training wall-clock time
entropy_schedule   schedule ``ent_coef`` (on-policy algorithms)
curriculum         frozen / schedule / adaptive stages of env parameters
collapse_guard     stop or roll back when the metric collapses from its peak
replay             draw the first episodes of every (k-th) evaluation into ``replays/``
=================  ================================================================

They are registered in :data:`hlynr.registries.CALLBACKS` by :mod:`hlynr.builtins`.
"""

from hlynr.callbacks.best_model import BestModelParams, BestModelSaver
from hlynr.callbacks.checkpoint import CheckpointParams, PeriodicCheckpoint
from hlynr.callbacks.collapse import CollapseGuard, CollapseGuardParams
from hlynr.callbacks.curriculum import Curriculum, CurriculumParams
from hlynr.callbacks.evaluation import EvaluationCallback, EvaluationParams
from hlynr.callbacks.replay import ReplayParams, ReplayRecorder
from hlynr.callbacks.schedules import EntropySchedule, EntropyScheduleParams
from hlynr.callbacks.stopping import (
    EarlyStopping,
    EarlyStoppingParams,
    SuccessStreak,
    SuccessStreakParams,
    TimeBudget,
    TimeBudgetParams,
)

__all__ = [
    "BestModelParams", "BestModelSaver", "CheckpointParams", "CollapseGuard",
    "CollapseGuardParams", "Curriculum", "CurriculumParams", "EarlyStopping",
    "EarlyStoppingParams", "EntropySchedule", "EntropyScheduleParams", "EvaluationCallback",
    "EvaluationParams", "PeriodicCheckpoint", "ReplayParams", "ReplayRecorder", "SuccessStreak",
    "SuccessStreakParams", "TimeBudget", "TimeBudgetParams",
]
