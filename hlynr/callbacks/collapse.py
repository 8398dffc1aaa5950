"""Collapse guard: react when the evaluation metric falls far below its peak and stays there.

On-policy training can collapse: the evaluation success climbs to a peak, then falls to near
zero and does not recover. This guard watches the evaluation metric; when it stays below
``fraction`` x peak for ``patience`` evaluations it either stops training or restores the
weights (and optimizer state) of the peak and scales the learning rate by ``lr_scale``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import Field
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.type_aliases import Schedule

from hlynr.config.base import StrictModel
from hlynr.config.schema import ExperimentConfig
from hlynr.registries import (
    EvalResult,
    EvaluationListener,
    PreparesModel,
    Resumable,
    RunContext,
    Stopper,
)


class CollapseGuardParams(StrictModel):
    """Stop or roll back when ``metric`` < ``fraction`` x peak for ``patience`` evaluations."""

    metric: str = "success_rate"
    fraction: float = Field(0.5, gt=0.0, lt=1.0)
    patience: int = Field(3, ge=1)
    min_peak: float = Field(0.05, description="ignore peaks below this value (noise)")
    action: Literal["stop", "restore"] = "stop"
    lr_scale: float = Field(0.5, gt=0.0, le=1.0, description="learning-rate factor per restore")
    max_restores: int = Field(3, ge=1, description="stop after this many restores")


class ScaledSchedule:
    """A learning-rate schedule multiplied by a constant factor (picklable)."""

    def __init__(self, base: Schedule, scale: float) -> None:
        self.base, self.scale = base, scale

    def __call__(self, progress_remaining: float) -> float:
        return self.scale * self.base(progress_remaining)


def unscaled(schedule: Schedule) -> Schedule:
    """The schedule without any :class:`ScaledSchedule` wrappers."""
    while isinstance(schedule, ScaledSchedule):
        schedule = schedule.base
    return schedule


class CollapseGuard(EvaluationListener, Resumable, Stopper, PreparesModel):
    """Listens to evaluations; stops or restores the peak weights on a sustained collapse."""

    state_key = "collapse_guard"

    def __init__(self, params: CollapseGuardParams, ctx: RunContext[ExperimentConfig]) -> None:
        self.params, self.ctx = params, ctx
        self.peak: float | None = None
        self.peak_timesteps: int | None = None
        self.below = 0
        self.restores = 0
        self.lr_scale = 1.0
        self.snapshot_path: Path = ctx.run_dir / "collapse_guard" / "peak.pt"

    def state_dict(self) -> dict[str, Any]:
        return {"peak": self.peak, "peak_timesteps": self.peak_timesteps, "below": self.below,
                "restores": self.restores, "lr_scale": self.lr_scale}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.peak, self.peak_timesteps = state["peak"], state["peak_timesteps"]
        self.below, self.restores = int(state["below"]), int(state["restores"])
        self.lr_scale = float(state["lr_scale"])

    def prepare_model(self, model: BaseAlgorithm) -> None:
        """Install the learning-rate scale of the restores so far (a resumed run keeps it)."""
        self.apply_lr_scale(model)

    def apply_lr_scale(self, model: BaseAlgorithm) -> None:
        """Install the cumulative learning-rate scale on ``model`` (idempotent)."""
        base = unscaled(model.lr_schedule)
        model.lr_schedule = ScaledSchedule(base, self.lr_scale) if self.lr_scale != 1.0 else base

    def _snapshot(self, model: BaseAlgorithm) -> None:
        self.snapshot_path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.snapshot_path.parent, prefix=".peak.")
        os.close(fd)
        torch.save({"policy": model.policy.state_dict(),
                    "optimizer": model.policy.optimizer.state_dict()}, tmp)
        os.replace(tmp, self.snapshot_path)

    def _restore(self, model: BaseAlgorithm) -> None:
        data = torch.load(self.snapshot_path, map_location=model.device, weights_only=False)
        model.policy.load_state_dict(data["policy"])
        model.policy.optimizer.load_state_dict(data["optimizer"])

    def on_evaluation(self, result: EvalResult, model: BaseAlgorithm) -> bool:
        value = result.get(self.params.metric)
        if self.peak is None or value > self.peak:
            self.peak, self.peak_timesteps, self.below = value, result.timesteps, 0
            if self.params.action == "restore":
                self._snapshot(model)
            return True
        if self.peak >= self.params.min_peak and value < self.params.fraction * self.peak:
            self.below += 1
        else:
            self.below = 0
        if self.below < self.params.patience:
            return True
        self.below = 0
        detail = (f"{self.params.metric} {value:.3g} < {self.params.fraction} x peak "
                  f"{self.peak:.3g} (at {self.peak_timesteps}) for {self.params.patience} evaluations")
        if self.params.action == "stop" or self.restores >= self.params.max_restores:
            self.stop_reason = f"stopped by collapse_guard: {detail}"
            self.ctx.log.write("event", timesteps=result.timesteps, event="collapse_stop",
                               reason=detail)
            return False
        self._restore(model)
        self.restores += 1
        self.lr_scale *= self.params.lr_scale
        self.apply_lr_scale(model)
        self.ctx.log.write("event", timesteps=result.timesteps, event="collapse_restore",
                           reason=detail, lr_scale=self.lr_scale, restores=self.restores)
        return True
