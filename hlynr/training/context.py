"""What callbacks share during one run: the config, the run folder, the env builders, state."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecEnv

from hlynr.config.schema import ExperimentConfig
from hlynr.training.artifacts import is_complete, save_model_dir, write_json
from hlynr.training.progress_log import ProgressLog

CHECKPOINT_PREFIX = "step_"
STATE_FILE = "state.json"


class Stateful(Protocol):
    """A callback whose state must survive a resume."""

    state_key: str

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


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
    stateful: list[Stateful] = field(default_factory=list)
    current_stage: Callable[[], tuple[int, dict[str, Any]] | None] = lambda: None
    """The curriculum's current stage (index, params), if a curriculum is configured."""

    @property
    def stages(self) -> list[dict[str, Any]]:
        """The curriculum's stages (env parameters), empty without a curriculum."""
        curriculum = self.config.callback("curriculum")
        return [dict(s) for s in curriculum.stages] if curriculum is not None else []

    @property
    def final_stage_index(self) -> int | None:
        """Index of the hardest (last) curriculum stage, None without a curriculum."""
        return len(self.stages) - 1 if self.stages else None

    @property
    def final_stage(self) -> dict[str, Any] | None:
        """Env parameters of the hardest curriculum stage (the evaluation default)."""
        return self.stages[-1] if self.stages else None

    def stage_params(self, index: int) -> dict[str, Any]:
        """Env parameters of curriculum stage ``index``."""
        if not self.stages or not 0 <= index < len(self.stages):
            raise ValueError(f"no curriculum stage {index} (stages: {len(self.stages)})")
        return self.stages[index]

    @property
    def checkpoints_dir(self) -> Path:
        return self.run_dir / "checkpoints"

    def register_state(self, obj: Stateful) -> None:
        """Save ``obj``'s state with every checkpoint and restore it on resume."""
        self.stateful.append(obj)
        if obj.state_key in self.resume_state:
            obj.load_state_dict(self.resume_state[obj.state_key])

    def collect_state(self) -> dict[str, Any]:
        """The states of all registered callbacks, keyed by their ``state_key``."""
        return {obj.state_key: obj.state_dict() for obj in self.stateful}

    def save_checkpoint(self, model: BaseAlgorithm, reason: str, wall_time: float) -> Path:
        """Save model, normalisation stats, replay buffer and callback states atomically."""
        folder = self.checkpoints_dir / f"{CHECKPOINT_PREFIX}{model.num_timesteps:012d}"
        meta = {"timesteps": int(model.num_timesteps), "reason": reason,
                "wall_time": wall_time, "state": self.collect_state()}
        save_model_dir(folder, model, meta, replay_buffer=hasattr(model, "replay_buffer"))
        return folder

    def prune_checkpoints(self, keep_last: int) -> None:
        """Delete all but the newest ``keep_last`` complete checkpoints."""
        done = list_checkpoints(self.run_dir)
        for old in done[:-keep_last] if keep_last > 0 else done:
            shutil.rmtree(old, ignore_errors=True)

    def write_summary(self, summary: dict[str, Any]) -> None:
        """Write ``summary.json`` (status, timesteps, best metrics) into the run folder."""
        write_json(self.run_dir / "summary.json", summary)


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Complete checkpoints of a run, oldest first."""
    folder = run_dir / "checkpoints"
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir()
             if p.is_dir() and p.name.startswith(CHECKPOINT_PREFIX) and is_complete(p)]
    return sorted(found, key=lambda p: p.name)  # names hold zero-padded timesteps
