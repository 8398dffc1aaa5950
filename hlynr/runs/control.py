"""The run folder's control channel: how anything outside a training process steers it.

A request is a small JSON file ``<run>/control/requests/<id>.json`` (``{"id", "action",
"requested_at"}``), written atomically (temporary name, then rename). The training process's
:class:`ControlCallback` looks for requests between rollouts (on-policy) or every
``check_every`` timesteps (off-policy), carries them out and answers each with
``<run>/control/acks/<id>.json`` (``{"id", "action", "status", "timesteps", "checkpoint",
"message"}``), then removes the request.

Actions:

* ``save``: save a resumable checkpoint now; training goes on.
* ``stop``: stop training; the runner saves a checkpoint and the final model and the run ends
  with status ``stopped``.

Requests found when a run starts or resumes were made while nothing was training; they are
answered ``dropped`` and not carried out.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from enum import Enum
from pathlib import Path
from typing import Any

from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm

from hlynr.registries import CallbackPhase, Phased, RunContext
from hlynr.runs.files import write_json

CONTROL_DIR = "control"
OFF_POLICY_CHECK_EVERY = 1000  # timesteps between looks at the channel for off-policy models


class Action(str, Enum):
    """What a control request asks for."""

    SAVE = "save"
    STOP = "stop"


class AckStatus(str, Enum):
    """How a request was answered."""

    DONE = "done"          # carried out (stop: checkpoint and final model saved)
    DROPPED = "dropped"    # found when the run started: made while nothing was training


def _requests_dir(run_dir: Path) -> Path:
    return Path(run_dir) / CONTROL_DIR / "requests"


def _acks_dir(run_dir: Path) -> Path:
    return Path(run_dir) / CONTROL_DIR / "acks"


def request(run_dir: Path, action: Action | str) -> str:
    """Write a control request into ``run_dir``; returns its id."""
    action = Action(action)
    folder = _requests_dir(run_dir)
    folder.mkdir(parents=True, exist_ok=True)
    req_id = f"{time.time_ns():020d}-{secrets.token_hex(4)}"
    write_json(folder / f"{req_id}.json",
               {"id": req_id, "action": action.value, "requested_at": time.time()})
    return req_id


def pending(run_dir: Path) -> list[dict[str, Any]]:
    """Requests not answered yet, oldest first (unreadable files are skipped)."""
    folder = _requests_dir(run_dir)
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.glob("[!.]*.json")):
        try:
            data = json.loads(path.read_text())
            found.append({"id": str(data["id"]), "action": Action(data["action"]).value,
                          "requested_at": float(data.get("requested_at", 0.0))})
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return found


def read_ack(run_dir: Path, req_id: str) -> dict[str, Any] | None:
    """The answer to request ``req_id``, None while it is pending (or unknown)."""
    path = _acks_dir(run_dir) / f"{req_id}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def wait_ack(run_dir: Path, req_id: str, timeout: float, poll: float = 0.05) -> dict[str, Any] | None:
    """Wait up to ``timeout`` seconds for the answer to ``req_id``."""
    deadline = time.monotonic() + timeout
    while True:
        ack = read_ack(run_dir, req_id)
        if ack is not None or time.monotonic() >= deadline:
            return ack
        time.sleep(poll)


def _answer(run_dir: Path, req: dict[str, Any], status: AckStatus, **fields: Any) -> None:
    folder = _acks_dir(run_dir)
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / f"{req['id']}.json",
               {"id": req["id"], "action": req["action"], "status": status.value,
                "answered_at": time.time(), **fields})
    try:
        (_requests_dir(run_dir) / f"{req['id']}.json").unlink()
    except FileNotFoundError:
        pass


def _checkpoint_name(run_dir: Path, path: Path) -> str:
    return os.path.relpath(path, run_dir)


class ControlCallback(BaseCallback, Phased):
    """Carries out the run folder's control requests while the model trains."""

    phase = CallbackPhase.CONTROL

    def __init__(self, ctx: RunContext[Any], check_every: int = OFF_POLICY_CHECK_EVERY) -> None:
        super().__init__()
        self.ctx = ctx
        self.check_every = check_every
        self.stop_requests: list[dict[str, Any]] = []
        self._next_check = 0
        self._on_policy = True

    @property
    def stop_requested(self) -> bool:
        """Whether a ``stop`` request ended training."""
        return bool(self.stop_requests)

    def _on_training_start(self) -> None:
        self._on_policy = isinstance(self.model, OnPolicyAlgorithm)
        self._next_check = self.num_timesteps + self.check_every
        for req in pending(self.ctx.run_dir):
            _answer(self.ctx.run_dir, req, AckStatus.DROPPED, timesteps=int(self.num_timesteps),
                    message="requested while the run was not training")

    def _on_rollout_end(self) -> None:
        if self._on_policy:
            self._serve()

    def _on_step(self) -> bool:
        if not self._on_policy and self.num_timesteps >= self._next_check:
            self._next_check = self.num_timesteps + self.check_every
            self._serve()
        return not self.stop_requests

    def _serve(self) -> None:
        for req in pending(self.ctx.run_dir):
            if req["action"] == Action.STOP.value:
                self.stop_requests.append(req)
                self.ctx.log.write("event", timesteps=int(self.num_timesteps), event="control",
                                   action="stop", request=req["id"])
                continue
            path = self.ctx.save_checkpoint(self.model, "requested", self.ctx.wall_time())
            name = _checkpoint_name(self.ctx.run_dir, path)
            self.ctx.log.write("event", timesteps=int(self.num_timesteps), event="control",
                               action="save", request=req["id"], checkpoint=name)
            _answer(self.ctx.run_dir, req, AckStatus.DONE, timesteps=int(self.num_timesteps),
                    checkpoint=name, message="checkpoint saved")

    def finish(self, checkpoint: Path | None, timesteps: int, status: str) -> None:
        """Answer the stop requests once the runner has ended the run (``status``) and saved
        its final ``checkpoint`` (None when the run failed)."""
        saved = "checkpoint and final model saved" if checkpoint else "nothing saved"
        for req in self.stop_requests:
            _answer(self.ctx.run_dir, req, AckStatus.DONE, timesteps=int(timesteps),
                    checkpoint=_checkpoint_name(self.ctx.run_dir, checkpoint) if checkpoint else None,
                    message=f"run ended {status}; {saved}")
