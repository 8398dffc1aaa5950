"""The typed protocols that components of a run talk through, and the data they exchange.

* :class:`Resumable`: a component whose state is saved with every checkpoint and restored on
  resume (keyed by its ``state_key``).
* :class:`EvaluationListener`: acts on each evaluation result; returning False stops training.
* :class:`Stopper`: a component that can end training early; it carries its own stop reason.
* :class:`EvaluationSource`: runs evaluations and hands each result to its listeners.
* :class:`PreparesModel`: adjusts the model once before training starts (after a resume too).
* :class:`Phased` and :class:`CallbackPhase`: where a callback runs among a run's callbacks.
* :class:`EvalResult`: the metrics of one evaluation; :class:`MetricError` when a metric is
  missing.
* :class:`TrainingDiverged`: an update produced non-finite parameters or losses.
* :class:`RunStatus`: how a run ended (or that it is still running).
* :class:`CriticStateSource` and :class:`PrivilegedObservationSource`: VecEnvs that publish
  state the acting policy never sees, for a critic or a teacher.
* :class:`LiveRowsSource`: a VecEnv of multi-agent rows that says which rows carried a live agent.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from stable_baselines3.common.base_class import BaseAlgorithm


class Resumable(ABC):
    """A component whose state must survive a resume."""

    state_key: ClassVar[str]
    """Key of this component's state in a checkpoint's ``meta.json``; unique within a run."""

    @abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """JSON-serialisable state."""

    @abstractmethod
    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""


class MetricError(Exception):
    """An evaluation metric was asked for that the evaluation does not produce."""


@dataclass
class EvalResult:
    """Metrics of one evaluation."""

    timesteps: int
    metrics: dict[str, float]
    info: dict[str, dict[str, float]]
    stage: int | None
    by_stage: dict[str, dict[str, float]] = field(default_factory=dict)
    """Per-stage metrics and final-info means of an evaluation at several stages (by stage name);
    ``metrics`` and ``info`` then pool the episodes of all of them and ``stage`` is None."""

    def get(self, metric: str) -> float:
        """A metric by name: a top-level metric, ``info_key`` (its mean), or ``stage/metric``
        (one stage's metric or info mean of an evaluation at several stages)."""
        if metric in self.metrics:
            return self.metrics[metric]
        if metric in self.info and "mean" in self.info[metric]:
            return self.info[metric]["mean"]
        name, _, key = metric.rpartition("/")
        if key in self.by_stage.get(name, {}):
            return self.by_stage[name][key]
        hint = (" (the env reports no success flag in its final info: set the env's "
                "success_key, or use metric: mean_reward)") if metric.startswith("success") else ""
        per_stage = [f"{n}/{k}" for n, values in self.by_stage.items() for k in values]
        raise MetricError(f"evaluation has no metric '{metric}'{hint}; available: "
                          f"{', '.join(sorted(list(self.metrics) + list(self.info) + per_stage))}")


class EvaluationListener(ABC):
    """Something that acts on evaluation results."""

    @abstractmethod
    def on_evaluation(self, result: EvalResult, model: BaseAlgorithm) -> bool:
        """React to ``result``; return False to stop training."""


class EvaluationSource(ABC):
    """A component that runs evaluations and hands each result to its listeners, in the order
    they were added; training stops when one of them returns False."""

    history: list[EvalResult]
    """Every result so far, oldest first."""

    @abstractmethod
    def add_listener(self, listener: EvaluationListener) -> None:
        """Hand every later result to ``listener`` too."""


class Stopper:
    """Mixin for a component that may end training early; it says why in :attr:`stop_reason`."""

    stop_reason: str | None = None
    """Set (to a one-line reason) when this component stopped the run."""


class PreparesModel(ABC):
    """A component that adjusts the model once before training starts, after its own state was
    restored (so a resumed run gets the same adjustment, e.g. a learning-rate scale)."""

    @abstractmethod
    def prepare_model(self, model: BaseAlgorithm) -> None:
        """Adjust ``model`` before ``learn`` runs."""


class CallbackPhase(enum.IntEnum):
    """Where a callback runs among a run's callbacks: SB3 calls them (every ``on_step``,
    ``on_rollout_end``, ...) in this order, and in the config's order within one phase."""

    PREPARE = 10
    """Changes the envs or the update before anything records: curriculum, schedules, the
    fine-tuning regulariser."""
    MEASURE = 20
    """Records measurements of the model into its logger for the progress record (attention)."""
    RECORD = 30
    """The progress log (one record per rollout)."""
    EVALUATE = 40
    """The evaluation callback; its listeners (best model, stopping rules, tuners, the display)
    run inside it, in the config's order, then the run's own."""
    DEFAULT = 50
    """A callback that names no phase (a user's own ``BaseCallback``)."""
    SAVE = 60
    """Periodic checkpoints: after evaluation, so a checkpoint holds its updated state."""
    OBSERVE = 70
    """Observers of the run (the progress bar's step hook)."""
    CONTROL = 80
    """The run folder's control channel (save / stop requests)."""
    INTERRUPT = 90
    """The Ctrl+C / SIGTERM check: always last."""


class Phased:
    """Mixin for a callback that says where it runs (:class:`CallbackPhase`); a callback
    without it runs in :attr:`CallbackPhase.DEFAULT`."""

    phase: ClassVar[CallbackPhase] = CallbackPhase.DEFAULT


def phase_of(callback: object) -> CallbackPhase:
    """The phase ``callback`` runs in."""
    return callback.phase if isinstance(callback, Phased) else CallbackPhase.DEFAULT


class TrainingDiverged(Exception):
    """An update produced non-finite parameters or losses; the run ends as failed."""


class RunStatus(str, enum.Enum):
    """The status of a run, as written to ``summary.json`` and the end event of the log."""

    RUNNING = "running"
    COMPLETED = "completed"
    STOPPED = "stopped"
    INTERRUPTED = "interrupted"
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value


class CriticStateSource(ABC):
    """A VecEnv that publishes, per row, a global state only a critic reads (centralised or
    privileged critics); ``critic_observation_space`` is None when it has none."""

    critic_observation_space: Any

    @abstractmethod
    def critic_observations(self) -> Any:
        """Critic rows ``(num_envs, *critic_observation_space.shape)`` of the current observations."""


class PrivilegedObservationSource(ABC):
    """A VecEnv that can show a teacher, for every row, the observation a privileged sensor would
    produce at the current step (e.g. the true state where the agent sees a radar track), and
    carry the teacher's actions on it over into the frame of the row's own observation.

    Only a teacher reads it (``pretrain.teacher.observes: truth``); the agent's observations,
    spaces and trajectories are the same whether or not it is read.
    """

    privileged_observation_space: Any
    privileged_env_overrides: dict[str, Any]
    """The env parameters whose own observation the privileged one is (e.g. ``{"sensor":
    {"mode": "truth"}}``): a teacher's needs are checked against the env with them applied."""

    @abstractmethod
    def privileged_observations(self) -> Any:
        """Privileged observations ``(num_envs, *privileged_observation_space.shape)`` of the
        rows' current states."""

    @abstractmethod
    def privileged_to_own_actions(self, actions: Any) -> Any:
        """``actions`` chosen on the last :meth:`privileged_observations` (no step since) as the
        actions that command the same thing from each row's own observation."""


class LiveRowsSource(ABC):
    """A VecEnv of multi-agent rows that says which rows carried a live agent in its last step.

    After each ``step``: ``live_before[i]``, row ``i`` had a live agent when the step began (its
    action moved an agent; a row without one is an empty slot or an agent already gone);
    ``live_after[i]``, the agent is still live at the end of the step (read before a finished
    episode is reset). Both are ``(num_envs,)`` bool arrays; a replay buffer of agent rows stores
    the rows that were live before the step and ends those no longer live after it.
    """

    live_before: Any
    live_after: Any


class ChecksChain:
    """A wrapper parameter model that checks its place in the config's wrapper chain."""

    def check_in_chain(self, config: Any, index: int) -> tuple[tuple[Any, ...], str] | None:
        """``(sub-path, message)`` when wrapper ``index`` of ``config`` is misplaced, else None."""
        raise NotImplementedError  # pragma: no cover  (every subclass defines it)


class ChecksConfig:
    """A component parameter model that checks itself against the rest of the config."""

    def check_against(self, config: Any) -> tuple[tuple[Any, ...], str] | None:
        """``(sub-path, message)`` when these parameters do not fit ``config``, else None."""
        raise NotImplementedError  # pragma: no cover  (every subclass defines it)


class ChecksSpaces:
    """An env-level wrapper parameter model that checks itself against the spaces it wraps.

    The config's checks build one probe env and call this before wrapping it, so a parameter
    that does not fit the env (an index past the end of the observation) fails at load time.
    """

    def check_spaces(self, observation_space: Any, action_space: Any) -> tuple[tuple[Any, ...], str] | None:
        """``(sub-path, message)`` when these parameters do not fit the spaces, else None."""
        raise NotImplementedError  # pragma: no cover  (every subclass defines it)
