"""One share of a batched Intercept VecEnv: an engine stepping its envs into flat result buffers.

The batched VecEnv steps its envs in one or several processes. Each process owns a contiguous
share of the envs (a :class:`Shard`: one :class:`~hlynr.envs.intercept.core.InterceptCore` over
that share) and writes each step's results into :class:`StepBuffers`: plain arrays in the
single-process case, rows of one shared-memory block when worker processes step the other
shares. Only arrays cross the process boundary; the parent builds the info dicts of finished
envs from them (:func:`done_infos`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from hlynr.envs.intercept.core import InterceptCore, final_info
from hlynr.envs.intercept.critic import TRUTH_DIM, truth_rows
from hlynr.envs.intercept.observation import OBS_DIM
from hlynr.envs.intercept.privileged import truth_view

_LAYOUT: tuple[tuple[str, Any, tuple[int, ...]], ...] = (
    ("actions", np.float64, (2,)),
    ("obs", np.float32, (OBS_DIM,)),
    ("terminal_obs", np.float32, (OBS_DIM,)),
    ("truth", np.float32, (TRUTH_DIM,)),
    ("terminal_truth", np.float32, (TRUTH_DIM,)),
    ("stats", np.float64, (4,)),
    ("reason", np.int64, ()),
    ("reward", np.float32, ()),
    ("done", np.bool_, ()),
    ("truncated", np.bool_, ()),
)
"""(field, dtype, per-env shape) of the result buffers (rows: envs)."""
_ALIGN = 64


@dataclass
class StepBuffers:
    """Per-env step inputs and results; row ``i`` belongs to env ``i`` (of the VecEnv or a share).

    ``actions`` (n, 2) float64 in; out: ``obs`` (n, OBS_DIM) float32, ``reward`` (n,) float32,
    ``done``/``truncated`` (n,) bool, and for the envs that finished this step their
    ``terminal_obs`` (final observation), ``reason`` (termination code) and ``stats`` (the
    ``FINAL_STATS`` numbers); those three rows are stale for envs that did not finish. With the
    critic state on (:meth:`Shard.enable_critic`): ``truth`` (n, TRUTH_DIM), the truth blocks of
    the current states, and ``terminal_truth``, those of the final states of finished envs.
    """

    actions: np.ndarray
    obs: np.ndarray
    terminal_obs: np.ndarray
    truth: np.ndarray
    terminal_truth: np.ndarray
    stats: np.ndarray
    reason: np.ndarray
    reward: np.ndarray
    done: np.ndarray
    truncated: np.ndarray

    @staticmethod
    def nbytes(n: int) -> int:
        """Bytes of a buffer block for ``n`` envs (see :meth:`view`)."""
        total = 0
        for _, dtype, shape in _LAYOUT:
            total += -(-n * int(np.prod(shape, dtype=int)) * np.dtype(dtype).itemsize // _ALIGN) * _ALIGN
        return total

    @classmethod
    def view(cls, block: Any, n: int) -> StepBuffers:
        """Buffers for ``n`` envs as NumPy views of ``block`` (any writable buffer of :meth:`nbytes`
        bytes, e.g. shared memory); ``None`` allocates private memory."""
        if block is None:
            block = bytearray(cls.nbytes(n))
        arrays: dict[str, np.ndarray] = {}
        offset = 0
        for name, dtype, shape in _LAYOUT:
            count = n * int(np.prod(shape, dtype=int))
            arrays[name] = np.frombuffer(block, dtype=dtype, count=count, offset=offset).reshape((n, *shape))
            offset += -(-count * np.dtype(dtype).itemsize // _ALIGN) * _ALIGN
        return cls(**arrays)

    def rows(self, lo: int, hi: int) -> StepBuffers:
        """Views of the rows ``lo:hi`` (a share's part of the VecEnv's buffers)."""
        return StepBuffers(**{f.name: getattr(self, f.name)[lo:hi] for f in fields(self)})


class Shard:
    """``core.n`` envs stepped as one batch, results written into ``buffers`` (same row count)."""

    def __init__(self, core: InterceptCore, buffers: StepBuffers, publish_obs: bool = True) -> None:
        """``publish_obs``: False leaves ``buffers.obs`` alone in :meth:`step`, whose caller then
        uses the returned observations (saves a copy in the process that assembles the results)."""
        if buffers.obs.shape[0] != core.n:
            raise ValueError(f"buffers have {buffers.obs.shape[0]} rows for {core.n} envs")
        self.core, self.buf, self.publish_obs = core, buffers, publish_obs
        self.critic = False
        """Whether each step also writes the privileged critic state (see :meth:`enable_critic`)."""
        self.on_finish: Callable[[np.ndarray, np.ndarray], None] | None = None
        """``on_finish(done_idx, reason)``: called in :meth:`step` with the envs that finished and
        every env's termination code, before those envs are reset (rendering reads final states)."""

    def reset(self, seeds: list[int] | None) -> None:
        """Reset every env (seeding env ``i`` with ``seeds[i]`` first if given); observations to ``obs``."""
        idx = np.arange(self.core.n)
        if seeds is not None:
            self.core.seed_idx(idx, seeds)
        self.buf.obs[...] = self.core.reset_idx(idx)
        if self.critic:
            self.buf.truth[...] = truth_rows(self.core)

    def step(self) -> np.ndarray:
        """Step every env with ``buf.actions``; finished envs are reset, their final observation and
        statistics go to ``terminal_obs``/``stats``/``reason``. Returns the observations."""
        core, buf = self.core, self.buf
        _, reward, term, trunc, reason = core.step(buf.actions, observe=False)
        done = term | trunc
        done_idx = np.flatnonzero(done)
        if done_idx.size:
            # final states of the finished envs, observed together with everyone's new state
            final = core.observation_inputs(done_idx)
            buf.stats[done_idx] = core.final_stats(done_idx)
            buf.reason[done_idx] = reason[done_idx]
            if self.critic:
                buf.terminal_truth[done_idx] = truth_rows(core, done_idx)
            if self.on_finish is not None:
                self.on_finish(done_idx, reason)
            core.restart_idx(done_idx)
            obs, final_obs = core.observe_after_reset(final)
            buf.terminal_obs[done_idx] = final_obs
        else:
            obs = core.observe()
        if self.publish_obs:
            buf.obs[...] = obs
        buf.reward[...] = reward
        buf.done[...] = done
        buf.truncated[...] = trunc
        if self.critic:
            buf.truth[...] = truth_rows(core)
        return obs

    # ---------------------------------------------------------------- control (by name in workers)
    def check_params(self, idx: list[int], params: dict[str, Any]) -> None:
        """Validate a curriculum change for the share's envs ``idx`` (local indices)."""
        self.core.check_params(np.asarray(idx, dtype=int), **params)

    def apply_params(self, idx: list[int], params: dict[str, Any]) -> None:
        """Apply a curriculum change (from each env's next reset) to the share's envs ``idx``."""
        self.core.apply_params(np.asarray(idx, dtype=int), **params)

    def models(self, idx: list[int]) -> list[Any]:
        """The parameter models of the share's envs ``idx``."""
        return [self.core.models[i] for i in idx]

    def enable_critic(self) -> None:
        """From now on publish the truth blocks (:mod:`~hlynr.envs.intercept.critic`) in
        ``truth``/``terminal_truth``; writes those of the current states at once."""
        self.critic = True
        self.buf.truth[...] = truth_rows(self.core)

    def truth_view(self) -> tuple[np.ndarray, np.ndarray]:
        """The truth sensor's observations of the share's current states and the rotations into
        each env's own action frame (:func:`~hlynr.envs.intercept.privileged.truth_view`)."""
        return truth_view(self.core)


