"""Stopping rules on evaluation results: no improvement (patience) and a success streak."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field
from stable_baselines3.common.base_class import BaseAlgorithm

from hlynr.config.base import StrictModel
from hlynr.config.schema import ExperimentConfig
from hlynr.registries import EvalResult, EvaluationListener, Resumable, RunContext, Stopper


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
