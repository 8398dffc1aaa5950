"""Stopping rules: no improvement (patience) and a success streak on evaluation results, and a
wall-clock budget on training time."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback

from hlynr.config.base import StrictModel
from hlynr.config.schema import ExperimentConfig
from hlynr.registries import (
    CallbackPhase,
    EvalResult,
    EvaluationListener,
    Phased,
    Resumable,
    RunContext,
    Stopper,
)


class EarlyStoppingParams(StrictModel):
    """Stop when ``metric`` has not improved by ``min_delta`` for ``patience`` evaluations."""

    metric: str = "success_rate"
    mode: Literal["max", "min"] = "max"
    patience: int = Field(5, ge=1)
    min_delta: float = Field(0.0, ge=0.0)
    min_evaluations: int = Field(0, ge=0, description="never stop before this many evaluations")


class EarlyStopping(EvaluationListener, Resumable, Stopper):
    """Counts evaluations without an improvement of at least ``min_delta``."""

    state_key = "early_stopping"

    def __init__(self, params: EarlyStoppingParams, ctx: RunContext[ExperimentConfig]) -> None:
        self.params, self.ctx = params, ctx
        self.best: float | None = None
        self.stale = 0
        self.evaluations = 0

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "stale": self.stale, "evaluations": self.evaluations}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.stale = state["best"], int(state["stale"])
        self.evaluations = int(state.get("evaluations", 0))

    def on_evaluation(self, result: EvalResult, model: BaseAlgorithm) -> bool:
        value = result.get(self.params.metric)
        if self.params.mode == "min":
            value = -value
        self.evaluations += 1
        delta = self.params.min_delta
        improved = self.best is None or (
            value - self.best >= delta if delta > 0 else value > self.best)
        if improved:
            self.best, self.stale = value, 0
        else:
            self.stale += 1
        if self.stale >= self.params.patience and self.evaluations >= self.params.min_evaluations:
            reason = (f"no improvement of {self.params.metric} by >= {self.params.min_delta} "
                      f"in {self.stale} evaluations")
            self.stop_reason = f"stopped by early_stopping: {reason}"
            self.ctx.log.write("event", timesteps=result.timesteps, event="early_stop",
                               reason=reason)
            return False
        return True


class SuccessStreakParams(StrictModel):
    """Stop after ``count`` consecutive evaluations with ``metric`` >= ``threshold``."""

    metric: str = "success_rate"
    threshold: float = Field(0.95)
    count: int = Field(3, ge=1)


class SuccessStreak(EvaluationListener, Resumable, Stopper):
    """Stops training once the metric has stayed at or above a threshold long enough."""

    state_key = "success_streak"

    def __init__(self, params: SuccessStreakParams, ctx: RunContext[ExperimentConfig]) -> None:
        self.params, self.ctx = params, ctx
        self.streak = 0

    def state_dict(self) -> dict[str, Any]:
        return {"streak": self.streak}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.streak = int(state["streak"])

    def on_evaluation(self, result: EvalResult, model: BaseAlgorithm) -> bool:
        self.streak = self.streak + 1 if result.get(self.params.metric) >= self.params.threshold else 0
        if self.streak >= self.params.count:
            reason = (f"{self.params.metric} >= {self.params.threshold} in {self.streak} "
                      "consecutive evaluations")
            self.stop_reason = f"stopped by success_streak: {reason}"
            self.ctx.log.write("event", timesteps=result.timesteps, event="success_streak",
                               reason=reason)
            return False
        return True


class TimeBudgetParams(StrictModel):
    """Stop once the run has trained for ``minutes`` of wall-clock time (before a resume included)."""

    minutes: float = Field(..., gt=0.0, le=525_600.0, description="training wall-clock minutes")


class TimeBudget(BaseCallback, Phased, Stopper):
    """Ends training at the first env step past the budget, so that learners compared at equal
    wall-clock time each get the same budget, updates and evaluations included."""

    phase = CallbackPhase.CONTROL

    def __init__(self, params: TimeBudgetParams, ctx: RunContext[ExperimentConfig]) -> None:
        super().__init__()
        self.params, self.ctx = params, ctx
        self.seconds = params.minutes * 60.0

    def _on_step(self) -> bool:
        if self.ctx.wall_time() < self.seconds:
            return True
        reason = f"{self.params.minutes:g} min of training wall-clock time used"
        self.stop_reason = f"stopped by time_budget: {reason}"
        self.ctx.log.write("event", timesteps=self.num_timesteps, event="time_budget", reason=reason)
        return False
