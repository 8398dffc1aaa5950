"""Always-on callbacks of a run: the progress log and the interrupt (Ctrl+C / SIGTERM) check."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

from hlynr.callbacks.curriculum import STAGE_SUCCESS
from hlynr.config.schema import ExperimentConfig
from hlynr.registries import CallbackPhase, Phased, Resumable, RunContext

MAX_FRESH = 1000  # raw episode rewards kept per progress record


class RollingEpisodes:
    """Rolling reward / length / success of the last ``window`` finished training episodes."""

    def __init__(self, window: int = 100) -> None:
        self.rewards: deque[float] = deque(maxlen=window)
        self.lengths: deque[int] = deque(maxlen=window)
        self.successes: deque[bool] = deque(maxlen=window)
        self.total = 0
        self.fresh: list[float] = []
        """Rewards of the episodes finished since the last :meth:`take_fresh`."""

    def add_infos(self, infos: list[dict[str, Any]], success_key: str) -> None:
        """Record every finished episode in a step's infos (rows carrying ``episode``)."""
        for info in infos:
            ep = info.get("episode")
            if ep is not None:
                self.rewards.append(float(ep["r"]))
                if len(self.fresh) < MAX_FRESH:
                    self.fresh.append(float(ep["r"]))
                self.lengths.append(int(ep["l"]))
                if success_key in info:
                    self.successes.append(bool(info[success_key]))
                self.total += 1

    def take_fresh(self) -> list[float]:
        """The rewards of episodes finished since the last call (at most ``MAX_FRESH``)."""
        fresh, self.fresh = self.fresh, []
        return fresh

    def summary(self) -> dict[str, float | None]:
        """Means over the window (None where no episode has finished yet)."""
        def mean(d: deque) -> float | None:
            return float(np.mean(d)) if d else None

        return {"ep_reward_mean": mean(self.rewards),
                "ep_reward_min": float(min(self.rewards)) if self.rewards else None,
                "ep_reward_max": float(max(self.rewards)) if self.rewards else None,
                "ep_length_mean": mean(self.lengths),
                "success_rate": mean(self.successes), "episodes": self.total}


class ProgressCallback(BaseCallback, Resumable, Phased):
    """Writes one ``rollout`` record to progress.jsonl per rollout (at most every ``every`` steps)."""

    state_key = "progress"
    phase = CallbackPhase.RECORD

    def __init__(self, ctx: RunContext[ExperimentConfig], every: int,
                 on_record: Callable[[dict[str, Any]], None] | None = None) -> None:
        super().__init__()
        self.ctx, self.every = ctx, every
        self.episodes = RollingEpisodes()
        self.on_record = on_record
        self.last_steps = 0
        self.last_time = time.perf_counter()
        self.next_log = every

    def state_dict(self) -> dict[str, Any]:
        return {"episodes": self.episodes.total}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.episodes.total = int(state["episodes"])

    def _on_training_start(self) -> None:
        self.last_steps = self.num_timesteps
        self.last_time = time.perf_counter()
        self.next_log = self.num_timesteps + self.every

    def _on_step(self) -> bool:
        self.episodes.add_infos(self.locals.get("infos", []), self.ctx.config.env.success_key)
        return True

    def _on_rollout_end(self) -> None:
        if self.num_timesteps < self.next_log:
            return
        self.next_log = self.num_timesteps + self.every
        now = time.perf_counter()
        sps = (self.num_timesteps - self.last_steps) / max(now - self.last_time, 1e-9)
        self.last_steps, self.last_time = self.num_timesteps, now
        model = self.model
        ent = getattr(model, "ent_coef", None)
        lr = model.lr_schedule(model._current_progress_remaining)
        stage = self.ctx.current_stage()
        losses = {k.split("/", 1)[1]: v for k, v in model.logger.name_to_value.items()
                  if k.startswith("train/")}
        by_stage = {k.removeprefix(STAGE_SUCCESS): v for k, v in model.logger.name_to_value.items()
                    if k.startswith(STAGE_SUCCESS)}
        record = {"timesteps": int(self.num_timesteps), "total_timesteps":
                  self.ctx.config.total_timesteps, "wall_time": self.ctx.wall_time(),
                  "steps_per_s": sps, **self.episodes.summary(),
                  "ent_coef": float(ent) if isinstance(ent, (int, float)) else None,
                  "learning_rate": float(lr), "stage": stage[0] if stage else None,
                  "losses": losses, "ep_rewards": self.episodes.take_fresh()}
        if by_stage:  # a mixed curriculum: the training success of each stage
            record["stage_success"] = by_stage
        if record["success_rate"] is not None:
            self.logger.record("rollout/hlynr_success_rate", record["success_rate"])
        self.ctx.log.write("rollout", **record)
        if self.on_record is not None:
            self.on_record(record)


class InterruptCallback(BaseCallback, Phased):
    """Stops training at the next step once ``should_stop()`` is true (Ctrl+C, SIGTERM)."""

    phase = CallbackPhase.INTERRUPT

    def __init__(self, should_stop: Callable[[], bool]) -> None:
        super().__init__()
        self.should_stop = should_stop

    def _on_step(self) -> bool:
        return not self.should_stop()
