"""Where a run's checkpoints live and which of them are complete."""

from __future__ import annotations

import json
import pickle
import zipfile
from pathlib import Path
from typing import Any

from hlynr.runs.artifacts import META_FILE, MODEL_FILE, REPLAY_FILE, VECNORM_FILE, is_complete

CHECKPOINT_PREFIX = "step_"


def checkpoint_dir(run_dir: Path, timesteps: int) -> Path:
    """The folder of the checkpoint at ``timesteps`` (zero-padded, so names sort by step)."""
    return run_dir / "checkpoints" / f"{CHECKPOINT_PREFIX}{timesteps:012d}"


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Complete checkpoints of a run, oldest first."""
    folder = run_dir / "checkpoints"
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir()
             if p.is_dir() and p.name.startswith(CHECKPOINT_PREFIX) and is_complete(p)]
    return sorted(found, key=lambda p: p.name)


class DamagedCheckpoint(Exception):
    """A checkpoint that cannot be resumed from; ``str()`` says what is wrong."""


def verify_checkpoint(folder: Path, state_keys: set[str]) -> dict[str, Any]:
    """The checkpoint's ``meta.json`` once every file is readable and the meta is complete.

    Complete means: ``timesteps``, ``wall_time`` and the saved state of every component in
    ``state_keys``. ``model.zip`` must be a whole zip archive; pickles must load. Raises
    :class:`DamagedCheckpoint` naming the first problem.
    """
    try:
        meta = json.loads((folder / META_FILE).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DamagedCheckpoint(f"{META_FILE}: {type(exc).__name__}") from exc
    missing = [k for k in ("timesteps", "wall_time", "state") if k not in meta]
    if missing or not isinstance(meta.get("state"), dict):
        raise DamagedCheckpoint(f"{META_FILE} lacks {', '.join(missing) or 'state'}")
    lost = sorted(state_keys - set(meta["state"]))
    if lost:
        raise DamagedCheckpoint(f"{META_FILE} lacks the saved state of {', '.join(lost)}")
    try:
        with zipfile.ZipFile(folder / MODEL_FILE) as archive:
            bad = archive.testzip()
    except (OSError, zipfile.BadZipFile) as exc:
        raise DamagedCheckpoint(f"{MODEL_FILE}: {type(exc).__name__}: {exc}") from exc
    if bad is not None:
        raise DamagedCheckpoint(f"{MODEL_FILE}: member {bad} is damaged")
    for name in (VECNORM_FILE, REPLAY_FILE):
        path = folder / name
        if path.exists():
            try:
                with path.open("rb") as fh:
                    pickle.load(fh)
            except Exception as exc:  # any unpickling failure means the file is unusable
                raise DamagedCheckpoint(f"{name}: {type(exc).__name__}") from exc
    return meta
