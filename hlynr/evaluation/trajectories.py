"""Recorded evaluation episodes: the :class:`Trajectories` file format and its readers.

A record holds several evaluated rows (policies and baselines on the same seeds), recorded by
:mod:`hlynr.evaluation.recording`: columns of equal length (one NumPy array each) and a JSON
metadata entry, saved as one ``.npz`` file written atomically. The columns are documented in
docs/rendering.md ("Replays and trajectories"); :meth:`Trajectories.outcomes` recomputes
evaluate.py's per-episode outcomes from them.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hlynr.envs.rendering import RENDER_MODULES, renderer_module
from hlynr.evaluation.episodes import EpisodeRecord

if TYPE_CHECKING:  # the recorder builds records; a record does not need the recorder
    from hlynr.evaluation.recording import RowRecord

FORMAT = "hlynr-trajectories"
VERSION = 1
META_KEY = "meta"
BOOKKEEPING = ("episode.r", "episode.l", "TimeLimit.truncated", "active")
"""Info columns evaluate.py does not report as final-step values (see ``numeric_items``)."""


class TrajectoryError(Exception):
    """A trajectory file cannot be read, or does not fit what it is used for."""


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating,)):
        return float(x)
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, Path):
        return str(x)
    return x


def _tuples(x: Any) -> Any:
    if isinstance(x, list):
        return tuple(_tuples(v) for v in x)
    return x


def _pad(blocks: list[np.ndarray], width: int, fill: float = np.nan) -> np.ndarray:
    out = np.full((sum(len(b) for b in blocks), width), fill, dtype=np.float32)
    at = 0
    for b in blocks:
        out[at:at + len(b), :b.shape[1]] = b
        at += len(b)
    return out


class Trajectories:
    """Recorded evaluation episodes: ``columns`` (name -> array, see docs/rendering.md) and
    ``meta`` (env id and parameters, the seeds, the rows, scenes, column descriptions)."""

    def __init__(self, columns: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        self.columns = columns
        self.meta = meta
        self._module: Any = None

    # ---------------------------------------------------------------- building
    @classmethod
    def build(cls, rows: Sequence[RowRecord], *, env_id: str, seed: int, episodes: int,
              deterministic: bool, success_key: str, **extra: Any) -> Trajectories:
        """The record of ``rows`` (all on the same seeds)."""
        cols: dict[str, list[np.ndarray]] = {k: [] for k in (
            "row", "episode", "step", "agent", "reward", "done")}
        obs_blocks: list[np.ndarray] = []
        act_blocks: list[np.ndarray] = []
        att_blocks: list[np.ndarray] = []
        valid_blocks: list[np.ndarray] = []
        info_rows: list[list[dict[str, Any]]] = []
        states: list[tuple[int, int, list[Any]]] = []
        scenes: list[list[dict[str, Any] | None]] = []
        any_attention = any(r.attention_slots for r in rows)
        slots = max((r.attention_slots for r in rows), default=0)
        for ri, row in enumerate(rows):
            n_agents = row.rows_per_episode
            scenes.append([dataclasses.asdict(e.scene) if e.scene is not None else None
                           for e in row.episodes])
            for ep in row.episodes:
                t = len(ep.rewards)
                n = t * n_agents
                cols["row"].append(np.full(n, ri, np.int32))
                cols["episode"].append(np.full(n, ep.episode, np.int32))
                cols["step"].append(np.repeat(np.arange(t, dtype=np.int32), n_agents))
                cols["agent"].append(np.tile(np.arange(n_agents, dtype=np.int32), t))
                cols["reward"].append(np.concatenate(ep.rewards) if t else np.zeros(0))
                done = np.zeros(n, dtype=bool)
                done[n - n_agents:] = t > 0
                cols["done"].append(done)
                obs_blocks.append(np.concatenate(ep.obs) if t else np.zeros((0, 0), np.float32))
                act_blocks.append(np.concatenate(ep.actions) if t else np.zeros((0, 0), np.float32))
                if any_attention:
                    if ep.attention:
                        att_blocks.append(np.concatenate(ep.attention).astype(np.float32))
                        valid_blocks.append(np.concatenate(ep.valid).astype(np.float32))
                    else:
                        att_blocks.append(np.full((n, slots), np.nan, np.float32))
                        valid_blocks.append(np.zeros((n, slots), np.float32))
                info_rows.extend(ep.infos)
                if ep.states:
                    states.append((ri, ep.episode, ep.states))
        columns: dict[str, np.ndarray] = {
            k: (np.concatenate(v) if v else np.zeros(0, np.float64 if k == "reward" else np.int32))
            for k, v in cols.items()}
        columns["done"] = columns["done"].astype(bool)
        columns["obs"] = _pad(obs_blocks, max((b.shape[1] for b in obs_blocks), default=0))
        columns["action"] = _pad(act_blocks, max((b.shape[1] for b in act_blocks), default=0))
        if any_attention:
            columns["attention"] = _pad(att_blocks, slots)
            columns["attention_valid"] = _pad(valid_blocks, slots, 0.0) > 0.5
        columns.update(_info_columns(info_rows))
        state_meta = None
        if states and all(len(s[2]) for s in states):
            state_cols, state_meta = _state_columns(states)
            columns.update(state_cols)
            state_meta["fps"] = next((r.fps for r in rows if r.fps), None)
            state_meta["scene"] = next(type(e.scene).__name__ for r in rows for e in r.episodes
                                       if e.scene is not None)
        meta = {
            "format": FORMAT, "version": VERSION, "env_id": env_id, "seed": int(seed),
            "episodes": int(episodes), "seeds": [int(seed) + k for k in range(episodes)],
            "deterministic": bool(deterministic), "success_key": success_key,
            "rows": [{"label": r.label, "rows_per_episode": r.rows_per_episode,
                      "attention_slots": r.attention_slots, **_jsonable(r.spec)} for r in rows],
            "state": state_meta, "scenes": _jsonable(scenes) if state_meta else None,
            **_jsonable(extra),
        }
        return cls(columns, meta)

    # ---------------------------------------------------------------- file
    def save(self, path: str | Path) -> Path:
        """Write the record to ``path`` (``.npz``) atomically: a temporary file in the same
        folder, renamed over ``path`` once complete."""
        path = Path(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            mask = os.umask(0)
            os.umask(mask)
            os.chmod(tmp, 0o666 & ~mask)
            with os.fdopen(fd, "wb") as fh:
                arrays = {META_KEY: np.array(json.dumps(self.meta)), **self.columns}
                np.savez_compressed(fh, **arrays)  # type: ignore[arg-type]
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    @classmethod
    def load(cls, path: str | Path) -> Trajectories:
        """Read a record written by :meth:`save` (:class:`TrajectoryError` for anything else)."""
        path = Path(path)
        if not path.is_file():
            raise TrajectoryError(f"{path}: no such trajectory file")
        try:
            with np.load(path, allow_pickle=False) as data:
                if META_KEY not in data.files:
                    raise TrajectoryError(f"{path} is not a trajectory file (no '{META_KEY}' entry)")
                meta = json.loads(str(data[META_KEY]))
                columns = {k: data[k] for k in data.files if k != META_KEY}
        except TrajectoryError:
            raise
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, json.JSONDecodeError,
                io.UnsupportedOperation) as exc:
            raise TrajectoryError(f"{path} is not a readable trajectory file "
                                  f"({type(exc).__name__}: {exc})") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise TrajectoryError(f"{path} is not a trajectory file (format is not '{FORMAT}')")
        if meta.get("version") != VERSION:
            raise TrajectoryError(f"{path}: trajectory format version {meta.get('version')}; "
                                  f"this hlynr reads version {VERSION}")
        missing = [k for k in ("row", "episode", "step", "agent", "reward", "done") if k not in columns]
        lengths = {len(v) for k, v in columns.items() if not k.startswith("state.")}
        if missing or len(lengths) > 1:
            raise TrajectoryError(f"{path} is damaged: "
                                  + (f"columns missing: {', '.join(missing)}" if missing
                                     else "columns of different lengths"))
        return cls(columns, meta)

    # ---------------------------------------------------------------- reading
    @property
    def labels(self) -> list[str]:
        """The evaluated rows, in order (column ``row`` indexes them)."""
        return [r["label"] for r in self.meta["rows"]]

    def row_index(self, label: str) -> int:
        """The index of the row ``label`` (:class:`TrajectoryError` naming the rows otherwise)."""
        if label not in self.labels:
            raise TrajectoryError(f"no row '{label}' in the record; rows: {', '.join(self.labels)}")
        return self.labels.index(label)

    def episode_indices(self, row: int) -> list[int]:
        """The episode indices recorded for ``row``."""
        return sorted(set(self.columns["episode"][self.columns["row"] == row].tolist()))

    def steps(self, row: int, episode: int, agent: int | None = None) -> np.ndarray:
        """Indices of the step table for ``row``'s ``episode`` (one agent row or all), in order."""
        c = self.columns
        mask = (c["row"] == row) & (c["episode"] == episode)
        if agent is not None:
            mask &= c["agent"] == agent
        return np.flatnonzero(mask)

    def info_keys(self) -> list[str]:
        """The info columns (without their ``info.`` / ``text.`` prefix)."""
        return sorted(k.split(".", 1)[1] for k in self.columns if k.startswith(("info.", "text.")))

    def final_info(self, row: int, episode: int) -> dict[str, Any]:
        """The info of the last step of ``row``'s ``episode`` on its first agent row (where
        evaluate.py reads an episode's outcome): numbers and strings, missing keys left out."""
        idx = self.steps(row, episode, agent=0)
        if not len(idx):
            return {}
        i = int(idx[-1])
        out: dict[str, Any] = {}
        for k, col in self.columns.items():
            if k.startswith("info.") and not np.isnan(col[i]):
                out[k[5:]] = float(col[i])
            elif k.startswith("text.") and col[i]:
                out[k[5:]] = str(col[i])
        return out

    def outcomes(self, row: int) -> list[EpisodeRecord]:
        """evaluate.py's per-episode outcomes of ``row``, recomputed from the columns: return
        and length (the ``episode`` statistics where the env reports them, else the sum of the
        rewards of every agent row and the number of steps), success and the final-step values."""
        seed = int(self.meta["seed"])
        key = self.meta.get("success_key", "is_success")
        out = []
        for k in self.episode_indices(row):
            idx = self.steps(row, k)
            final = self.final_info(row, k)
            n_steps = len(self.steps(row, k, agent=0))
            reward = final.get("episode.r", float(np.sum(self.columns["reward"][idx])))
            length = int(final.get("episode.l", n_steps))
            numeric = {n: v for n, v in final.items()
                       if isinstance(v, float) and n not in BOOKKEEPING}
            text = {n: v for n, v in final.items() if isinstance(v, str)}
            success = bool(final[key]) if key in final else None
            out.append(EpisodeRecord(seed + k, float(reward), length, success, numeric, text))
        return out

    # ---------------------------------------------------------------- states (replays)
    @property
    def has_states(self) -> bool:
        """Whether the record holds the true state (renderer snapshots) of every step."""
        return bool(self.meta.get("state"))

    def renderer(self) -> Any:
        """The renderer module of the record's env (:class:`TrajectoryError` when it has none)."""
        if self._module is None:
            env_id = self.meta.get("env_id")
            if env_id not in RENDER_MODULES:
                raise TrajectoryError(f"the record's env {env_id!r} has no renderer "
                                      f"(replays draw {', '.join(RENDER_MODULES)})")
            self._module = renderer_module(env_id)
        return self._module

    def _state_classes(self) -> tuple[type, type]:
        state = self.meta.get("state")
        if not state:
            raise TrajectoryError("the record holds no true states (its env was not stepped by a "
                                  "batched VecEnv); evaluate with vectoriser: batched to keep them")
        module = self.renderer()
        snap: Any = getattr(module, str(state.get("snapshot", "")), None)
        scene: Any = getattr(module, str(state.get("scene", "")), None)
        if not all(isinstance(c, type) and dataclasses.is_dataclass(c) for c in (snap, scene)):
            raise TrajectoryError(f"the record's state types {state.get('snapshot')!r}/"
                                  f"{state.get('scene')!r} are not those of {module.__name__}")
        names = {f.name for f in dataclasses.fields(snap)}
        stored = set(state.get("fields", {}))
        if names != stored:
            raise TrajectoryError(f"the record's {snap.__name__} fields differ from this hlynr's "
                                  f"(record: {sorted(stored)}; here: {sorted(names)})")
        return snap, scene

    def states(self, row: int, episode: int) -> tuple[list[Any], Any]:
        """The snapshots (first state, then one per step) and the scene of ``row``'s ``episode``,
        as the env's renderer records them (``draw_frame(states[:t + 1], scene)`` draws step t)."""
        snap_cls, scene_cls = self._state_classes()
        c = self.columns
        idx = np.flatnonzero((c["state.row"] == row) & (c["state.episode"] == episode))
        if not len(idx):
            raise TrajectoryError(f"no states of episode {episode} of row {self.labels[row]!r}")
        idx = idx[np.argsort(c["state.step"][idx], kind="stable")]
        fields = self.meta["state"]["fields"]
        out = []
        for i in idx.tolist():
            values: dict[str, Any] = {}
            for name, kind in fields.items():
                if kind == "none":
                    values[name] = None
                    continue
                v = c[f"state.{name}"][i]
                if kind == "optional" and not bool(c[f"state.{name}.present"][i]):
                    values[name] = None
                elif kind in ("array", "optional"):
                    values[name] = np.array(v)
                else:
                    values[name] = v.item()
            out.append(snap_cls(**values))
        pos = self.episode_indices(row).index(episode)
        data = self.meta["scenes"][row][pos]
        scene = scene_cls(**{k: _tuples(v) for k, v in data.items()})
        return out, scene


