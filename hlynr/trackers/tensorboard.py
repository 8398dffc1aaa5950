"""TensorBoard hparams: the flattened config beside the best and final evaluation metrics.

The run's own TensorBoard logs are in ``<run>/tb/``; this tracker writes one more TensorBoard run
beside them, ``<run>/tb/hparams/``, holding the hparams plugin's experiment, session start (the
config) and session end records and one scalar per metric (``best/<metric>``,
``final/<metric>``). It is rewritten whole at every evaluation and at the end of each session
(a resumed run included), so it always holds exactly one session: ``tensorboard --logdir runs``
lists every run and tuning trial under runs/ in its HPARAMS tab, side by side.
"""

from __future__ import annotations

import shutil
from typing import Any

from hlynr.config.tracking import TensorBoardSettings
from hlynr.trackers.base import Session

HPARAMS_DIR = "tb/hparams"


class TensorBoardTracker:
    """Writes ``<run>/tb/hparams/``; see the module docstring."""

    key = "tensorboard"

    def __init__(self, settings: TensorBoardSettings) -> None:
        self.settings = settings

    def _hparams(self, session: Session) -> dict[str, Any]:
        hp = {k: v for k, v in session.params.items() if v is not None}
        hp["group"] = session.group(self.settings)
        hp["run"] = session.name(self.settings)
        return hp

    def write(self, session: Session) -> None:
        """(Re)write the hparams run from the session's evaluations so far."""
        from torch.utils.tensorboard import SummaryWriter
        from torch.utils.tensorboard.summary import hparams

        folder = session.run_dir / HPARAMS_DIR
        shutil.rmtree(folder, ignore_errors=True)
        metrics = session.evaluations.summary()
        exp, ssi, sei = hparams(self._hparams(session), metrics)
        step = session.evaluations.history[-1][0] if session.evaluations.history else 0
        writer = SummaryWriter(log_dir=str(folder))
        try:
            events = writer._get_file_writer()  # the writer's own events file (torch's add_hparams does this)
            for summary in (exp, ssi, sei):
                events.add_summary(summary)
            for key, value in metrics.items():
                writer.add_scalar(key, value, step)
        finally:
            writer.close()

    def start(self, session: Session) -> dict[str, Any]:
        self.write(session)
        return {}

    def log(self, record: dict[str, Any], session: Session) -> None:
        if record.get("type") == "eval":
            self.write(session)

    def finish(self, end: dict[str, Any], session: Session) -> None:
        self.write(session)
