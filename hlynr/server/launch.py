"""Starting and resuming runs as separate ``python -m hlynr train`` processes, and recording
replays of runs with ``python -m hlynr replay``.

A launched run is an ordinary training process in its own session: it outlives the server, and it
is steered like any run started from a terminal (through its run folder). Its console output goes
to ``<runs_dir>/.launches/<run id>.log`` (outside every run folder); a replay's goes to
``replay.log`` in the replay's own folder (:mod:`hlynr.server.replays`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hlynr

LAUNCH_DIR = ".launches"


@dataclass
class Launch:
    """One process the server started."""

    run_id: str
    action: str  # start | resume | replay
    process: subprocess.Popen
    log: Path
    started: float = field(default_factory=time.time)

    def view(self) -> dict[str, Any]:
        """Plain data: run, pid, exit code (None while running) and the last output line."""
        rc = self.process.poll()
        last = ""
        if rc not in (None, 0):
            try:
                lines = [ln for ln in self.log.read_text(errors="replace").splitlines() if ln.strip()]
                last = lines[-1] if lines else ""
            except OSError:
                pass
        return {"run": self.run_id, "action": self.action, "pid": self.process.pid,
                "returncode": rc, "started": self.started, "message": last}


class Launcher:
    """Starts training processes and remembers them (reaping them when they end)."""

    def __init__(self, runs_dir: Path) -> None:
        self.runs_dir = Path(runs_dir)
        self.launches: list[Launch] = []
        self.reserved: set[Path] = set()

    def _spawn(self, run_id: str, action: str, args: list[str]) -> Launch:
        log_dir = self.runs_dir / LAUNCH_DIR
        log_dir.mkdir(parents=True, exist_ok=True)
        log = log_dir / f"{run_id.replace('/', '__')}.log"
        return self._popen(run_id, action, ["train", *args, "--quiet"], log)

    def _popen(self, run_id: str, action: str, args: list[str], log: Path) -> Launch:
        """``python -m hlynr ARGS`` in its own session, output appended to ``log``."""
        env = dict(os.environ)
        root = str(Path(hlynr.__file__).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        with open(log, "ab") as out:
            proc = subprocess.Popen([sys.executable, "-m", "hlynr", *args],
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    env=env, start_new_session=True)
        launch = Launch(run_id, action, proc, log)
        self.launches.append(launch)
        return launch

    def start(self, run_id: str, run_dir: Path, config: Path, overrides: list[str]) -> Launch:
        """``hlynr train --config CONFIG --set ... --run-dir RUN_DIR``."""
        self.reserved.add(run_dir.resolve())
        args = ["--config", str(config)]
        for item in overrides:
            args += ["--set", item]
        return self._spawn(run_id, "start", [*args, "--run-dir", str(run_dir)])

    def resume(self, run_id: str, run_dir: Path) -> Launch:
        """``hlynr train --resume RUN_DIR``."""
        return self._spawn(run_id, "resume", ["--resume", str(run_dir)])

    def replay(self, run_id: str, run_dir: Path, which: str, out: Path) -> Launch:
        """``hlynr replay RUN_DIR --which WHICH --out OUT``, its output in ``OUT/replay.log``."""
        return self._popen(run_id, "replay", ["replay", str(run_dir), "--which", which,
                                              "--out", str(out)], out / "replay.log")

    def poll(self) -> list[dict[str, Any]]:
        """Views of the launches of the last hour (reaps the processes that ended)."""
        cutoff = time.time() - 3600
        self.launches = [x for x in self.launches if x.process.poll() is None or x.started > cutoff]
        return [x.view() for x in self.launches]
