"""Entropy-coefficient schedule: set ``ent_coef`` at the start of every rollout."""

from __future__ import annotations

from typing import Any, Protocol, cast

from pydantic import RootModel, model_validator
from stable_baselines3.common.callbacks import BaseCallback

from hlynr.config.schedules import ScheduleSpec
from hlynr.config.schema import ExperimentConfig
from hlynr.registries import CallbackPhase, Phased, RunContext


class EntropyScheduleParams(RootModel[ScheduleSpec]):
    """``ent_coef`` as a schedule spec (``schedule`` defaults to ``linear``); values >= 0."""

    @model_validator(mode="before")
    @classmethod
    def _linear_by_default(cls, data: Any) -> Any:
        return {"schedule": "linear", **data} if isinstance(data, dict) else data

    @model_validator(mode="after")
    def _non_negative(self) -> EntropyScheduleParams:
        if self.root.start < 0 or self.root.end < 0:
            raise ValueError("an entropy coefficient cannot be negative")
        return self


class _FixedEntropyCoef(Protocol):
    ent_coef: float


class EntropySchedule(BaseCallback, Phased):
    """Sets the algorithm's ``ent_coef`` from the schedule before each rollout and logs it."""

    phase = CallbackPhase.PREPARE

    def __init__(self, params: EntropyScheduleParams, ctx: RunContext[ExperimentConfig]) -> None:
        super().__init__()
        self.schedule = params.root
        self.total = ctx.config.total_timesteps

    def value(self, timesteps: int) -> float:
        """The entropy coefficient after ``timesteps`` environment steps."""
        return self.schedule.value_at(timesteps / self.total)

    def _on_rollout_start(self) -> None:
        model = cast(_FixedEntropyCoef, self.model)  # the config admits only such algorithms
        model.ent_coef = self.value(self.num_timesteps)
        self.logger.record("train/ent_coef_scheduled", model.ent_coef)

    def _on_step(self) -> bool:
        return True
