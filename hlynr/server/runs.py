"""What the server knows about the runs folder, all of it read from the run folders themselves.

A run is any folder under the runs folder (at most :data:`MAX_DEPTH` levels down) holding a
``config.yaml``; its id is its path relative to the runs folder (``cartpole_ppo/20261121-221500``).
A run group (a folder with ``group.json``, :mod:`hlynr.runs.group`) is listed as a group, and
its seeds' run folders inside it as runs that belong to it.
Nothing is kept that the folders do not say, so a restarted server, or a second one on the same
folder, sees exactly the same runs, states and records.

:class:`LogTail` follows one ``progress.jsonl`` incrementally: it keeps the byte offset of every
complete record (8 bytes each), the evaluation and event records, and the last few rollouts; a
log rewritten by a resume (new inode or shorter file) starts a new *epoch*.
"""

from __future__ import annotations

import os
import re
import time
from array import array
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from hlynr.monitoring.analysis import analyse
from hlynr.runs import control
from hlynr.runs.checkpoints import list_checkpoints
from hlynr.runs.group import GRID_FILE, GROUP_FILE, GroupError, RunGroup, read_group
from hlynr.runs.lock import holder

MAX_DEPTH = 5
RESCAN_S = 2.0
_ID_PART = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+=@-]*$")
_ROLLOUT_PREFIX = b'{"type":"rollout"'


class NotFound(Exception):
    """No such run (or config) inside its folder; ``str()`` is the message."""


def resolve_inside(root: Path, rel: str, *, max_parts: int = MAX_DEPTH + 1) -> Path:
    """``root / rel`` when ``rel`` is a plain relative path that stays inside ``root``.

    Every part must be a plain name (no ``..``, no hidden names, no absolute path); the resolved
    path (symbolic links followed) must still lie inside ``root``.
    """
    parts = rel.split("/")
    if not rel or len(parts) > max_parts or not all(_ID_PART.match(p) for p in parts):
        raise NotFound(f"{rel!r} is not a plain relative path inside its folder")
    root = root.resolve()
    path = (root / rel).resolve()
    if not path.is_relative_to(root) or path == root:
        raise NotFound(f"{rel!r} is outside its folder")
    return path


class LogTail:
    """Incremental reader of one ``progress.jsonl``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._reset(epoch=0)

    def _reset(self, epoch: int) -> None:
        self.epoch = epoch
        self.inode: int | None = None
        self.pos = 0
        self.offsets = array("q")
        self.evals: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.rollouts: deque[dict[str, Any]] = deque(maxlen=5)
        self.mtime: float | None = None

    @property
    def count(self) -> int:
        """Number of complete records read so far."""
        return len(self.offsets)

    def refresh(self) -> bool:
        """Read what was appended since the last call; True when anything changed."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            if self.inode is not None:
                self._reset(self.epoch + 1)
                return True
            return False
        if self.inode is not None and (st.st_ino != self.inode or st.st_size < self.pos):
            self._reset(self.epoch + 1)
        self.inode, self.mtime = st.st_ino, st.st_mtime
        if st.st_size == self.pos:
            return False
        with open(self.path, "rb") as fh:
            fh.seek(self.pos)
            data = fh.read()
        end = data.rfind(b"\n")
        if end < 0:
            return False
        start = 0
        recent: deque[bytes] = deque(maxlen=self.rollouts.maxlen)  # only the last few are parsed
        while start <= end:
            nl = data.index(b"\n", start)
            line = data[start:nl]
            if line.strip():
                self.offsets.append(self.pos + start)
                if line.startswith(_ROLLOUT_PREFIX):
                    recent.append(line)
                else:
                    self._add(line)
            start = nl + 1
        for line in recent:
            self._add(line)
        self.pos += end + 1
        return True

    def _add(self, line: bytes) -> None:
        try:
            rec = orjson.loads(line)
        except ValueError:
            return
        kind = rec.get("type")
        if kind == "eval":
            self.evals.append(rec)
        elif kind == "rollout":
            self.rollouts.append(rec)
        else:
            self.events.append(rec)

    def read(self, since: int, limit: int) -> list[dict[str, Any]]:
        """Records ``since`` .. ``since + limit - 1`` (by index in the log)."""
        since = max(0, since)
        stop = min(self.count, since + max(0, limit))
        if since >= stop:
            return []
        first = self.offsets[since]
        last = self.offsets[stop] if stop < self.count else self.pos
        with open(self.path, "rb") as fh:
            fh.seek(first)
            data = fh.read(last - first)
        out = []
        for line in data.splitlines():
            if line.strip():
                try:
                    out.append(orjson.loads(line))
                except ValueError:
                    out.append({"type": "unreadable"})
        return out


