"""Entropy-coefficient schedule: set ``ent_coef`` at the start of every rollout."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field
from stable_baselines3.common.callbacks import BaseCallback

from hlynr.config.base import StrictModel
from hlynr.config.schedules import ExponentialSchedule, LinearSchedule, StepSchedule


class EntropyScheduleParams(StrictModel):
    """``ent_coef`` from ``start`` to ``end`` over ``fraction`` of training."""

    schedule: Literal["linear", "exponential", "step"] = "linear"
    start: float = Field(..., ge=0.0)
    end: float = Field(..., ge=0.0)
    fraction: float = Field(1.0, gt=0.0, le=1.0)
    steps: int = Field(1, ge=1, description="number of drops (step schedule only)")

    def build(self) -> LinearSchedule | ExponentialSchedule | StepSchedule:
        """The schedule object these parameters describe."""
        common = dict(start=self.start, end=self.end, fraction=self.fraction)
        if self.schedule == "linear":
            return LinearSchedule(**common)
        if self.schedule == "exponential":
            return ExponentialSchedule(**common)
        return StepSchedule(**common, steps=self.steps)


class EntropySchedule(BaseCallback):
    """Sets the algorithm's ``ent_coef`` from the schedule before each rollout and logs it."""

    def __init__(self, params: EntropyScheduleParams, ctx: Any) -> None:
        super().__init__()
        self.schedule = params.build()
        self.total = ctx.config.total_timesteps

    def value(self, timesteps: int) -> float:
        """The entropy coefficient after ``timesteps`` environment steps."""
        return self.schedule.value_at(timesteps / self.total)

    def _on_rollout_start(self) -> None:
        self.model.ent_coef = self.value(self.num_timesteps)
        self.logger.record("train/ent_coef_scheduled", self.model.ent_coef)

    def _on_step(self) -> bool:
        return True
