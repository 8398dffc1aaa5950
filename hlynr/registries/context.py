"""What a run offers its components: the :class:`RunContext` protocol.

Every callback builder (``CALLBACKS`` entries: ``build(params, ctx)``), the run folder's control
channel and the runner's own callbacks take the run's context through this protocol; the
training layer's ``TrainingContext`` implements it. The registries know nothing of the config's
type, so the protocol is generic in it: a component above the config layer writes
``RunContext[ExperimentConfig]`` and gets the config fully typed, a plug-in that does not care
writes ``RunContext[Any]``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from hlynr.registries.protocols import Resumable

if TYPE_CHECKING:
    from stable_baselines3.common.base_class import BaseAlgorithm
    from stable_baselines3.common.vec_env import VecEnv

ConfigT_co = TypeVar("ConfigT_co", covariant=True)

StageInfo = tuple[int, dict[str, Any]]
"""A curriculum stage: ``(index, env parameters)``."""


class EventLog(Protocol):
    """Where a run's records go (``progress.jsonl``)."""

    def write(self, kind: str, **fields: Any) -> None:
        """Append one record of type ``kind`` (``rollout``, ``eval``, ``event``, ``pretrain``)."""


class RunContext(Protocol[ConfigT_co]):
    """Shared by the components of one run."""

    @property
    def config(self) -> ConfigT_co:
        """The run's validated config."""

    @property
    def run_dir(self) -> Path:
        """The run folder."""

    @property
    def log(self) -> EventLog:
        """The run's progress log."""

    @property
    def resume_state(self) -> Mapping[str, Any]:
        """Component states of the checkpoint this run resumed from (empty for a new run)."""

    @property
    def resumed_at(self) -> int:
        """The timestep this run resumed from (0 for a new run)."""

    def wall_time(self) -> float:
        """Training wall-clock seconds so far, including time before a resume."""

    def make_eval_env(self, stage_params: Mapping[str, Any] | None, n_envs: int) -> VecEnv:
        """An evaluation env (frozen normalisation statistics) at ``stage_params``."""

    def current_stage(self) -> StageInfo | None:
        """The curriculum's current stage, None without a curriculum."""

    def set_stage_source(self, source: Callable[[], StageInfo | None]) -> None:
        """Make ``source`` the answer of :meth:`current_stage` (the curriculum calls this)."""

    def register_state(self, obj: Resumable) -> None:
        """Save ``obj``'s state with every checkpoint, and restore it now when resuming."""

    def save_checkpoint(self, model: BaseAlgorithm, reason: str, wall_time: float) -> Path:
        """Save a resumable checkpoint of ``model`` and every registered state; its folder."""

    def prune_checkpoints(self, keep_last: int) -> None:
        """Delete all but the newest ``keep_last`` complete checkpoints."""
