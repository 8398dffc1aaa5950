"""The run's context: what its components share (config, run folder, env builder, state).

:class:`TrainingContext` implements the :class:`hlynr.registries.RunContext` protocol that every
callback builder, the control channel and the runner's own callbacks are typed with.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.vec_env import VecEnv

from hlynr.config.schema import ExperimentConfig
from hlynr.envs.factory import build_vec_env
from hlynr.registries import Resumable, StageInfo
from hlynr.runs.artifacts import save_model_dir
from hlynr.runs.checkpoints import checkpoint_dir, list_checkpoints
from hlynr.runs.progress_log import ProgressLog


@dataclass
class TrainingContext:
    """Shared by the components of one run session (a new run, or one resume of it)."""

    config: ExperimentConfig
    run_dir: Path
    log: ProgressLog
    clock: Callable[[], float]
    """Training wall-clock seconds so far (including time before a resume)."""
    resume_state: dict[str, Any] = field(default_factory=dict)
    resumed_at: int = 0
    """The timestep this session resumed from (0 for a new run)."""
    stateful: list[Resumable] = field(default_factory=list)
    stage_source: Callable[[], StageInfo | None] | None = None
    """Where :meth:`current_stage` comes from (the curriculum, when one is configured)."""

    @property
    def checkpoints_dir(self) -> Path:
        return self.run_dir / "checkpoints"

    def wall_time(self) -> float:
        """Training wall-clock seconds so far (including time before a resume)."""
        return self.clock()

    def make_eval_env(self, stage_params: Mapping[str, Any] | None, n_envs: int) -> VecEnv:
        """An evaluation env of the config (frozen normalisation statistics) at ``stage_params``."""
        return build_vec_env(self.config, training=False, n_envs=n_envs,
                             stage_params=dict(stage_params) if stage_params is not None else None)

    def current_stage(self) -> StageInfo | None:
        """The curriculum's current stage ``(index, params)``, None without a curriculum."""
        return self.stage_source() if self.stage_source is not None else None

    def set_stage_source(self, source: Callable[[], StageInfo | None]) -> None:
        """Make ``source`` the answer of :meth:`current_stage`."""
        self.stage_source = source

    def register_state(self, obj: Resumable) -> None:
        """Save ``obj``'s state with every checkpoint and restore it on resume."""
        self.stateful.append(obj)
        if obj.state_key in self.resume_state:
            obj.load_state_dict(self.resume_state[obj.state_key])

    def collect_state(self) -> dict[str, Any]:
        """The states of all registered components, keyed by their ``state_key``."""
        return {obj.state_key: obj.state_dict() for obj in self.stateful}

    def save_checkpoint(self, model: BaseAlgorithm, reason: str, wall_time: float) -> Path:
        """Save model, normalisation stats, replay buffer and component states atomically."""
        folder = checkpoint_dir(self.run_dir, int(model.num_timesteps))
        meta = {"timesteps": int(model.num_timesteps), "reason": reason,
                "wall_time": wall_time, "state": self.collect_state()}
        save_model_dir(folder, model, meta, replay_buffer=isinstance(model, OffPolicyAlgorithm))
        return folder

    def prune_checkpoints(self, keep_last: int) -> None:
        """Delete all but the newest ``keep_last`` complete checkpoints."""
        done = list_checkpoints(self.run_dir)
        for old in done[:-keep_last] if keep_last > 0 else done:
            shutil.rmtree(old, ignore_errors=True)
