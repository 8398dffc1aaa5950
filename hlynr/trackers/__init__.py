"""Experiment trackers that follow a run: TensorBoard hparams, MLflow, Weights & Biases.

The config's ``tracking:`` section (:mod:`hlynr.config.tracking`) names them. Each is a small
class behind the :class:`~hlynr.trackers.base.Tracker` protocol (start, log a record, finish),
fed by one listener on the run's progress log (:class:`~hlynr.trackers.feed.TrackerFeed`): they
see exactly what ``progress.jsonl`` records, when it records it, and nothing on the training
loop's hot path. The tracker's own run ids are kept in ``<run>/trackers.json``, so ``--resume``
continues the same tracker runs. The tracker packages (``mlflow``, ``wandb``) are imported only
when a run starts a tracker that needs them.

This package is not :mod:`hlynr.tracking` (radar tracks and Kalman filters).
"""

from __future__ import annotations

from hlynr.trackers.base import Evaluations, Session, Tracker, flatten_config, record_metrics
from hlynr.trackers.feed import STATE_FILE, TrackerFeed, attach, make_tracker

__all__ = ["STATE_FILE", "Evaluations", "Session", "Tracker", "TrackerFeed", "attach", "flatten_config",
           "make_tracker", "record_metrics"]
