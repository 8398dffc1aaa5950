"""What callbacks share during one run: the config, the run folder, the env builders, state."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.vec_env import VecEnv

from hlynr.config.schema import ExperimentConfig
from hlynr.registries import Resumable
from hlynr.runs.artifacts import save_model_dir, write_json
from hlynr.runs.checkpoints import checkpoint_dir, list_checkpoints
from hlynr.runs.progress_log import ProgressLog


@dataclass
class RunContext:
    """Shared by the callbacks of one run."""

    config: ExperimentConfig
    run_dir: Path
    log: ProgressLog
    make_eval_env: Callable[[dict[str, Any] | None, int], VecEnv]
    """``make_eval_env(stage_params, n_envs) -> VecEnv`` with frozen normalisation statistics."""
    wall_time: Callable[[], float]
    """Training wall-clock seconds so far (including time before a resume)."""
    resume_state: dict[str, Any] = field(default_factory=dict)
    resumed_at: int = 0
    """The timestep this run resumed from (0 for a new run)."""
    stateful: list[Resumable] = field(default_factory=list)
    current_stage: Callable[[], tuple[int, dict[str, Any]] | None] = lambda: None
    """The curriculum's current stage (index, params), if a curriculum is configured."""

    @property
    def checkpoints_dir(self) -> Path:
        return self.run_dir / "checkpoints"

    def register_state(self, obj: Resumable) -> None:
        """Save ``obj``'s state with every checkpoint and restore it on resume."""
        self.stateful.append(obj)
        if obj.state_key in self.resume_state:
            obj.load_state_dict(self.resume_state[obj.state_key])

    def collect_state(self) -> dict[str, Any]:
        """The states of all registered callbacks, keyed by their ``state_key``."""
        return {obj.state_key: obj.state_dict() for obj in self.stateful}

    def save_checkpoint(self, model: BaseAlgorithm, reason: str, wall_time: float) -> Path:
        """Save model, normalisation stats, replay buffer and callback states atomically."""
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

    def write_summary(self, summary: dict[str, Any]) -> None:
        """Write ``summary.json`` (status, timesteps, best metrics) into the run folder."""
        write_json(self.run_dir / "summary.json", summary)
