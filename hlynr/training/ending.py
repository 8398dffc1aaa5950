"""How a run session ended: one pure function from what happened to status, reason, exit code.

============================  ===========  =====  ==========================================
what happened                 status       exit   saved at the end
============================  ===========  =====  ==========================================
reached ``total_timesteps``   completed    0      checkpoint, ``final/``
a stopper / callback stopped  stopped      0      checkpoint, ``final/``
a control-channel ``stop``    stopped      0      checkpoint, ``final/``
Ctrl+C or SIGTERM             interrupted  130    checkpoint
a second Ctrl+C               interrupted  130    nothing (the error goes on)
non-finite parameters         failed       1      nothing
a missing metric (mid-run)    failed       1      nothing
a pretraining error           failed       1      nothing
any other exception (a bug)   failed       1      nothing (the error goes on: a traceback)
============================  ===========  =====  ==========================================

The first row that applies wins, errors first. Every ending writes the ``end`` event and
``summary.json`` (:class:`hlynr.runs.folder.RunFolder`).
"""

from __future__ import annotations

import signal
from dataclasses import dataclass

from hlynr.imitation.pretrain import PretrainError
from hlynr.registries import MetricError, RunStatus, TrainingDiverged
from hlynr.runs.folder import aborted_ending

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130  # the same code as a KeyboardInterrupt in hlynr.cli.common

EXPECTED_ERRORS: tuple[type[Exception], ...] = (MetricError, PretrainError, TrainingDiverged)
"""Errors that end a run as ``failed`` and are reported in one line; any other goes on."""


@dataclass(frozen=True)
class Outcome:
    """What happened in one session of a run: the inputs of :func:`decide_ending`."""

    timesteps: int
    total_timesteps: int
    signal: int | None = None
    """The signal that set the stop flag (Ctrl+C: SIGINT, or SIGTERM), None if none did."""
    stopped_before_training: bool = False
    """The stop flag was set before training began (during pretraining)."""
    control_stop: bool = False
    """A ``stop`` request came through the run folder's control channel."""
    diverged: str | None = None
    """What became non-finite, when the update diverged."""
    stop_reasons: tuple[str, ...] = ()
    """The reasons of the stoppers that stopped training (early stopping, collapse guard, ...)."""
    error: BaseException | None = None
    """The exception that ended the session, if one did."""


@dataclass(frozen=True)
class Ending:
    """How a session ended, and what the runner saves for it."""

    status: RunStatus
    reason: str
    exit_code: int
    checkpoint: bool = False
    """Save a resumable checkpoint of the model as it is."""
    final_model: bool = False
    """Save ``final/``."""
    reraise: bool = False
    """The error goes on after the ending is recorded (a bug shows its traceback)."""


def decide_ending(outcome: Outcome) -> Ending:
    """The ending of a session that ended with ``outcome`` (see the module's table)."""
    error = outcome.error
    if isinstance(error, MetricError):
        return Ending(RunStatus.FAILED, f"metric error: {error}", EXIT_FAILED)
    if isinstance(error, PretrainError):
        return Ending(RunStatus.FAILED, f"pretraining failed: {error}", EXIT_FAILED)
    if isinstance(error, TrainingDiverged):
        return Ending(RunStatus.FAILED, f"diverged: {error}", EXIT_FAILED)
    if error is not None:
        status, reason = aborted_ending(error)
        code = EXIT_INTERRUPTED if status is RunStatus.INTERRUPTED else EXIT_FAILED
        return Ending(status, reason, code, reraise=True)
    if outcome.diverged is not None:
        return Ending(RunStatus.FAILED, f"diverged: {outcome.diverged}", EXIT_FAILED)
    if outcome.signal is not None:
        reason = f"signal {signal.Signals(outcome.signal).name}"
        if outcome.stopped_before_training:
            reason += " during pretraining (its model so far is in pretrain/)"
        return Ending(RunStatus.INTERRUPTED, reason, EXIT_INTERRUPTED, checkpoint=True)
    if outcome.control_stop:
        return Ending(RunStatus.STOPPED, "stop requested through the run folder's control channel",
                      EXIT_OK, checkpoint=True, final_model=True)
    if outcome.timesteps < outcome.total_timesteps:
        reason = (outcome.stop_reasons[0] if outcome.stop_reasons else
                  f"stopped by a callback at {outcome.timesteps} of {outcome.total_timesteps} timesteps")
        return Ending(RunStatus.STOPPED, reason, EXIT_OK, checkpoint=True, final_model=True)
    return Ending(RunStatus.COMPLETED, f"reached {outcome.total_timesteps} timesteps", EXIT_OK,
                  checkpoint=True, final_model=True)
