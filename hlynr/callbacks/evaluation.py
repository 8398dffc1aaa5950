"""Periodic evaluation on a separate env, at the final curriculum stage unless asked otherwise.

With ``stages`` the evaluation runs ``episodes`` episodes at each listed stage: the metrics of
each stage are logged under its name (``eval/<name>/...``, ``eval_stages`` in the progress log),
and the listeners (best model, early stopping, ...) act on the episodes of all stages pooled, so
that ``best/`` can be chosen on the hard stages of a mixed curriculum and the easy ones at once.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import Field, model_validator
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecEnv, sync_envs_normalization

from hlynr.config.base import StrictModel
from hlynr.config.schema import ExperimentConfig
from hlynr.config.stages import StageSelector
from hlynr.evaluation.episodes import EvaluationSummary, run_episodes
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
    stage: Literal["final", "current"] | int | None = Field(
        None, description="curriculum stage to evaluate at: final (default), current, or index")
    stages: list[Literal["final", "current"] | int] | None = Field(
        None, min_length=2,
        description="evaluate at each of these stages; listeners see their episodes pooled")
    seed: int | None = Field(None, ge=0, description="first episode seed (default: run seed + offset)")

    @model_validator(mode="after")
    def _one_way_to_name_stages(self) -> EvaluationParams:
        if self.stages is not None and self.stage is not None:
            raise ValueError("give 'stage' (one stage) or 'stages' (several), not both")
        if self.stages is None and self.stage is None:  # the resolved config says which
            object.__setattr__(self, "stage", "final")
        return self

    def selectors(self) -> list[StageSelector]:
        """The stages each evaluation runs at, in order (one unless ``stages`` is given)."""
        if self.stages is not None:
            return list(self.stages)
        assert self.stage is not None  # set to final by the validator
        return [self.stage]


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
        self._eval_envs: list[VecEnv] = []
        self.seed = params.seed if params.seed is not None else ctx.config.seed + EVAL_SEED_OFFSET

    def add_listener(self, listener: EvaluationListener) -> None:
        self.listeners.append(listener)

    def state_dict(self) -> dict[str, Any]:
        return {"next_eval": self.next_eval}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.next_eval = int(state["next_eval"])

    def _stage_params(self, selector: StageSelector) -> tuple[int | None, dict[str, Any] | None]:
        return self.ctx.config.stage(selector, self.ctx.current_stage())

    def _stage_name(self, stage: int | None) -> str:
        curriculum = self.ctx.config.callback("curriculum")
        return curriculum.stage_name(stage) if curriculum is not None and stage is not None else "none"

    def _on_training_start(self) -> None:
        self._eval_envs = [self.ctx.make_eval_env(self._stage_params(s)[1], self.params.n_envs)
                           for s in self.params.selectors()]

    def _run_stage(self, selector: StageSelector, env: VecEnv) -> tuple[int | None, EvaluationSummary]:
        stage, params = self._stage_params(selector)
        if selector == "current" and params:
            env.env_method("apply_params", **params)
        sync_envs_normalization(self.training_env, env)
        return stage, run_episodes(self.model, env, self.params.episodes, self.seed,
                                   deterministic=self.params.deterministic,
                                   success_key=self.ctx.config.env.success_key)

    def evaluate(self) -> EvalResult:
        """Run one evaluation now and return its result (also logged)."""
        assert self._eval_envs, "evaluate() before training started"
        t0 = time.perf_counter()
        parts = [self._run_stage(s, env) for s, env in zip(self.params.selectors(), self._eval_envs)]
        by_stage: dict[str, dict[str, float]] = {}
        if len(parts) == 1:
            stage, summary = parts[0]
        else:  # the pooled episodes of every stage, each stage's own metrics by name
            stage, summary = None, EvaluationSummary([e for _, part in parts for e in part.episodes])
            for part_stage, part in parts:
                by_stage[self._stage_name(part_stage)] = part.metrics() | {
                    k: v["mean"] for k, v in part.info_stats().items() if "mean" in v}
        result = EvalResult(int(self.num_timesteps), summary.metrics(), summary.info_stats(), stage,
                            by_stage)
        for key, value in result.metrics.items():
            self.logger.record(f"eval/{key}", value)
        for key, stats in result.info.items():
            if "mean" in stats:
                self.logger.record(f"eval/info/{key}", stats["mean"])
        for name, values in by_stage.items():
            for key, value in values.items():
                self.logger.record(f"eval/{name}/{key}", value)
        extra: dict[str, Any] = {"eval_stages": by_stage} if by_stage else {}
        self.ctx.log.write("eval", timesteps=result.timesteps, wall_time=self.ctx.wall_time(),
                           eval_seconds=time.perf_counter() - t0, stage=stage,
                           **{f"eval_{k}": v for k, v in result.metrics.items()},
                           eval_info={k: v.get("mean") for k, v in result.info.items()}, **extra)
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
        for env in self._eval_envs:
            env.close()
        self._eval_envs = []