@dataclass
class RunEntry:
    """One run folder and its log."""

    run_id: str
    path: Path
    tail: LogTail
    group: str | None = None
    """The id of the run group it is a seed of (None outside a group)."""

    def state(self) -> tuple[str, int | None]:
        """(status, holder PID): ``running``/``stopping`` while a process holds the lock, else the
        status of the last end record, or ``crashed`` when the log has no end since its start."""
        pid = holder(self.path)
        if pid is not None:
            stopping = any(r["action"] == control.Action.STOP.value
                           for r in control.pending(self.path))
            return ("stopping" if stopping else "running"), pid
        lifecycle = [e for e in self.tail.events if e.get("event") in ("start", "resume", "end")]
        if lifecycle and lifecycle[-1].get("event") == "end":
            return str(lifecycle[-1].get("status", "unknown")), None
        return "crashed", None

    def overview(self) -> dict[str, Any]:
        """Status, progress, latest and best evaluation and alerts (the run list's row)."""
        self.tail.refresh()
        status, pid = self.state()
        records = [*self.tail.events, *self.tail.evals, *self.tail.rollouts]
        st = analyse(records, self.run_id, mtime=self.tail.mtime)
        alerts = [{"kind": a.kind, "message": a.message} for a in st.alerts
                  if not (a.kind == "not_writing" and status != "crashed")]
        if status == "crashed" and not any(a["kind"] == "not_writing" for a in alerts):
            alerts.append({"kind": "not_writing", "message": "no process holds the run and the "
                           "log has no end record: the run died (resume continues it)"})
        latest = self.tail.evals[-1] if self.tail.evals else None
        best = _best_eval(self.tail.evals)
        return {"id": self.run_id, "name": self.run_id.split("/")[0], "group": self.group,
                "status": status,
                "pid": pid, "timesteps": st.timesteps, "total_timesteps": st.total_timesteps,
                "progress": st.progress, "steps_per_s": st.steps_per_s, "eta_s": st.eta_s,
                "stage": st.stage, "train_success": st.train_success,
                "latest_eval": _eval_view(latest), "best_eval": _eval_view(best),
                "alerts": alerts, "records": self.tail.count, "epoch": self.tail.epoch,
                "checkpoints": [p.name for p in list_checkpoints(self.path)],
                "resumable": pid is None and status != "completed"
                and bool(list_checkpoints(self.path)),
                "mtime": self.tail.mtime}


def _eval_view(rec: dict[str, Any] | None) -> dict[str, Any] | None:
    if rec is None:
        return None
    keys = ("timesteps", "eval_mean_reward", "eval_std_reward", "eval_success_rate",
            "eval_success_ci_low", "eval_success_ci_high", "stage")
    return {k: rec.get(k) for k in keys if k in rec}


