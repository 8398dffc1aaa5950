"""What every tracker shares: the :class:`Tracker` protocol, the session it is started with, the
flattened config, the metrics of a progress record, and the best and final evaluations."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from hlynr.config.schema import ExperimentConfig, dump_config
from hlynr.config.tracking import TrackerSettings
from hlynr.runs.folder import PROGRESS_FILE
from hlynr.runs.progress_log import read_progress

_NOT_PARAMS = ("tracking", "tune")
"""Config sections left out of the parameters: the trackers themselves and a search space."""
_NOT_METRICS = ("timesteps", "total_timesteps", "ep_rewards", "type")


def flatten_config(config: ExperimentConfig) -> dict[str, Any]:
    """The resolved config as one level of dotted keys (``algo.hyperparams.learning_rate``,
    ``callbacks.0.evaluation.every``); values are JSON scalars, empty containers as their JSON
    text. The ``tracking`` and ``tune`` sections are left out."""
    data = {k: v for k, v in dump_config(config).items() if k not in _NOT_PARAMS}
    out: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict) and value:
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        elif isinstance(value, list) and value:
            for i, v in enumerate(value):
                walk(f"{prefix}.{i}", v)
        elif isinstance(value, (dict, list)):
            out[prefix] = json.dumps(value)
        else:
            out[prefix] = value

    walk("", data)
    return out


def as_text(value: Any) -> str:
    """A parameter value as text: strings as they are, anything else as JSON (``null``, ``true``)."""
    return value if isinstance(value, str) else json.dumps(value)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    return None


def record_metrics(record: dict[str, Any]) -> dict[str, float]:
    """The numeric values of a ``rollout`` or ``eval`` progress record, by tracker key:
    ``rollout/<key>`` and ``train/<loss>`` for rollouts, ``eval/<metric>`` and
    ``eval/info/<key>`` for evaluations. Non-numeric values are left out."""
    kind = record.get("type")
    out: dict[str, float] = {}
    if kind == "rollout":
        for key, value in record.items():
            if key in _NOT_METRICS:
                continue
            if key == "losses" and isinstance(value, dict):
                out.update({f"train/{k}": x for k, v in value.items() if (x := _number(v)) is not None})
            elif (x := _number(value)) is not None:
                out[f"rollout/{key}"] = x
    elif kind == "eval":
        for key, value in record.items():
            if key == "eval_info" and isinstance(value, dict):
                out.update({f"eval/info/{k}": x for k, v in value.items() if (x := _number(v)) is not None})
            elif key == "eval_stages" and isinstance(value, dict):
                out.update({f"eval/{name}/{k}": x for name, values in value.items()
                            for k, v in values.items() if (x := _number(v)) is not None})
            elif key.startswith("eval_") and (x := _number(value)) is not None:
                out[f"eval/{key[5:]}"] = x
            elif key in ("wall_time", "stage") and (x := _number(value)) is not None:
                out[f"eval/{key}"] = x
    return out


def _evaluation(record: dict[str, Any]) -> dict[str, float]:
    """The numbers of an ``eval`` record by the names ``best_model`` selects on: its metrics
    without the ``eval_`` prefix, final-info means by key (where no metric has the name) and
    ``<stage>/<metric>`` of an evaluation at several stages."""
    out = {key[5:]: x for key, value in record.items()
           if key.startswith("eval_") and key not in ("eval_info", "eval_stages", "eval_seconds")
           and (x := _number(value)) is not None}
    for key, value in (record.get("eval_info") or {}).items():
        if key not in out and (x := _number(value)) is not None:
            out[key] = x
    for name, values in (record.get("eval_stages") or {}).items():
        out.update({f"{name}/{k}": x for k, v in values.items() if (x := _number(v)) is not None})
    return out


@dataclass
class Evaluations:
    """The run's evaluations so far, and which is best: by the ``best_model`` callback's metric,
    mode and tie-break when the config has one, else the highest ``success_rate`` (when
    evaluations report it) or ``mean_reward``."""

    metric: str | None = None
    mode: str = "max"
    tie_break: str | None = "mean_reward"
    history: list[tuple[int, dict[str, float]]] = field(default_factory=list)

    @classmethod
    def for_config(cls, config: ExperimentConfig) -> Evaluations:
        best = config.callback("best_model")
        if best is None:
            return cls()
        return cls(best.metric, best.mode, best.tie_break)

    def add(self, record: dict[str, Any]) -> None:
        """Add an ``eval`` progress record."""
        self.history.append((int(record.get("timesteps", 0)), _evaluation(record)))

    def read(self, run_dir: Path) -> None:
        """Add the ``eval`` records already in the run's ``progress.jsonl`` (a resumed run)."""
        for record in read_progress(Path(run_dir) / PROGRESS_FILE):
            if record.get("type") == "eval":
                self.add(record)

    def final(self) -> dict[str, float]:
        """The last evaluation's metrics (empty before the first)."""
        return dict(self.history[-1][1]) if self.history else {}

    def best(self) -> dict[str, float]:
        """The best evaluation's metrics (empty before the first); the earliest of equals."""
        if not self.history:
            return {}
        first = self.history[0][1]
        metric = self.metric or ("success_rate" if "success_rate" in first else "mean_reward")
        sign = 1.0 if self.mode == "max" else -1.0
        low = float("-inf")

        def key(item: tuple[int, dict[str, float]]) -> tuple[float, float]:
            m = item[1]
            tie = m.get(self.tie_break, low) if self.tie_break else 0.0
            return (sign * m[metric] if metric in m else low), tie

        best = self.history[0]
        for item in self.history[1:]:
            if key(item) > key(best):
                best = item
        return dict(best[1])

    def summary(self) -> dict[str, float]:
        """``best/<metric>`` and ``final/<metric>`` of every evaluation metric."""
        return {**{f"best/{k}": v for k, v in self.best().items()},
                **{f"final/{k}": v for k, v in self.final().items()}}


@dataclass
class Session:
    """One session of a run (a new run, or one resume of it), as its trackers see it."""

    config: ExperimentConfig
    run_dir: Path
    resumed: bool
    """A ``--resume`` session: continue the tracker run whose id :attr:`state` holds."""
    state: dict[str, Any]
    """What this tracker stored in the run folder when the run started (e.g. its run id)."""
    params: dict[str, Any]
    """The flattened resolved config (:func:`flatten_config`)."""
    evaluations: Evaluations

    def group(self, settings: TrackerSettings) -> str:
        """The tracker's group: its ``group`` key, else the config's name."""
        return settings.group or self.config.name

    def name(self, settings: TrackerSettings) -> str:
        """The tracker's run name: its ``name`` key, else ``<parent folder>/<run folder>``."""
        return settings.name or f"{self.run_dir.parent.name}/{self.run_dir.name}"


@runtime_checkable
class Tracker(Protocol):
    """One experiment tracker following a run session.

    :meth:`start` opens (or, resuming, reopens) the tracker's run and returns what to keep in
    the run folder to reopen it later (e.g. ``{"run_id": ...}``); :meth:`log` gets every
    ``rollout`` and ``eval`` record; :meth:`finish` gets the ``end`` record once the session's
    models are saved. Nothing is called between records: a tracker costs what the record rate
    implies.
    """

    key: str
    """The tracker's key under ``tracking:`` (``mlflow``)."""

    def start(self, session: Session) -> dict[str, Any]: ...

    def log(self, record: dict[str, Any], session: Session) -> None: ...

    def finish(self, end: dict[str, Any], session: Session) -> None: ...
