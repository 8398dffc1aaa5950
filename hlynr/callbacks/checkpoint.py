"""Periodic checkpoints every N environment timesteps, keeping the newest K."""

from __future__ import annotations

from typing import Any

from pydantic import Field
from stable_baselines3.common.callbacks import BaseCallback

from hlynr.config.base import StrictModel
from hlynr.config.schema import ExperimentConfig
from hlynr.registries import CallbackPhase, Phased, Resumable, RunContext


class CheckpointParams(StrictModel):
    """Save a resumable checkpoint every ``every`` timesteps; keep the last ``keep_last``."""

    every: int = Field(..., ge=1, description="environment timesteps between checkpoints")
    keep_last: int = Field(3, ge=1)


class PeriodicCheckpoint(BaseCallback, Resumable, Phased):
    """Saves model, normalisation statistics and callback states every ``every`` timesteps."""

    state_key = "checkpoint"
    phase = CallbackPhase.SAVE

    def __init__(self, params: CheckpointParams, ctx: RunContext[ExperimentConfig]) -> None:
        super().__init__()
        self.params, self.ctx = params, ctx
        self.next_save = params.every

    def state_dict(self) -> dict[str, Any]:
        return {"next_save": self.next_save}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.next_save = int(state["next_save"])

    def _on_step(self) -> bool:
        if self.num_timesteps >= self.next_save:
            while self.next_save <= self.num_timesteps:
                self.next_save += self.params.every
            self.ctx.save_checkpoint(self.model, "periodic", self.ctx.wall_time())
            self.ctx.prune_checkpoints(self.params.keep_last)
        return True
