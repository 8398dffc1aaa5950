"""A group's (or grid's) seeds shared by workers on several machines through an Optuna study.

The study is the queue, and Optuna's storage (PostgreSQL across machines; a SQLite or journal
file on one machine) keeps it: every (cell, seed) is enqueued once as a fixed trial
(``study.enqueue_trial`` with the cell index and seed as parameters, the unit as a user
attribute), and each worker takes trials with ``study.ask()`` (inside ``study.optimize``, which
also records the trial's heartbeat), trains that seed into the shared group folder as a child
process (:class:`~hlynr.training.launcher.Launcher`) and tells the result. A trial whose worker
stops beating (a killed worker, a lost machine) is failed by the next worker that looks and
queued again (Optuna's ``RetryHeartbeatStaleTrialCallback``); the worker that takes it resumes
the seed from its newest checkpoint. A worker stopped with Ctrl+C stops its seeds with a
checkpoint and queues them again. Workers leave when nothing is queued or running.

The trial's value is the seed's training wall time; its user attributes hold the run's status,
reason, folder and the worker that trained it.
"""

from __future__ import annotations

import os
import socket
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, Trial, TrialState

from hlynr.runs.group import SeedState, seed_status
from hlynr.training.errors import RunError
from hlynr.training.groups import Plan, read_plan, unit_for
from hlynr.training.launcher import NOT_STARTED, Launcher, UnitResult, finished_result
from hlynr.tuning.storage import StorageSpec, open_problem

GROUP_ATTR = "hlynr_group"
UNIT_ATTR = "hlynr_unit"
IDLE_POLL_S = 2.0  # an idle worker looks for queued or stale trials this often, at most


def idle_poll(heartbeat: int) -> float:
    """Seconds between an idle worker's looks at the study: half a heartbeat interval (a dead
    worker's trial turns stale after two), between :data:`IDLE_POLL_S` and 30 s."""
    return min(max(IDLE_POLL_S, heartbeat / 2), 30.0)


class UnitFailed(Exception):
    """The seed's run failed: its trial fails, and it is not queued again."""


class UnitInterrupted(Exception):
    """The seed's run was stopped by a signal: its trial fails, and the seed is queued again."""


def _open(storage: StorageSpec, heartbeat: int) -> optuna.storages.BaseStorage:
    try:
        return storage.open(heartbeat_interval=heartbeat, retry_stale=True)
    except Exception as exc:
        problem = open_problem(exc)
        if problem is None:
            raise
        raise RunError(f"storage {storage.display}: {problem}") from None


def _quiet() -> None:
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # hlynr reports each seed itself


def create_group_study(storage: StorageSpec, name: str, plan: Plan, heartbeat: int) -> optuna.Study:
    """A new study ``name`` holding every unit of ``plan`` as a waiting trial; :class:`RunError`
    if the storage cannot be opened or already holds a study of that name."""
    _quiet()
    opened = _open(storage, heartbeat)
    try:
        study = optuna.create_study(storage=opened, study_name=name, direction="minimize",
                                    sampler=optuna.samplers.RandomSampler())
    except optuna.exceptions.DuplicatedStudyError:
        raise RunError(f"study '{name}' already exists in {storage.display}: join it with "
                       f"hlynr worker --storage URL --study {name}, or name a new one "
                       "(--study)") from None
    study.set_user_attr(GROUP_ATTR, {"path": str(plan.path.resolve()), "kind": plan.kind,
                                     "runs": len(plan.units)})
    for unit in plan.units:
        study.enqueue_trial({"cell": unit.cell or 0, "seed": unit.seed},
                            user_attrs={UNIT_ATTR: {"cell": unit.cell, "seed": unit.seed}})
    return study


def check_new_study(storage: StorageSpec, name: str, heartbeat: int) -> None:
    """:class:`RunError` unless ``storage`` opens and holds no study ``name`` (checked before a
    group folder is written for it)."""
    _quiet()
    opened = _open(storage, heartbeat)
    if name in {s.study_name for s in opened.get_all_studies()}:
        raise RunError(f"study '{name}' already exists in {storage.display}: join it with "
                       f"hlynr worker --storage URL --study {name}, or name a new one (--study)")


def join_group_study(storage: StorageSpec, name: str, heartbeat: int) -> tuple[optuna.Study, Plan]:
    """The group study ``name`` and the group it trains; :class:`RunError` if there is no such
    study, it is not a group's, or its group folder is not on this machine."""
    _quiet()
    opened = _open(storage, heartbeat)
    try:
        study = optuna.load_study(study_name=name, storage=opened,
                                  sampler=optuna.samplers.RandomSampler())
    except KeyError:
        raise RunError(f"no study '{name}' in {storage.display}: start the group with "
                       "train.py --config FILE --seeds ... --storage URL --study NAME") from None
    group = study.user_attrs.get(GROUP_ATTR)
    if not isinstance(group, dict) or "path" not in group:
        raise RunError(f"study '{name}' in {storage.display} is not a run group's "
                       "(a tuning study? use hlynr tune)")
    path = Path(group["path"])
    if not path.is_dir():
        raise RunError(f"the group folder {path} of study '{name}' is not on this machine: "
                       "mount the shared filesystem at the same path")
    return study, read_plan(path)