def _best_eval(evals: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The evaluation with the highest success rate (mean reward when there is none)."""
    if not evals:
        return None
    key = "eval_success_rate" if any(e.get("eval_success_rate") is not None for e in evals) \
        else "eval_mean_reward"
    scored = [e for e in evals if e.get(key) is not None]
    return max(scored, key=lambda e: (e[key], -e["timesteps"])) if scored else None


@dataclass
class GroupEntry:
    """One run group folder: what its ``group.json`` says, and its seeds' run ids."""

    group_id: str
    group: RunGroup

    def overview(self, runs: dict[str, RunEntry]) -> dict[str, Any]:
        """Name, env, algorithm, grid cell and each seed with its run id (None before the seed's
        run folder exists)."""
        g = self.group
        seeds = []
        for seed in g.seeds:
            run_id = f"{self.group_id}/{g.run_dir(seed).name}"
            seeds.append({"seed": seed, "run": run_id if run_id in runs else None})
        return {"id": self.group_id, "name": g.name, "env_id": g.env_id, "algo": g.algo,
                "cell": g.cell, "seeds": seeds}


class RunsIndex:
    """The runs (and run groups) under one folder, rediscovered every :data:`RESCAN_S` seconds."""

    def __init__(self, runs_dir: Path) -> None:
        self.root = Path(runs_dir)
        self._runs: dict[str, RunEntry] = {}
        self._groups: dict[str, GroupEntry] = {}
        self._scanned = 0.0

    def _scan(self) -> None:
        found: dict[str, tuple[Path, str | None]] = {}
        groups: dict[str, GroupEntry] = {}
        root = self.root.resolve() if self.root.exists() else self.root

        def walk(folder: Path, depth: int, group: str | None) -> None:
            try:
                entries = list(os.scandir(folder))
            except OSError:
                return
            names = {e.name for e in entries if e.is_file()}
            rel = folder.relative_to(root).as_posix()
            if GROUP_FILE in names and depth > 0 and group is None:
                try:
                    groups[rel] = GroupEntry(rel, read_group(folder))
                    group = rel  # its seeds' run folders are inside
                except GroupError:
                    pass  # a damaged group.json: its folder is looked at as any other
            elif "config.yaml" in names and GRID_FILE not in names and depth > 0:
                found[rel] = (folder, group)
                return
            if depth >= MAX_DEPTH:
                return
            for e in entries:
                if e.is_dir(follow_symlinks=False) and not e.name.startswith("."):
                    walk(Path(e.path), depth + 1, group)

        walk(root, 0, None)
        plain = {rid: v for rid, v in found.items() if all(_ID_PART.match(p) for p in rid.split("/"))}
        runs = {}
        for rid, (path, group) in plain.items():
            entry = self._runs.get(rid) or RunEntry(rid, path, LogTail(path / "progress.jsonl"))
            entry.group = group
            runs[rid] = entry
        self._runs = runs
        self._groups = {gid: g for gid, g in groups.items()
                        if all(_ID_PART.match(p) for p in gid.split("/"))}
        self._scanned = time.monotonic()

    def groups(self, rescan: bool = False) -> list[dict[str, Any]]:
        """Every run group's overview (:meth:`GroupEntry.overview`), by id."""
        if rescan or time.monotonic() - self._scanned > RESCAN_S:
            self._scan()
        return [self._groups[g].overview(self._runs) for g in sorted(self._groups)]

    def group(self, group_id: str) -> tuple[GroupEntry, dict[int, RunEntry]]:
        """The group ``group_id`` and its seeds' runs by seed (those with a run folder), or
        :class:`NotFound`."""
        resolve_inside(self.root, group_id)
        if group_id not in self._groups or time.monotonic() - self._scanned > RESCAN_S:
            self._scan()
        entry = self._groups.get(group_id)
        if entry is None:
            raise NotFound(f"no run group {group_id!r}")
        runs = {s["seed"]: self._runs[s["run"]] for s in entry.overview(self._runs)["seeds"]
                if s["run"]}
        for run in runs.values():
            run.tail.refresh()
        return entry, runs

    def runs(self, rescan: bool = False) -> list[RunEntry]:
        """All runs, newest first by id within a name."""
        if rescan or time.monotonic() - self._scanned > RESCAN_S:
            self._scan()
        return sorted(self._runs.values(), key=lambda r: r.run_id)

    def get(self, run_id: str) -> RunEntry:
        """The run ``run_id`` or :class:`NotFound`."""
        path = resolve_inside(self.root, run_id)
        entry = self._runs.get(run_id)
        if entry is None:
            if not (path / "config.yaml").is_file() or (path / GROUP_FILE).is_file():
                raise NotFound(f"no run {run_id!r}")
            self._scan()
            entry = self._runs.get(run_id)
            if entry is None:
                raise NotFound(f"no run {run_id!r}")
        entry.tail.refresh()
        return entry
