"""Save the best model by an evaluation metric, with normalisation statistics and a JSON record."""

from __future__ import annotations

from typing import Any, Literal

from stable_baselines3.common.base_class import BaseAlgorithm

from hlynr.config.base import StrictModel
from hlynr.config.schema import ExperimentConfig
from hlynr.registries import EvalResult, EvaluationListener, MetricError, Resumable, RunContext
from hlynr.runs.artifacts import is_complete, read_meta, save_model_dir


class BestModelParams(StrictModel):
    """Keep ``best/`` = the model with the best ``metric`` (ties broken by ``tie_break``)."""

    metric: str = "success_rate"
    mode: Literal["max", "min"] = "max"
    tie_break: str | None = "mean_reward"


class BestModelSaver(EvaluationListener, Resumable):
    """Listens to evaluations; saves ``run_dir/best/`` only when the metric improves."""

    state_key = "best_model"

    def __init__(self, params: BestModelParams, ctx: RunContext[ExperimentConfig]) -> None:
        self.params, self.ctx = params, ctx
        self.best: tuple[float, float] | None = None
        self.best_timesteps: int | None = None
        self.saves = 0

    def state_dict(self) -> dict[str, Any]:
        return {"best": list(self.best) if self.best else None, "timesteps": self.best_timesteps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        best = state.get("best")
        self.best = (float(best[0]), float(best[1])) if best else None
        self.best_timesteps = state.get("timesteps")
        self._adopt_saved_best()

    def _adopt_saved_best(self) -> None:
        """Take the best from ``best/meta.json`` when it beats the checkpoint's record.

        ``best/`` can be newer than the checkpoint a run resumes from (a kill right after a new
        best): the model on disk is the one to beat, and the log keeps a record of it.
        """
        folder = self.ctx.run_dir / "best"
        if not is_complete(folder):
            return
        try:
            meta = read_meta(folder)
            saved = EvalResult(int(meta["timesteps"]), meta["metrics"], meta.get("info", {}),
                               meta.get("stage"), meta.get("by_stage", {}))
            if meta.get("metric") != self.params.metric:
                return
            key = self._key(saved)
        except (OSError, ValueError, KeyError, TypeError, MetricError):
            return  # an unreadable record cannot be compared: the checkpoint's record stands
        if self.best is None or key > self.best:
            self.best, self.best_timesteps = key, saved.timesteps
            self.ctx.log.write("event", timesteps=self.ctx.resumed_at, event="best_kept",
                               best_timesteps=saved.timesteps, metric=self.params.metric,
                               value=saved.get(self.params.metric),
                               **{f"eval_{k}": v for k, v in saved.metrics.items()})

    def _key(self, result: EvalResult) -> tuple[float, float]:
        sign = 1.0 if self.params.mode == "max" else -1.0
        tie = result.get(self.params.tie_break) if self.params.tie_break else 0.0
        return sign * result.get(self.params.metric), tie

    def on_evaluation(self, result: EvalResult, model: BaseAlgorithm) -> bool:
        key = self._key(result)
        if self.best is None or key > self.best:
            self.best, self.best_timesteps = key, result.timesteps
            meta = {"timesteps": result.timesteps, "metric": self.params.metric,
                    "value": result.get(self.params.metric), "metrics": result.metrics,
                    "info": result.info, "stage": result.stage}
            if result.by_stage:
                meta["by_stage"] = result.by_stage
            save_model_dir(self.ctx.run_dir / "best", model, meta)
            self.saves += 1
            self.ctx.log.write("event", timesteps=result.timesteps, event="new_best",
                               metric=self.params.metric, value=meta["value"])
        return True
