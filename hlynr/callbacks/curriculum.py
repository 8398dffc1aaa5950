"""Curriculum controller: ordered stages of env parameters, applied to every training env.

Modes:

* ``frozen``: hold stage ``stage`` for the whole run;
* ``schedule``: move to stage ``i + 1`` when the timestep counter reaches ``at[i]``;
* ``adaptive``: advance when the rolling training success rate over the last ``window``
  episodes reaches ``threshold`` (after at least ``min_episodes`` episodes in the stage);
  optionally regress when it falls below ``regress_below``;
* ``mixed``: every stage at once, each on its ``shares`` of the env copies (default: equal) for
  the whole run, so that training on the hard stages never stops sampling the easy ones. Training
  success is logged per stage; ``current`` (for evaluation and replays) is the last stage.

New parameters reach each env through ``apply_params`` and take effect from its next reset.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator
from stable_baselines3.common.callbacks import BaseCallback

from hlynr.config.base import StrictModel
from hlynr.config.env_params_checks import stage_params_problem
from hlynr.config.schema import ExperimentConfig
from hlynr.envs.stages import share_counts, spread_stages
from hlynr.registries import CallbackPhase, ChecksConfig, Phased, Resumable, RunContext, StageInfo

STAGE_SUCCESS = "curriculum/success_"
"""Logger key prefix of a mixed curriculum's per-stage training success (``+ stage name``)."""


class CurriculumParams(StrictModel, ChecksConfig):
    """Stages of env parameters and the rule that moves between them."""

    mode: Literal["frozen", "schedule", "adaptive", "mixed"]
    stages: list[dict[str, Any]] = Field(..., min_length=1)
    shares: list[float] | None = Field(
        None, description="mixed: each stage's share of the env copies (default: equal)")
    names: list[str] | None = None
    stage: int = Field(0, ge=0, description="frozen: the stage to hold; others: first stage")
    at: list[int] | None = Field(None, description="schedule: timesteps of each advance")
    threshold: float = Field(0.8, gt=0.0, le=1.0, description="adaptive: success to advance")
    window: int = Field(100, ge=1, description="adaptive: episodes in the rolling rate")
    min_episodes: int | None = Field(None, ge=1, description="adaptive: default = window")
    regress_below: float | None = Field(None, ge=0.0, lt=1.0)

    @model_validator(mode="after")
    def _consistent(self) -> CurriculumParams:
        n = len(self.stages)
        if self.stage >= n:
            raise ValueError(f"stage {self.stage} does not exist ({n} stages)")
        if self.names is not None and len(self.names) != n:
            raise ValueError(f"names has {len(self.names)} entries for {n} stages")
        if self.names is not None and (bad := [m for m in self.names if "/" in m or m == "info"]):
            raise ValueError(f"stage names name metrics as '<stage>/<metric>': {bad[0]!r} cannot "
                             "be one (no '/', not 'info')")
        if self.names is not None and len(set(self.names)) != n:
            raise ValueError("names must differ: each stage's metrics are logged under its name")
        if self.mode == "schedule":
            if self.stage != 0:
                raise ValueError("schedule mode starts at stage 0; 'stage' is for frozen/adaptive")
            if self.at is None or len(self.at) != n - 1:
                raise ValueError(f"schedule mode needs 'at' with {n - 1} timesteps (one per advance)")
            if any(b <= a for a, b in zip(self.at, self.at[1:])) or self.at and self.at[0] <= 0:
                raise ValueError("'at' must be positive and strictly increasing")
        elif self.at is not None:
            raise ValueError(f"'at' is only used in schedule mode, not {self.mode}")
        if self.shares is not None:
            if self.mode != "mixed":
                raise ValueError(f"'shares' is only used in mixed mode, not {self.mode}")
            if len(self.shares) != n or any(not s > 0.0 for s in self.shares):
                raise ValueError(f"shares needs {n} positive numbers, one per stage")
        if self.mode == "mixed" and (self.stage != 0 or self.regress_below is not None):
            raise ValueError("mixed mode trains every stage at once: 'stage' and "
                             "'regress_below' do not apply")
        if self.regress_below is not None and self.regress_below >= self.threshold:
            raise ValueError("regress_below must be lower than threshold")
        return self

    def check_against(self, config: Any) -> tuple[tuple[Any, ...], str] | None:
        """Validate every stage's parameters against the env's parameter model."""
        problem = stage_params_problem(config, self.stages)
        if problem is not None:
            return ("stages", *problem[0]), problem[1]
        if self.mode == "mixed":
            copies = config.env.n_envs
            if copies < len(self.stages):
                return (("stages",), f"mixed mode puts every stage on its own env copies: "
                        f"{len(self.stages)} stages need env.n_envs >= {len(self.stages)}, "
                        f"got {copies}")
            if 0 in share_counts(copies, self.shares or [1.0] * len(self.stages)):
                return (("shares",), f"a share of {copies} env copies rounds to no copy at all; "
                        "raise env.n_envs or that share")
        return None

    def stage_name(self, index: int) -> str:
        """The display name of stage ``index``."""
        return self.names[index] if self.names else str(index)


