"""Recording evaluation episodes step by step (``evaluate.py --trajectories FILE``, replays).

:class:`TrajectoryRecorder` is the :class:`~hlynr.evaluation.episodes.StepRecorder` that
:func:`~hlynr.evaluation.episodes.run_episodes` calls at every reset and step of the episodes it
scores, so a record and the scores come from the very same steps. Per step and agent row it keeps
what the policy observed (the task's observation row: after the sensor wrappers, before the
learner's frame stacking and normalisation, i.e. what a baseline sees too), the action, the
reward, the step's info flags and, for a policy with an attention features extractor, the
actor's attention weights; per step and env copy the true state as the env's renderer snapshot
(:mod:`hlynr.envs.rendering`), so a replay is drawn from the record without re-simulating.
:class:`TrajectoryCollector` gathers the recorded rows of one evaluation into a
:class:`~hlynr.evaluation.trajectories.Trajectories` record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper
from stable_baselines3.common.vec_env.base_vec_env import VecEnvObs

from hlynr.algos.attention import attention_extractors
from hlynr.envs.factory import find_tap
from hlynr.envs.rendering import CopySnapshots, renderer_module
from hlynr.evaluation.trajectories import Trajectories

SKIPPED_INFO = ("terminal_observation", "terminal_critic_observation", "_final_info")
"""Info entries not kept per step (arrays; the final observation is the next row's business)."""


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