CONTROL_METHODS: frozenset[str] = frozenset({"reset", "check_params", "apply_params", "models",
                                             "enable_critic", "truth_view"})
"""The :class:`Shard` methods a worker process runs on request (besides ``step``)."""


def done_infos(buf: StepBuffers, infos: list[dict[str, Any]], done_idx: list[int],
               critic: bool = False) -> None:
    """Write the final-step infos of the envs ``done_idx`` (rows of ``buf``) into ``infos``:
    episode statistics, ``TimeLimit.truncated`` and ``terminal_observation`` (a copy); with
    ``critic`` also ``terminal_critic_observation`` (final truth block, then final observation)."""
    # one conversion per field for all finished envs; each info gets its own row of one copy
    stats = buf.stats[done_idx].tolist()
    reason = buf.reason[done_idx].tolist()
    trunc = buf.truncated[done_idx].tolist()
    term_obs = buf.terminal_obs[done_idx]
    term_critic = (np.concatenate([buf.terminal_truth[done_idx], term_obs], axis=1)
                   if critic else None)
    for j, i in enumerate(done_idx):
        s = stats[j]
        info = final_info(reason[j], s[0], s[1], s[2], s[3])
        info["TimeLimit.truncated"] = trunc[j]
        info["terminal_observation"] = term_obs[j]
        if term_critic is not None:
            info["terminal_critic_observation"] = term_critic[j]
        infos[i] = info