class Curriculum(BaseCallback, Resumable, Phased):
    """Moves the training envs through the configured stages."""

    state_key = "curriculum"
    phase = CallbackPhase.PREPARE

    def __init__(self, params: CurriculumParams, ctx: RunContext[ExperimentConfig]) -> None:
        super().__init__()
        self.params, self.ctx = params, ctx
        self.stage = params.stage
        self.outcomes: deque[bool] = deque(maxlen=params.window)
        self.episodes_in_stage = 0
        self.transitions: list[dict[str, Any]] = []
        self.row_stage: np.ndarray | None = None  # mixed: the stage of every env row
        self.stage_outcomes = [deque[bool](maxlen=params.window) for _ in params.stages]
        if params.mode == "mixed":
            self.stage = len(params.stages) - 1
        ctx.set_stage_source(self.current)

    def current(self) -> StageInfo:
        """The current stage: ``(index, env parameters)`` (mixed: the last stage)."""
        return self.stage, dict(self.params.stages[self.stage])

    def state_dict(self) -> dict[str, Any]:
        return {"stage": self.stage, "outcomes": list(self.outcomes),
                "episodes_in_stage": self.episodes_in_stage}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.stage = int(state["stage"])
        self.outcomes.extend(bool(x) for x in state["outcomes"])
        self.episodes_in_stage = int(state["episodes_in_stage"])

    def _apply(self) -> None:
        if self.params.mode == "mixed":
            self.row_stage = spread_stages(self.training_env, self.params.stages, self.params.shares)
            return
        self.training_env.env_method("apply_params", **self.params.stages[self.stage])
        self.logger.record("curriculum/stage", self.stage)

    def _move(self, new_stage: int, reason: str) -> None:
        old, self.stage = self.stage, new_stage
        self.outcomes.clear()
        self.episodes_in_stage = 0
        self._apply()
        event = {"timesteps": int(self.num_timesteps), "from": old, "to": new_stage,
                 "name": self.params.stage_name(new_stage), "reason": reason}
        self.transitions.append(event)
        self.ctx.log.write("event", event="curriculum", **event)

    def _scheduled_stage(self) -> int:
        return sum(1 for t in self.params.at or [] if self.num_timesteps >= t)

    def _on_training_start(self) -> None:
        if self.params.mode == "schedule":
            self.stage = self._scheduled_stage()
        self._apply()
        # SB3 reset the envs before callbacks start: reset again so that the very first
        # episodes already run at the current stage.
        self.model._last_obs = self.training_env.reset()  # type: ignore[assignment]
        self.model._last_episode_starts = np.ones((self.training_env.num_envs,), dtype=bool)

    def _on_step(self) -> bool:
        mode = self.params.mode
        if mode == "schedule":
            target = self._scheduled_stage()
            if target != self.stage:
                self._move(target, f"timesteps >= {(self.params.at or [])[target - 1]}")
        elif mode == "adaptive":
            success_key = self.ctx.config.env.success_key
            for info in self.locals.get("infos", []):
                if "episode" in info:
                    self.outcomes.append(bool(info.get(success_key, False)))
                    self.episodes_in_stage += 1
            self._adapt()
        elif mode == "mixed":
            self._record_by_stage()
        return True

    def _record_by_stage(self) -> None:
        """Mixed mode: each ended episode's outcome, kept with the stage of its row."""
        assert self.row_stage is not None
        success_key = self.ctx.config.env.success_key
        for row, info in enumerate(self.locals.get("infos", [])):
            if "episode" in info:
                self.stage_outcomes[self.row_stage[row]].append(bool(info.get(success_key, False)))

    def _on_rollout_end(self) -> None:
        """Mixed mode: the rolling training success of each stage, into the logger once per
        rollout (this phase runs before the progress record reads it)."""
        for k, outcomes in enumerate(self.stage_outcomes):
            if outcomes:
                self.logger.record(STAGE_SUCCESS + self.params.stage_name(k),
                                   sum(outcomes) / len(outcomes))

    def _adapt(self) -> None:
        p = self.params
        need = p.min_episodes or p.window
        if self.episodes_in_stage < need or len(self.outcomes) < min(p.window, need):
            return
        rate = sum(self.outcomes) / len(self.outcomes)
        if rate >= p.threshold and self.stage < len(p.stages) - 1:
            self._move(self.stage + 1, f"rolling success {rate:.3f} >= {p.threshold}")
        elif p.regress_below is not None and rate < p.regress_below and self.stage > 0:
            self._move(self.stage - 1, f"rolling success {rate:.3f} < {p.regress_below}")
