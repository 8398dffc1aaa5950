"""MLflow: one MLflow run per hlynr run, continued by ``--resume``.

Params: the flattened resolved config (values as text, JSON for non-strings). Metrics: every
number of every ``rollout`` and ``eval`` progress record, at the record's timestep
(``rollout/ep_reward_mean``, ``train/value_loss``, ``eval/success_rate``, ...), and at the end
``best/<metric>`` and ``final/<metric>`` of the evaluations. Tags: ``hlynr.group``,
``hlynr.run_dir``, and at the end ``hlynr.status`` and ``hlynr.reason``. Artifacts at the end:
``config.yaml``, ``summary.json``, and the ``best/`` and ``final/`` model folders. The
experiment is ``experiment``, else the group (the config's name, or a tuning study's name).

Only :class:`mlflow.tracking.MlflowClient` is used (no global active run), so tuning trials in
parallel threads each keep their own run.
"""

from __future__ import annotations

import time
from typing import Any

from hlynr.config.tracking import MlflowSettings
from hlynr.trackers.base import Session, as_text, record_metrics

MAX_PARAM_LENGTH = 6000
"""MLflow's limit on a parameter value (longer values are cut)."""
BATCH = 100
"""Parameters per ``log_batch`` call (MLflow's limit)."""
STATUS = {"completed": "FINISHED", "stopped": "FINISHED", "interrupted": "KILLED", "failed": "FAILED"}
"""hlynr's run status -> MLflow's."""


class MlflowTracker:
    """An MLflow run; see the module docstring."""

    key = "mlflow"

    def __init__(self, settings: MlflowSettings) -> None:
        self.settings = settings
        self.client: Any = None
        self.run_id = ""

    def start(self, session: Session) -> dict[str, Any]:
        from mlflow.tracking import MlflowClient

        uri = self.settings.tracking_uri or session.state.get("tracking_uri")
        self.client = MlflowClient(tracking_uri=uri)
        run_id = session.state.get("run_id") if session.resumed else None
        if run_id:
            self.client.update_run(run_id, status="RUNNING")
            self.run_id = run_id
        else:
            self.run_id = self._create(session)
        return {"run_id": self.run_id, "tracking_uri": self.client.tracking_uri}

    def _create(self, session: Session) -> str:
        from mlflow.entities import Param
        from mlflow.exceptions import MlflowException

        name = self.settings.experiment or session.group(self.settings)
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            experiment_id = found.experiment_id
        else:
            try:
                experiment_id = self.client.create_experiment(
                    name, artifact_location=self.settings.artifact_location)
            except MlflowException:  # created meanwhile by a parallel trial
                experiment_id = self.client.get_experiment_by_name(name).experiment_id
        run = self.client.create_run(
            experiment_id, run_name=session.name(self.settings),
            tags={"hlynr.group": session.group(self.settings), "hlynr.run_dir": str(session.run_dir)})
        params = [Param(k, as_text(v)[:MAX_PARAM_LENGTH]) for k, v in session.params.items()]
        for i in range(0, len(params), BATCH):
            self.client.log_batch(run.info.run_id, params=params[i:i + BATCH])
        return str(run.info.run_id)

    def _metrics(self, values: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(k, v, now, step) for k, v in values.items()]
        for i in range(0, len(metrics), 1000):
            self.client.log_batch(self.run_id, metrics=metrics[i:i + 1000])

    def log(self, record: dict[str, Any], session: Session) -> None:
        values = record_metrics(record)
        if values:
            self._metrics(values, int(record.get("timesteps", 0)))

    def finish(self, end: dict[str, Any], session: Session) -> None:
        summary = session.evaluations.summary()
        if summary:
            self._metrics(summary, int(end.get("timesteps", 0)))
        self.client.set_tag(self.run_id, "hlynr.status", str(end.get("status")))
        self.client.set_tag(self.run_id, "hlynr.reason", str(end.get("reason"))[:MAX_PARAM_LENGTH])
        if self.settings.artifacts:
            for name in ("config.yaml", "summary.json"):
                if (session.run_dir / name).is_file():
                    self.client.log_artifact(self.run_id, str(session.run_dir / name))
            for name in ("best", "final"):
                if (session.run_dir / name).is_dir():
                    self.client.log_artifacts(self.run_id, str(session.run_dir / name), artifact_path=name)
        self.client.set_terminated(self.run_id, status=STATUS.get(str(end.get("status")), "FINISHED"))
