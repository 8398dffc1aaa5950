"""Per-step trajectory records of evaluation episodes (``evaluate.py --trajectories FILE``, replays).

:class:`TrajectoryRecorder` is the :class:`~hlynr.evaluation.episodes.StepRecorder` that
:func:`~hlynr.evaluation.episodes.run_episodes` calls at every reset and step of the episodes it
scores, so a record and the scores come from the very same steps. Per step and agent row it keeps
what the policy observed (the task's observation row: after the sensor wrappers, before the
learner's frame stacking and normalisation, i.e. what a baseline sees too), the action, the
reward, the step's info flags and, for a policy with an attention features extractor, the
actor's attention weights; per step and env copy the true state as the env's renderer snapshot
(:mod:`hlynr.envs.rendering`), so a replay is drawn from the record without re-simulating.

:class:`Trajectories` is a record of several evaluated rows (policies and baselines on the same
seeds): columns of equal length (one NumPy array each) and a JSON metadata entry, saved as one
``.npz`` file written atomically. The columns are documented in docs/rendering.md ("Replays and
trajectories"); :meth:`Trajectories.outcomes` recomputes evaluate.py's per-episode outcomes from
them.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper
from stable_baselines3.common.vec_env.base_vec_env import VecEnvObs

from hlynr.algos.attention import attention_extractors
from hlynr.envs.factory import find_tap
from hlynr.envs.rendering import RENDER_MODULES, CopySnapshots, renderer_module
from hlynr.evaluation.episodes import EpisodeRecord

FORMAT = "hlynr-trajectories"
VERSION = 1
META_KEY = "meta"
SKIPPED_INFO = ("terminal_observation", "terminal_critic_observation", "_final_info")
"""Info entries not kept per step (arrays; the final observation is the next row's business)."""
BOOKKEEPING = ("episode.r", "episode.l", "TimeLimit.truncated", "active")
"""Info columns evaluate.py does not report as final-step values (see ``numeric_items``)."""


class TrajectoryError(Exception):
    """A trajectory file cannot be read, or does not fit what it is used for."""


# ------------------------------------------------------------------ recording
@dataclass
class EpisodeSteps:
    """The steps of one recorded episode of one env copy (``R`` agent rows)."""

    episode: int
    """Episode index ``k`` of the evaluation (its seed is the evaluation seed + ``k``)."""
    obs: list[np.ndarray] = field(default_factory=list)
    """Per step: the observation rows ``(R, d)`` the step's actions were chosen on."""
    actions: list[np.ndarray] = field(default_factory=list)
    rewards: list[np.ndarray] = field(default_factory=list)
    infos: list[list[dict[str, Any]]] = field(default_factory=list)
    """Per step and row: the info's scalars (numbers, flags, strings; ``episode`` flattened)."""
    attention: list[np.ndarray] = field(default_factory=list)
    valid: list[np.ndarray] = field(default_factory=list)
    states: list[Any] = field(default_factory=list)
    """Renderer snapshots of the copy: the first state, then the state after every step."""
    scene: Any = None


@dataclass
class RowRecord:
    """The recorded episodes of one evaluated row (a policy or a baseline)."""

    label: str
    episodes: list[EpisodeSteps]
    rows_per_episode: int
    spec: dict[str, Any] = field(default_factory=dict)
    """What was evaluated: ``kind`` (model / baseline), the model path or baseline name and
    parameters, env parameters, stage; stored in the metadata."""
    fps: float | None = None
    attention_slots: int = 0


def _flat(x: Any, n: int) -> np.ndarray:
    """``(n, d)`` float32 rows of an observation or action batch, a copy (a VecEnv may reuse its
    buffers); dict observations: their entries by key, each flattened, side by side."""
    if isinstance(x, dict):
        return np.concatenate([_flat(x[k], n) for k in sorted(x)], axis=1)
    return np.array(x, dtype=np.float32, copy=True).reshape(n, -1)


def flat_info(info: dict[str, Any]) -> dict[str, Any]:
    """The scalars of one step's info (bools and numbers as floats, strings as they are; the
    ``episode`` statistics as ``episode.r`` / ``episode.l``, without the wall-clock ``t``, so a
    record depends only on the episodes); arrays are left out."""
    out: dict[str, Any] = {}
    for key, value in info.items():
        if key in SKIPPED_INFO:
            continue
        if isinstance(value, dict):
            for k, v in value.items():
                if key == "episode" and k == "t":
                    continue
                if isinstance(v, (bool, int, float, np.bool_, np.integer, np.floating)):
                    out[f"{key}.{k}"] = float(v)
        elif isinstance(value, str):
            out[key] = value
        elif isinstance(value, (bool, int, float, np.bool_, np.integer, np.floating)):
            out[key] = float(value)
        elif isinstance(value, np.ndarray) and value.shape == ():
            out[key] = float(value)
    return out


def _inner(venv: VecEnv) -> VecEnv:
    while isinstance(venv, VecEnvWrapper):
        venv = venv.venv
    return venv


class TrajectoryRecorder:
    """Keeps every step of the episodes :func:`~hlynr.evaluation.episodes.run_episodes` scores.

    ``env_id`` picks the renderer whose snapshots are the true state; the state is recorded when
    the innermost VecEnv offers ``watch_copies`` (hlynr's batched VecEnvs, every copy in this
    process), otherwise only observations, actions, rewards and infos are. ``model``: the policy,
    whose actor's attention weights are recorded when it has an attention extractor.
    """

    def __init__(self, venv: VecEnv, env_id: str, model: Any = None) -> None:
        self.rows = int(getattr(venv, "rows_per_episode", 1))
        self.n_copies = venv.num_envs // self.rows
        self.num_envs = venv.num_envs
        self.tap = find_tap(venv)
        self.snapshots: CopySnapshots[Any, Any, Any] | None = None
        self.fps: float | None = None
        module = renderer_module(env_id)
        inner = _inner(venv)
        watch = getattr(inner, "watch_copies", None)
        if module is not None and callable(watch):
            self.snapshots = CopySnapshots(module.RENDERER, self.n_copies)
            watch(self.snapshots)
            engine = getattr(inner, "core", None)
            engine = getattr(inner, "engine", None) if engine is None else engine
            self.fps = float(module.RENDERER.fps(engine))
        self.extractor = None
        if model is not None and hasattr(model, "policy"):
            found = attention_extractors(model.policy)
            self.extractor = found[0] if found else None
        self.slots = int(self.extractor.layout.slots) if self.extractor is not None else 0
        self.episodes: list[EpisodeSteps] = []
        self._open: dict[int, EpisodeSteps] = {}
        self._obs: np.ndarray | None = None

    def _seen(self, obs: VecEnvObs) -> np.ndarray:
        task = self.tap.obs if self.tap is not None and self.tap.obs is not None else obs
        return _flat(task, self.num_envs)

    def _wanted(self) -> None:
        if self.snapshots is not None:
            mask = np.zeros(self.n_copies, dtype=bool)
            mask[list(self._open)] = True
            self.snapshots.wanted = mask

    def wave(self, first_episode: int, n_active: int, obs: VecEnvObs) -> None:
        """Copies ``0 .. n_active - 1`` start episodes ``first_episode + c``."""
        self._open = {c: EpisodeSteps(first_episode + c) for c in range(n_active)}
        self._obs = self._seen(obs)
        if self.snapshots is not None:
            for c, ep in self._open.items():
                ep.states.append(self.snapshots.current[c])
                ep.scene = self.snapshots.scenes[c]
        self._wanted()

    def step(self, actions: np.ndarray, obs: VecEnvObs, rewards: np.ndarray, dones: np.ndarray,
             infos: list[dict[str, Any]], live: np.ndarray) -> None:
        """Keep the step of every copy still recorded."""
        assert self._obs is not None, "wave() comes first"
        r = self.rows
        acts = _flat(actions, self.num_envs)
        rew = np.array(rewards, dtype=np.float64, copy=True).reshape(-1)
        att = valid = None
        ext = self.extractor
        if ext is not None and ext.last_weights is not None and ext.last_valid is not None:
            att = ext.last_weights.cpu().numpy().reshape(self.num_envs, -1)
            valid = ext.last_valid.cpu().numpy().reshape(self.num_envs, -1)
        for c in list(self._open):
            ep = self._open[c]
            lo, hi = c * r, (c + 1) * r
            ep.obs.append(self._obs[lo:hi])
            ep.actions.append(acts[lo:hi])
            ep.rewards.append(rew[lo:hi])
            ep.infos.append([flat_info(infos[i]) for i in range(lo, hi)])
            if att is not None and valid is not None:
                ep.attention.append(att[lo:hi])
                ep.valid.append(valid[lo:hi])
            if self.snapshots is not None:
                ep.states.append(self.snapshots.current[c])
            if dones[lo]:
                if self.snapshots is not None and not self.snapshots.ended[c]:
                    raise RuntimeError(f"env copy {c} ended but its final state was not kept")
                self.episodes.append(ep)
                del self._open[c]
        self._obs = self._seen(obs)
        self._wanted()

    def record(self, label: str, spec: dict[str, Any]) -> RowRecord:
        """The recorded episodes (by episode index) as the row ``label``."""
        return RowRecord(label, sorted(self.episodes, key=lambda e: e.episode), self.rows, spec,
                         self.fps, self.slots)


class TrajectoryCollector:
    """Collects the recorded rows of one evaluation (policies and baselines on the same seeds).

    Pass :meth:`recorder` as ``record`` to :func:`~hlynr.evaluation.scoring.score_model` /
    ``score_baseline``, then :meth:`add` the row it recorded; :meth:`trajectories` builds the record.
    """

    def __init__(self, env_id: str) -> None:
        self.env_id = env_id
        self.rows: list[RowRecord] = []
        self._last: TrajectoryRecorder | None = None

    def recorder(self, venv: VecEnv, model: Any = None) -> TrajectoryRecorder:
        """The recorder of the next scored row."""
        self._last = TrajectoryRecorder(venv, self.env_id, model)
        return self._last

    def add(self, label: str, spec: dict[str, Any]) -> None:
        """Keep what the latest recorder recorded as the row ``label``."""
        if self._last is None:
            raise RuntimeError("nothing was recorded since the last add()")
        self.rows.append(self._last.record(label, spec))
        self._last = None

    def trajectories(self, *, seed: int, episodes: int, deterministic: bool, success_key: str,
                     **extra: Any) -> Trajectories:
        """The record of every row added."""
        return Trajectories.build(self.rows, env_id=self.env_id, seed=seed, episodes=episodes,
                                  deterministic=deterministic, success_key=success_key, **extra)


# ------------------------------------------------------------------ the record
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