@dataclass
class StudyWorker:
    """Takes the study's queued units one at a time per launcher slot, until none is left."""

    study: optuna.Study
    plan: Plan
    launcher: Launcher
    idle_poll_s: float = IDLE_POLL_S
    results: list[UnitResult] = field(default_factory=list)
    _claim: threading.Lock = field(default_factory=threading.Lock)

    def run(self) -> list[UnitResult]:
        """Work until the queue is empty and no unit is running anywhere (or a signal)."""
        self.launcher.serve(self.work)
        return self.results

    def work(self) -> bool:
        """One step of a slot: take and train one queued unit, or wait for one to come back;
        False when there is nothing left to wait for."""
        if self.launcher.stopping:
            return False
        handed = threading.Event()  # the objective took the claim over (and released it)
        self._claim.acquire()  # this process asks for one trial at a time
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                optuna.storages.fail_stale_trials(self.study)  # queues a dead worker's units again
            if self._queued():
                self.study.optimize(lambda trial: self._objective(trial, handed), n_trials=1,
                                    catch=(UnitFailed, UnitInterrupted))
                return True
            if not self._running():
                return False
        finally:
            if not handed.is_set():
                self._claim.release()
        self.launcher.wait(self.idle_poll_s)  # another worker's unit may yet come back
        return True

    def _queued(self) -> bool:
        return any(UNIT_ATTR in t.user_attrs
                   for t in self.study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))

    def _running(self) -> bool:
        return any(UNIT_ATTR in t.user_attrs
                   for t in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))

    def _objective(self, trial: Trial, handed: threading.Event) -> float:
        handed.set()
        self._claim.release()
        attr = trial.user_attrs.get(UNIT_ATTR)
        if not isinstance(attr, dict):  # another process took the last queued trial first
            raise optuna.TrialPruned("nothing was queued when this trial was asked for")
        cell, seed = attr["cell"], int(attr["seed"])
        trial.suggest_int("cell", 0, max(len(self.plan.groups) - 1, 0))
        trial.suggest_int("seed", min(self.plan.groups[0].seeds), max(self.plan.groups[0].seeds))
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        result = self._train(cell, seed)
        self.results.append(result)
        trial.set_user_attr("status", result.status)
        trial.set_user_attr("reason", result.reason)
        trial.set_user_attr("run_dir", str(result.unit.run_dir))
        if result.status in ("interrupted", NOT_STARTED):
            self.study.enqueue_trial(dict(trial.params), user_attrs={UNIT_ATTR: attr})
            raise UnitInterrupted(result.reason)
        if not result.ok:
            raise UnitFailed(result.reason)
        return result.wall_time

    def _train(self, cell: int | None, seed: int) -> UnitResult:
        """Train ``seed`` of ``cell`` (start, resume or start again, as its run folder calls for),
        or report it as it is when its run already ended (a worker that died after the run but
        before telling the study)."""
        unit = unit_for(self.plan, cell, seed)
        while seed_status(unit.run_dir).state is SeedState.RUNNING and not self.launcher.stopping:
            self.launcher.wait(1.0)  # a process on this machine still trains it: let it end
        if seed_status(unit.run_dir).state in (SeedState.DONE, SeedState.FAILED):
            return self.launcher.report(finished_result(unit))
        return self.launcher.run_unit(unit_for(self.plan, cell, seed))


def unit_trials(study: optuna.Study) -> list[FrozenTrial]:
    """The study's trials that carry a unit (not the empty ones a race may leave)."""
    return [t for t in study.get_trials(deepcopy=False) if UNIT_ATTR in t.user_attrs]


def queue_counts(study: optuna.Study) -> dict[str, Any]:
    """How many of the study's units are done, failed for good, queued or running."""
    latest: dict[tuple[Any, int], FrozenTrial] = {}
    for t in unit_trials(study):
        key = (t.user_attrs[UNIT_ATTR]["cell"], int(t.user_attrs[UNIT_ATTR]["seed"]))
        if key not in latest or t.number > latest[key].number:
            latest[key] = t
    counts = {"completed": 0, "failed": 0, "waiting": 0, "running": 0}
    for t in latest.values():
        name = {TrialState.COMPLETE: "completed", TrialState.FAIL: "failed",
                TrialState.WAITING: "waiting", TrialState.RUNNING: "running"}.get(t.state)
        if name is not None:
            counts[name] += 1
    return counts