def _info_columns(info_rows: list[list[dict[str, Any]]]) -> dict[str, np.ndarray]:
    """``info.<key>`` (float, NaN where a step's info lacks it) and ``text.<key>`` (str, ``""``)."""
    flat = [d for step in info_rows for d in step]
    numbers: dict[str, np.ndarray] = {}
    texts: dict[str, list[str]] = {}
    for i, d in enumerate(flat):  # one pass over the entries: most infos hold one or two
        for k, v in d.items():
            if isinstance(v, str):
                if k not in texts:
                    texts[k] = [""] * len(flat)
                texts[k][i] = v
            else:
                if k not in numbers:
                    numbers[k] = np.full(len(flat), np.nan)
                numbers[k][i] = v
    out = {f"info.{k}": numbers[k] for k in sorted(numbers)}
    out.update({f"text.{k}": np.array(texts[k], dtype=str) for k in sorted(texts)})
    return out


def _state_columns(states: Iterable[tuple[int, int, list[Any]]]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """``state.row/episode/step`` and one ``state.<field>`` column per snapshot field."""
    states = list(states)
    first: Any = states[0][2][0]
    names = [f.name for f in dataclasses.fields(first)]
    flat = [(ri, k, t, s) for ri, k, seq in states for t, s in enumerate(seq)]
    cols: dict[str, np.ndarray] = {
        "state.row": np.array([x[0] for x in flat], np.int32),
        "state.episode": np.array([x[1] for x in flat], np.int32),
        "state.step": np.array([x[2] for x in flat], np.int32),
    }
    kinds: dict[str, str] = {}
    for name in names:
        values = [getattr(x[3], name) for x in flat]
        present = [v is not None for v in values]
        if not any(present):
            kinds[name] = "none"
            continue
        sample = next(v for v in values if v is not None)
        if isinstance(sample, np.ndarray):
            fill = np.full_like(sample, np.nan, dtype=np.float64) if sample.dtype.kind == "f" else np.zeros_like(sample)
            cols[f"state.{name}"] = np.stack([v if v is not None else fill for v in values])
            kinds[name] = "array" if all(present) else "optional"
            if not all(present):
                cols[f"state.{name}.present"] = np.array(present, dtype=bool)
        elif isinstance(sample, str):
            cols[f"state.{name}"] = np.array(values, dtype=str)
            kinds[name] = "str"
        else:
            cols[f"state.{name}"] = np.array(values)
            kinds[name] = type(sample).__name__
    return cols, {"module": type(first).__module__, "snapshot": type(first).__name__, "fields": kinds}
