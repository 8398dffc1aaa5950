"""Weights & Biases: one W&B run per hlynr run, continued by ``--resume`` (same run id).

Config: the flattened resolved config. History: every number of every ``rollout`` and ``eval``
progress record with ``timesteps`` as its x axis (``define_metric``), so a resumed session that
goes back to its checkpoint's timestep is drawn where it belongs. Summary at the end:
``best/<metric>``, ``final/<metric>``, ``status`` and ``reason``. Files go to ``dir`` (default:
the run folder, ``<run>/wandb/``); with ``mode: offline`` (or ``WANDB_MODE=offline``) nothing
leaves the machine until ``wandb sync``.
"""

from __future__ import annotations

from typing import Any

from hlynr.config.tracking import WandbSettings
from hlynr.trackers.base import Session, record_metrics

EXIT_CODE = {"completed": 0, "stopped": 0, "interrupted": 130, "failed": 1}


class WandbTracker:
    """A W&B run; see the module docstring."""

    key = "wandb"

    def __init__(self, settings: WandbSettings) -> None:
        self.settings = settings
        self.run: Any = None

    def start(self, session: Session) -> dict[str, Any]:
        import wandb

        s = self.settings
        run_id = session.state.get("id") if session.resumed else None
        self.run = wandb.init(
            project=s.project, entity=s.entity, group=session.group(s), name=session.name(s),
            tags=list(s.tags) or None, mode=s.mode, dir=s.dir or str(session.run_dir),
            config=session.params, id=run_id or None, resume="allow" if run_id else None,
            reinit="create_new",
            settings=wandb.Settings(console="off", silent=True, save_code=False, disable_git=True))
        self.run.define_metric("timesteps")
        self.run.define_metric("*", step_metric="timesteps")
        return {"id": self.run.id, "project": s.project}

    def log(self, record: dict[str, Any], session: Session) -> None:
        values = record_metrics(record)
        if values:
            self.run.log({"timesteps": int(record.get("timesteps", 0)), **values})

    def finish(self, end: dict[str, Any], session: Session) -> None:
        self.run.summary.update({**session.evaluations.summary(), "status": end.get("status"),
                                 "reason": end.get("reason")})
        self.run.finish(exit_code=EXIT_CODE.get(str(end.get("status")), 0))
