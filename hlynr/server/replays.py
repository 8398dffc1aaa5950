"""A run's replays on the dashboard: the folders under ``<run>/replays/``, recording a new one with
``hlynr replay`` as a separate process, and the files the page may show.

Every folder under ``<run>/replays/`` is one replay: those this server recorded
(``<timestamp>/``, with ``replay.json`` ``{"kind": "dashboard", ...}`` and the process's output in
``replay.log``), those the ``replay`` callback drew after evaluations (``eval_<timesteps>/``, with
``replay.json`` ``{"kind": "evaluation", ...}``), and those ``hlynr replay RUN`` wrote by default
(``best/``, ``final/``, ...). Hidden names (a callback's folder still being written, a video still
being encoded) are not shown. The state of a recording is read from the folder (and the process,
while this server knows it), so a restarted server tells the same.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from pathlib import Path
from typing import Any

from hlynr.envs.rendering import RENDER_MODULES
from hlynr.runs.artifacts import is_complete
from hlynr.runs.checkpoints import list_checkpoints
from hlynr.runs.files import write_json
from hlynr.server.launch import Launch, Launcher
from hlynr.server.runs import NotFound, RunEntry

REPLAYS_DIR = "replays"
META = "replay.json"
LOG = "replay.log"
MEDIA = {".mp4": "video/mp4", ".gif": "image/gif", ".png": "image/png"}
"""The files served from a replay folder, by suffix, with their media types."""
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+=@-]{0,199}$")
_SEED_LINE = re.compile(r"^seed (\d+): (.+)$", re.M)


class Conflict(Exception):
    """A replay cannot be recorded now (one is being recorded, no model, no renderer)."""


def _read_meta(folder: Path) -> dict[str, Any]:
    try:
        meta = json.loads((folder / META).read_text())
        return meta if isinstance(meta, dict) else {}
    except (OSError, ValueError):
        return {}


def _last_line(log: Path) -> str:
    try:
        lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1].strip() if lines else ""


def _printed_outcomes(log: Path) -> dict[str, str]:
    """The outcome ``hlynr replay`` printed for each episode, by the name of its still."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return {}
    return {f"episode_{m[1]}.png": m[2].strip() for m in _SEED_LINE.finditer(text)}


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recordable(config: dict[str, Any]) -> str | None:
    """Why a run of ``config`` (a run's ``config.yaml``) cannot be replayed, or None (the checks
    ``hlynr replay`` makes: a renderer and hlynr's batched VecEnv)."""
    env = config.get("env")
    if not isinstance(env, dict):
        env = {}
    env_id = env.get("id")
    if env_id not in RENDER_MODULES:
        return f"{env_id} has no renderer; replays draw {', '.join(RENDER_MODULES)}"
    if env.get("vectoriser") != "batched":
        return (f"replays read the true state from hlynr's batched VecEnv; this run uses vectoriser "
                f"{env.get('vectoriser')!r}")
    return None


def model_to_replay(run_dir: Path) -> str | None:
    """The model a replay draws: ``best``, else ``final``, else the newest checkpoint
    (``latest``); None while the run has saved none."""
    for which in ("best", "final"):
        if is_complete(run_dir / which):
            return which
    return "latest" if list_checkpoints(run_dir) else None


def what_to_replay(run_dir: Path, config: dict[str, Any]) -> tuple[str | None, str]:
    """``(model, "")`` for the model a replay of the run draws (:func:`model_to_replay`), or
    ``(None, why)`` when the run cannot be replayed (yet)."""
    reason = recordable(config)
    if reason:
        return None, reason
    which = model_to_replay(run_dir)
    return (which, "") if which else (None, "no saved model yet (best, final or a checkpoint)")


