"""Schedule specs: plain data that describe how a value changes over training.

A schedule maps the training progress ``p`` in [0, 1] (timesteps done / total timesteps) to a
value. In YAML::

    learning_rate: 3.0e-4                                          # constant
    learning_rate: {schedule: linear, start: 3.0e-4, end: 1.0e-5}
    ent_coef:      {schedule: exponential, start: 0.02, end: 0.001, fraction: 0.5}
    ent_coef:      {schedule: step, start: 0.02, end: 0.0, steps: 4, fraction: 0.8}

``fraction`` is the part of training over which the value moves from ``start`` to ``end``; it
then stays at ``end``. Schedule objects are callables with SB3's convention
(``schedule(progress_remaining)`` with progress_remaining going 1 -> 0) and also expose
:meth:`value_at` for a progress fraction. They pickle with the model.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from hlynr.config.base import StrictModel
from hlynr.registries import suggest


class Schedule(StrictModel):
    """A value that moves from ``start`` to ``end`` over ``fraction`` of training."""

    start: float
    end: float
    fraction: float = Field(1.0, gt=0.0, le=1.0)

    @abstractmethod
    def _shape(self, t: float) -> float:
        """The value at normalised time ``t`` in [0, 1] of the schedule's active span."""

    def value_at(self, progress: float) -> float:
        """The value after ``progress`` (0 = start of training, 1 = end) of training."""
        t = min(max(progress, 0.0) / self.fraction, 1.0)
        return self._shape(t)

    def __call__(self, progress_remaining: float) -> float:
        return self.value_at(1.0 - progress_remaining)


class LinearSchedule(Schedule):
    """Linear interpolation from ``start`` to ``end``."""

    schedule: Literal["linear"] = "linear"

    def _shape(self, t: float) -> float:
        # start * (1 - t) is SB3's and the RL Zoo's ``progress_remaining * start`` bit for bit
        return self.start * (1.0 - t) + self.end * t


class ExponentialSchedule(Schedule):
    """Geometric interpolation from ``start`` to ``end`` (both must be > 0)."""

    schedule: Literal["exponential"] = "exponential"

    @model_validator(mode="after")
    def _positive(self) -> ExponentialSchedule:
        if self.start <= 0 or self.end <= 0:
            raise ValueError("exponential schedule needs start > 0 and end > 0")
        return self

    def _shape(self, t: float) -> float:
        return math.exp(math.log(self.start) + t * (math.log(self.end) - math.log(self.start)))


class StepSchedule(Schedule):
    """``steps`` equal drops from ``start`` to ``end``, evenly spaced over ``fraction``."""

    schedule: Literal["step"] = "step"
    steps: int = Field(1, ge=1)

    def _shape(self, t: float) -> float:
        k = min(math.floor(t * self.steps + 1e-12), self.steps)
        return self.start + (self.end - self.start) * k / self.steps


def _schedule_key(data: object) -> object:
    """A mapping without its ``schedule`` key says which key it has instead (typos first)."""
    if isinstance(data, dict) and "schedule" not in data:
        near = next((k for k in data if isinstance(k, str) and suggest(k, ["schedule"])), None)
        if near is not None:
            raise PydanticCustomError(
                "unknown_key", "unknown key '{key}' (did you mean 'schedule'?); a schedule "
                "needs schedule: linear | exponential | step", {"key": near})
        raise PydanticCustomError("schedule_key", "a schedule needs a 'schedule' key: linear, "
                                  "exponential or step")
    return data


ScheduleSpec = Annotated[
    LinearSchedule | ExponentialSchedule | StepSchedule, Field(discriminator="schedule"),
    BeforeValidator(_schedule_key),
]
"""A schedule given as a mapping with a ``schedule`` key."""

FloatOrSchedule = float | ScheduleSpec
"""A constant number or a schedule spec."""


def value_at(spec: float | Schedule, progress: float) -> float:
    """Evaluate a constant or a schedule at training progress ``progress`` in [0, 1]."""
    return spec.value_at(progress) if isinstance(spec, Schedule) else float(spec)
