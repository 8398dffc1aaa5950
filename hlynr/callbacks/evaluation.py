"""Periodic evaluation on a separate env, at the final curriculum stage unless asked otherwise."""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import Field
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecEnv, sync_envs_normalization

from hlynr.config.base import StrictModel
from hlynr.config.schema import ExperimentConfig
from hlynr.evaluation.episodes import run_episodes
from hlynr.registries import (
    CallbackPhase,
    EvalResult,
    EvaluationListener,
    EvaluationSource,
    Phased,
    Resumable,
    RunContext,
)

EVAL_SEED_OFFSET = 1_000_003  # evaluation episodes never share seeds with training episodes


class EvaluationParams(StrictModel):
    """Evaluate every ``every`` timesteps on ``episodes`` seeded episodes."""

    every: int = Field(..., ge=1, description="environment timesteps between evaluations")
    episodes: int = Field(20, ge=1, le=100_000)
    deterministic: bool = True
    n_envs: int = Field(1, ge=1, le=4096, description="env copies used for evaluation")
    stage: Literal["final", "current"] | int = Field(
        "final", description="curriculum stage to evaluate at: final (default), current, or index")
    seed: int | None = Field(None, ge=0, description="first episode seed (default: run seed + offset)")


class EvaluationCallback(BaseCallback, Resumable, EvaluationSource, Phased):
    """Runs seeded evaluation episodes every ``every`` timesteps and notifies its listeners."""

    state_key = "evaluation"
    phase = CallbackPhase.EVALUATE

    def __init__(self, params: EvaluationParams, ctx: RunContext[ExperimentConfig]) -> None:
        super().__init__()
        self.params, self.ctx = params, ctx
        self.listeners: list[EvaluationListener] = []
        self.next_eval = params.every
        self.history: list[EvalResult] = []
        self._eval_env: VecEnv | None = None
        self.seed = params.seed if params.seed is not None else ctx.config.seed + EVAL_SEED_OFFSET

    def add_listener(self, listener: EvaluationListener) -> None:
        self.listeners.append(listener)

    def state_dict(self) -> dict[str, Any]:
        return {"next_eval": self.next_eval}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.next_eval = int(state["next_eval"])

    def _stage_params(self) -> tuple[int | None, dict[str, Any] | None]:
        return self.ctx.config.stage(self.params.stage, self.ctx.current_stage())

    def _on_training_start(self) -> None:
        _, params = self._stage_params()
        self._eval_env = self.ctx.make_eval_env(params, self.params.n_envs)

    def evaluate(self) -> EvalResult:
        """Run one evaluation now and return its result (also logged)."""
        assert self._eval_env is not None
        stage, params = self._stage_params()
        if self.params.stage == "current" and params:
            self._eval_env.env_method("apply_params", **params)
        sync_envs_normalization(self.training_env, self._eval_env)
        t0 = time.perf_counter()
        summary = run_episodes(self.model, self._eval_env, self.params.episodes, self.seed,
                               deterministic=self.params.deterministic,
                               success_key=self.ctx.config.env.success_key)
        result = EvalResult(int(self.num_timesteps), summary.metrics(), summary.info_stats(), stage)
        for key, value in result.metrics.items():
            self.logger.record(f"eval/{key}", value)
        for key, stats in result.info.items():
            if "mean" in stats:
                self.logger.record(f"eval/info/{key}", stats["mean"])
        self.ctx.log.write("eval", timesteps=result.timesteps, wall_time=self.ctx.wall_time(),
                           eval_seconds=time.perf_counter() - t0, stage=stage,
                           **{f"eval_{k}": v for k, v in result.metrics.items()},
                           eval_info={k: v.get("mean") for k, v in result.info.items()})
        self.history.append(result)
        return result

    def _on_step(self) -> bool:
        if self.num_timesteps < self.next_eval:
            return True
        while self.next_eval <= self.num_timesteps:
            self.next_eval += self.params.every
        result = self.evaluate()
        keep_going = True
        for listener in self.listeners:
            keep_going = listener.on_evaluation(result, self.model) and keep_going
        return keep_going

    def _on_training_end(self) -> None:
        if self._eval_env is not None:
            self._eval_env.close()
            self._eval_env = None