class Replays:
    """The replays of the runs under one runs folder, and the recordings this server started."""

    def __init__(self, launcher: Launcher) -> None:
        self.launcher = launcher
        self._starting = threading.Lock()  # two requests at once start one recording

    def _ours(self, folder: Path) -> Launch | None:
        log = folder / LOG
        return next((x for x in reversed(self.launcher.launches)
                     if x.action == "replay" and x.log == log), None)

    def _status(self, folder: Path, meta: dict[str, Any]) -> tuple[str, str]:
        """(recording | done | failed, message) of a replay folder."""
        if meta.get("kind") != "dashboard":
            return "done", ""
        launch = self._ours(folder)
        rc = launch.process.poll() if launch is not None else meta.get("returncode")
        if launch is not None and rc is None:
            return "recording", ""
        if launch is not None and "returncode" not in meta:
            write_json(folder / META, {**meta, "returncode": rc, "ended": time.time()})
        if rc is None:  # started by a server that is gone: ask the process, then the log
            if _alive(meta.get("pid")):
                return "recording", ""
            text = (folder / LOG).read_text(errors="replace") if (folder / LOG).is_file() else ""
            ok = "\nwrote " in f"\n{text}" and "error:" not in text
            return ("done", "") if ok else ("failed", _last_line(folder / LOG) or
                                            "the replay process ended without finishing")
        return ("done", "") if rc == 0 else ("failed", _last_line(folder / LOG) or f"exit code {rc}")

    def view(self, folder: Path) -> dict[str, Any]:
        """One replay: id, kind, status, message, the model drawn, when, and its files."""
        meta = _read_meta(folder)
        status, message = self._status(folder, meta)
        files = sorted(p.name for p in folder.iterdir() if p.suffix in MEDIA and _NAME.match(p.name)
                       and p.is_file() and not p.is_symlink())
        outcomes = {e["still"]: e.get("outcome", "") for e in meta.get("episodes", [])
                    if isinstance(e, dict) and "still" in e}
        if meta.get("kind") == "dashboard":  # hlynr replay prints "seed N: label: outcome"
            outcomes = _printed_outcomes(folder / LOG)
        created = meta.get("created")
        if not isinstance(created, (int, float)):
            created = folder.stat().st_mtime
        kind = meta.get("kind") if meta.get("kind") in ("dashboard", "evaluation") else "cli"
        return {"id": folder.name, "kind": kind, "status": status, "message": message,
                "which": meta.get("which", folder.name if kind == "cli" else None),
                "timesteps": meta.get("timesteps"), "created": created,
                "files": [{"name": f, "type": MEDIA[Path(f).suffix].split("/")[0],
                           "outcome": outcomes.get(f, "")} for f in files]}

    def list(self, entry: RunEntry) -> list[dict[str, Any]]:
        """Every replay of the run, newest first."""
        root = entry.path / REPLAYS_DIR
        if not root.is_dir():
            return []
        views = [self.view(p) for p in root.iterdir()
                 if p.is_dir() and not p.is_symlink() and _NAME.match(p.name)]
        return sorted(views, key=lambda v: (-v["created"], v["id"]))

    def start(self, entry: RunEntry, config: dict[str, Any]) -> dict[str, Any]:
        """Record a replay of the run's best model (else final, else its newest checkpoint) with
        ``hlynr replay`` into ``<run>/replays/<timestamp>/``; :class:`Conflict` when it cannot."""
        with self._starting:
            return self._start(entry, config)

    def _start(self, entry: RunEntry, config: dict[str, Any]) -> dict[str, Any]:
        busy = [v["id"] for v in self.list(entry) if v["status"] == "recording"]
        if busy:
            raise Conflict(f"a replay of {entry.run_id} is being recorded ({busy[0]})")
        which, reason = what_to_replay(entry.path, config)
        if which is None:
            raise Conflict(reason)
        root = entry.path / REPLAYS_DIR
        root.mkdir(exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        replay_id, k = stamp, 1
        while True:
            try:
                (root / replay_id).mkdir()
                break
            except FileExistsError:
                k += 1
                replay_id = f"{stamp}-{k}"
        folder = root / replay_id
        meta = {"kind": "dashboard", "which": which, "created": time.time()}
        write_json(folder / META, meta)
        launch = self.launcher.replay(entry.run_id, entry.path, which, folder)
        write_json(folder / META, {**meta, "pid": launch.process.pid})
        return {"run": entry.run_id, "replay": replay_id, "which": which, "pid": launch.process.pid}

    def file(self, entry: RunEntry, replay_id: str, name: str) -> Path:
        """The file ``name`` of replay ``replay_id``: a video or picture inside the run's replays
        folder (symbolic links followed), or :class:`NotFound`."""
        if not (_NAME.match(replay_id) and _NAME.match(name)) or Path(name).suffix not in MEDIA:
            raise NotFound(f"no file {replay_id}/{name}")
        root = (entry.path / REPLAYS_DIR).resolve()
        path = (root / replay_id / name).resolve()
        if not root.is_relative_to(entry.path.resolve()) or not path.is_relative_to(root) \
                or not path.is_file():
            raise NotFound(f"no file {replay_id}/{name}")
        return path
