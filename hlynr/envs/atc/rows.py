"""``ATCRowsEngine``: :class:`~hlynr.envs.atc.engine.ATCEngine` as an
:class:`~hlynr.multiagent.engine.AgentRowsEngine`, and ``make_batched_atc``, the batched VecEnv of
aircraft rows (config ``env: {type: pettingzoo, id: hlynr/ATC-v0, vectoriser: batched}``).

Copy ``c`` seeded ``s + c`` follows exactly the trajectory of ``ATCEnv`` reset with seed
``s + c`` under the same actions, curriculum changes included: parameters are per copy and
change at that copy's next reset. Copies that share parameters are stepped as one
:class:`ATCEngine` batch; while a parameter change spreads over the copies (each takes it at its
own next reset) there is one batch per parameter set in use, and a batch that no copy uses any
more is dropped. Every batch holds all ``n_copies`` slots; a copy it does not own stays finished
there (zero rows, never stepped), so results are gathered by owner without re-indexing.

Critic rows (``critic_observation_space``): the global truth state of the copy (every aircraft
slot: active, position, velocity, altitude, exit; elapsed-time fraction) followed by the row's
one-hot slot id, as ``ATCEnv.agent_state``; terminal critic rows are taken before the copy's
aircraft go dark.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

import numpy as np
from gymnasium import spaces

from hlynr.envs.atc import layout as L
from hlynr.envs.atc.engine import ATCEngine
from hlynr.envs.atc.metrics import END_KEYS
from hlynr.envs.atc.params import ATCParams
from hlynr.envs.rendering import vec_rendering
from hlynr.multiagent.engine import PendingParams, RowsStep
from hlynr.multiagent.rows import AgentRowsVecEnv
from hlynr.multiagent.workers import sharded_or_single
from hlynr.registries import EntityLayout


class ATCRowsEngine(PendingParams):
    """``n_copies`` copies of ``hlynr/ATC-v0`` with per-copy parameters (see the module docstring)."""

    # AgentRowsEngine's types (a protocol's attributes must match exactly).
    observation_space: spaces.Box
    action_space: spaces.Box
    critic_observation_space: spaces.Box | None
    entity_layout: EntityLayout | None
    end_keys: tuple[str, ...] = END_KEYS

    def __init__(self, n_copies: int, params: ATCParams) -> None:
        if n_copies < 1:
            raise ValueError(f"n_copies must be >= 1, got {n_copies}")
        self.n_copies = n_copies
        self.rows_per_copy = m = params.max_aircraft
        first = ATCEngine(params, n_copies)
        self.entity_layout = first.layout
        """Own block, intruder slots and validity index of an observation row."""
        self.observation_space = spaces.Box(-L.OBS_CLIP, L.OBS_CLIP, (first.obs_size,), np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, (L.ACTION_SIZE,), np.float32)
        self._critic_size = first.state_size + m
        self.critic_observation_space = spaces.Box(
            -L.OBS_CLIP, L.OBS_CLIP, (self._critic_size,), np.float32)
        self._groups: list[ATCEngine] = [first]
        self._owner = np.zeros(n_copies, dtype=np.int64)
        self._init_params([params] * n_copies)
        self._rngs: list[np.random.Generator | None] = [None] * n_copies

    # ------------------------------------------------------------------ parameters
    def _group_of(self, params: ATCParams) -> int:
        for g, eng in enumerate(self._groups):
            if eng.params == params:
                return g
        self._groups.append(ATCEngine(params, self.n_copies))
        return len(self._groups) - 1

    def _drop_unused(self) -> None:
        used = sorted(set(self._owner.tolist()))
        if len(used) == len(self._groups):
            return
        remap = np.zeros(len(self._groups), dtype=np.int64)
        remap[used] = np.arange(len(used))
        self._groups = [self._groups[g] for g in used]
        self._owner = remap[self._owner]

    # ------------------------------------------------------------------ episodes
    def seed(self, idx: np.ndarray, seeds: Sequence[int]) -> None:
        """Copy ``idx[k]``'s next episodes follow from ``seeds[k]`` alone."""
        for i, s in zip(np.asarray(idx, dtype=int), seeds):
            self._rngs[int(i)] = np.random.default_rng(int(s))

    def reset(self, idx: np.ndarray) -> np.ndarray:
        """Start new episodes in copies ``idx``; their observations (len(idx), M, D)."""
        idx = np.asarray(idx, dtype=np.int64)
        for i in self._take_pending(idx):
            self._owner[i] = self._group_of(self._models[i])
        for i in idx.tolist():
            if self._rngs[i] is None:
                self._rngs[i] = np.random.default_rng()
        out = np.empty((len(idx), self.rows_per_copy, self.observation_space.shape[0]), np.float32)
        for g, eng in enumerate(self._groups):
            mine = np.flatnonzero(self._owner[idx] == g)
            if mine.size:
                copies = idx[mine]
                for c in copies.tolist():
                    eng.rngs[c] = self._rngs[c]
                out[mine] = eng.reset(None, copies)[copies]
        self._drop_unused()
        return out

    def step(self, actions: np.ndarray) -> RowsStep:
        """Advance every copy by ``dt`` with ``actions`` (N, M, 2); finished copies are not reset."""
        results = [eng.step(actions) for eng in self._groups]
        if len(results) == 1:
            obs, rew, term, trunc, infos = results[0]
            active = self._groups[0].active.copy()
        else:
            own, every = self._owner, np.arange(self.n_copies)
            obs, rew, term, trunc = (np.stack(field)[own, every] for field in zip(*(r[:4] for r in results)))
            infos = [results[g][4][c] for c, g in enumerate(own.tolist())]
            active = np.stack([eng.active for eng in self._groups])[own, every]
        stats = np.zeros((self.n_copies, len(END_KEYS)))
        for c in np.flatnonzero(term | trunc).tolist():
            stats[c] = [float(infos[c][k]) for k in END_KEYS]
        return RowsStep(obs, rew, term, trunc, rew.sum(axis=1), stats, active)

    def engine_of(self, copy: int) -> ATCEngine:
        """The :class:`ATCEngine` batch that steps ``copy`` (its state is at index ``copy`` there)."""
        return self._groups[int(self._owner[int(copy)])]

    # ------------------------------------------------------------------ global state
    def critic_observations(self, idx: np.ndarray | None = None) -> np.ndarray:
        """Critic rows (len(idx) or N, M, state_size + M) of copies ``idx`` (default all).

        Right after a step, finished copies (not yet reset) give their terminal critic rows."""
        idx = np.arange(self.n_copies) if idx is None else np.asarray(idx, dtype=np.int64)
        out = np.empty((len(idx), self.rows_per_copy, self._critic_size), np.float32)
        for g, eng in enumerate(self._groups):
            mine = np.flatnonzero(self._owner[idx] == g)
            if mine.size:
                copies = idx[mine]
                ended = eng.done[copies]
                out[mine] = np.where(ended[:, None, None], eng.agent_states(copies, terminal=True),
                                     eng.agent_states(copies))
        return out


def make_batched_atc(n_envs: int, seed: int | None = None, workers: int = 1,
                     render_mode: str | None = None, **env_kwargs: Any) -> AgentRowsVecEnv:
    """``n_envs`` copies of ``hlynr/ATC-v0`` (kwargs of :class:`ATCParams`) as aircraft rows;
    ``workers > 1`` splits the copies over that many processes (same trajectories);
    ``render_mode="rgb_array"`` draws copy ``render_copy`` (:mod:`hlynr.envs.atc.render`)."""
    factory = partial(ATCRowsEngine, params=ATCParams(**env_kwargs))
    return AgentRowsVecEnv(sharded_or_single(factory, n_envs, workers), seed=seed,
                           **vec_rendering(render_mode, "hlynr.envs.atc.render", "hlynr/ATC-v0"))
