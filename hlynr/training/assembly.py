"""A run's callbacks, put together by what they are, never by name or list position.

The components of a run are the callbacks its config lists (built from ``CALLBACKS``), the
ones the config implies elsewhere (the fine-tuning regulariser of ``pretrain:``, the attention
sharpness log) and the progress log. :func:`assemble` then, by protocol:

1. registers every :class:`~hlynr.registries.Resumable` component's state with the context
   (restored now when resuming, saved with every checkpoint);
2. hands every :class:`~hlynr.registries.EvaluationListener` of the config, in the config's
   order, then the run's own (:attr:`RunHooks.listeners`: a tuner's pruner, the display), to
   the :class:`~hlynr.registries.EvaluationSource` (the ``evaluation`` callback);
3. lets every :class:`~hlynr.registries.PreparesModel` component adjust the model;
4. orders the ``BaseCallback`` components, plus the run's step hook, the control channel and
   the interrupt check, by :class:`~hlynr.registries.CallbackPhase`: PREPARE (curriculum,
   entropy schedule, regulariser), MEASURE (attention), RECORD (progress), EVALUATE
   (evaluation and, inside it, its listeners), DEFAULT (a user's own callbacks), SAVE
   (checkpoints), OBSERVE (step hook), CONTROL (control channel), INTERRUPT (Ctrl+C check);
   the config's order within one phase.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback

from hlynr.callbacks.progress import InterruptCallback
from hlynr.registries import (
    CallbackPhase,
    EvalResult,
    EvaluationListener,
    EvaluationSource,
    Phased,
    PreparesModel,
    Resumable,
    RunContext,
    Stopper,
    phase_of,
)
from hlynr.runs.control import ControlCallback


@dataclass
class RunHooks:
    """Optional observers of a run (progress bars, tuners)."""

    on_step: Callable[[int], None] | None = None
    on_rollout: Callable[[dict[str, Any]], None] | None = None
    on_notice: Callable[[str], None] | None = None
    """One-line notices for the user (e.g. a damaged checkpoint passed over on resume)."""
    listeners: list[EvaluationListener] = field(default_factory=list)
    """Extra evaluation listeners (e.g. an Optuna pruner); returning False stops training."""


class StepHook(BaseCallback, Phased):
    """Calls ``fn(num_timesteps)`` after every step (:attr:`RunHooks.on_step`)."""

    phase = CallbackPhase.OBSERVE

    def __init__(self, fn: Callable[[int], None]) -> None:
        super().__init__()
        self.fn = fn

    def _on_step(self) -> bool:
        self.fn(self.num_timesteps)
        return True


@dataclass
class Assembly:
    """The assembled callbacks of a run and the components the runner asks at the end."""

    callbacks: list[BaseCallback]
    """For ``model.learn``, in phase order."""
    control: ControlCallback
    evaluation: EvaluationSource | None
    stoppers: list[Stopper]

    def stop_reasons(self) -> tuple[str, ...]:
        """The reasons of the stoppers that stopped training, in assembly order."""
        return tuple(s.stop_reason for s in self.stoppers if s.stop_reason)

    @property
    def history(self) -> list[EvalResult]:
        """Every evaluation result of this session."""
        return self.evaluation.history if self.evaluation is not None else []


def assemble(ctx: RunContext[Any], model: BaseAlgorithm, components: Sequence[object],
             hooks: RunHooks, should_stop: Callable[[], bool]) -> Assembly:
    """Put ``components`` (progress log, implied callbacks, configured callbacks, in that
    order) together with the run's hooks, control channel and interrupt check."""
    for obj in components:
        if isinstance(obj, Resumable):
            ctx.register_state(obj)
    sources = [obj for obj in components if isinstance(obj, EvaluationSource)]
    listeners = [obj for obj in components if isinstance(obj, EvaluationListener)]
    for source in sources:
        for listener in [*listeners, *hooks.listeners]:
            source.add_listener(listener)
    for obj in components:
        if isinstance(obj, PreparesModel):
            obj.prepare_model(model)
    control = ControlCallback(ctx)
    callbacks = [obj for obj in components if isinstance(obj, BaseCallback)]
    if hooks.on_step is not None:
        callbacks.append(StepHook(hooks.on_step))
    callbacks += [control, InterruptCallback(should_stop)]
    callbacks.sort(key=phase_of)  # stable: the order above within one phase
    stoppers = [obj for obj in [*components, *hooks.listeners] if isinstance(obj, Stopper)]
    return Assembly(callbacks, control, sources[0] if sources else None, stoppers)
