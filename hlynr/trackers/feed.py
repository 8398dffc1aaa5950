"""The one listener that feeds a run's progress records to its trackers.

:func:`attach` subscribes a :class:`TrackerFeed` to the run's
:class:`~hlynr.runs.progress_log.ProgressLog`: the ``start`` or ``resume`` event starts every
tracker (a resume reopens the tracker runs whose ids ``trackers.json`` in the run folder holds),
``rollout`` and ``eval`` records are logged, and the ``end`` event (written whatever ends the
session, once its models are saved) finishes them. A tracker that raises is reported once and
left out for the rest of the session: a tracker never stops a run.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hlynr.config.schema import ExperimentConfig
from hlynr.config.tracking import MlflowSettings, TensorBoardSettings, TrackerSettings, WandbSettings
from hlynr.runs.artifacts import write_json
from hlynr.runs.progress_log import ProgressLog
from hlynr.trackers.base import Evaluations, Session, Tracker, flatten_config

STATE_FILE = "trackers.json"
"""In the run folder: what each tracker needs to continue its run (``{"mlflow": {"run_id": ...}}``)."""


def make_tracker(settings: TrackerSettings) -> Tracker:
    """The tracker for one validated ``tracking:`` entry."""
    if isinstance(settings, MlflowSettings):
        from hlynr.trackers.mlflow_run import MlflowTracker

        return MlflowTracker(settings)
    if isinstance(settings, WandbSettings):
        from hlynr.trackers.wandb_run import WandbTracker

        return WandbTracker(settings)
    if isinstance(settings, TensorBoardSettings):
        from hlynr.trackers.tensorboard import TensorBoardTracker

        return TensorBoardTracker(settings)
    raise TypeError(f"no tracker for {type(settings).__name__}")


def read_state(run_dir: Path) -> dict[str, Any]:
    """``trackers.json`` of a run folder (empty when absent or unreadable)."""
    import json

    try:
        data = json.loads((Path(run_dir) / STATE_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class TrackerFeed:
    """Feeds progress records to trackers; see the module docstring."""

    def __init__(self, config: ExperimentConfig, run_dir: Path, trackers: list[Tracker],
                 notice: Callable[[str], None] | None = None) -> None:
        self.config, self.run_dir = config, Path(run_dir)
        self.trackers = trackers
        self.notice = notice or _stderr
        self.session: Session | None = None

    def __call__(self, record: dict[str, Any]) -> None:
        kind = record.get("type")
        if kind == "event":
            event = record.get("event")
            if event in ("start", "resume") and self.session is None:
                self._start(resumed=event == "resume")
            elif event == "end" and self.session is not None:
                self._each("finish", lambda t, s: t.finish(record, s))
                self.session = None
            return
        if self.session is None or kind not in ("rollout", "eval"):
            return
        if kind == "eval":
            self.session.evaluations.add(record)
        self._each("log", lambda t, s: t.log(record, s))

    def _start(self, resumed: bool) -> None:
        stored = read_state(self.run_dir)
        evaluations = Evaluations.for_config(self.config)
        if resumed:
            evaluations.read(self.run_dir)
        self.session = session = Session(self.config, self.run_dir, resumed, {},
                                         flatten_config(self.config), evaluations)
        state = dict(stored)
        for tracker in list(self.trackers):
            session.state = dict(stored.get(tracker.key) or {})
            try:
                state[tracker.key] = tracker.start(session)
            except Exception as exc:  # a tracker never stops a run
                self._drop(tracker, "start", exc)
        session.state = {}
        try:
            write_json(self.run_dir / STATE_FILE, state)
        except OSError as exc:
            self.notice(f"warning: trackers: cannot write {self.run_dir / STATE_FILE}: {exc}; "
                        "--resume will start new tracker runs")

    def _each(self, what: str, call: Callable[[Tracker, Session], None]) -> None:
        session = self.session
        assert session is not None
        for tracker in list(self.trackers):
            try:
                call(tracker, session)
            except Exception as exc:  # a tracker never stops a run
                self._drop(tracker, what, exc)

    def _drop(self, tracker: Tracker, what: str, exc: Exception) -> None:
        self.trackers.remove(tracker)
        self.notice(f"warning: tracker '{tracker.key}' failed ({what}: {type(exc).__name__}: {exc}); "
                    "it is off for the rest of this session, training goes on")


def attach(config: ExperimentConfig, log: ProgressLog, run_dir: Path,
           notice: Callable[[str], None] | None = None) -> TrackerFeed | None:
    """Subscribe the trackers of ``config.tracking`` to ``log`` (None when it names none)."""
    if config.tracking is None or not config.tracking.named():
        return None
    trackers = [make_tracker(settings) for settings in config.tracking.named().values()]
    feed = TrackerFeed(config, run_dir, trackers, notice)
    log.listeners.append(feed)
    return feed
