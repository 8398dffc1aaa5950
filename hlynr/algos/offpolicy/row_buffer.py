"""``RowReplayBuffer``: a replay buffer of multi-agent rows that keeps only the rows with an agent.

A batched multi-agent VecEnv (:class:`~hlynr.multiagent.rows.AgentRowsVecEnv`) gives one row per
agent slot of each env copy, and a slot keeps its row when it holds no agent (an inactive slot, a
lost agent, an aircraft past its exit). SB3's ``ReplayBuffer`` stores every row of every step, so
it fills with empty-slot transitions that carry no information. This buffer stores transitions,
not steps: each ``add`` writes, with a few vectorised NumPy operations, the rows the env marks as
live when the step began (:class:`~hlynr.registries.LiveRowsSource` ``live_before``) one after
another into a ring of ``buffer_size`` transitions, and nothing else:

* a row live before the step is stored, including a row whose agent ended in this step (lost,
  intercepted, past its exit): that transition is terminal, ``done`` is set for it even while
  its copy's episode goes on (the critic must not bootstrap from the empty slot that follows);
* a row whose episode ended on a time limit with its agent still live (``live_after``) keeps
  SB3's timeout handling (``TimeLimit.truncated``: bootstrapped from the terminal observation);
* a row without a live agent before the step is never stored.

Minibatches are drawn uniformly over the stored transitions. The buffer is laid out as SB3's
with one env (``(buffer_size, 1, ...)`` arrays), so :func:`~hlynr.algos.offpolicy.replay.gather`
reads it (``VecNormalize`` normalisation included) and hlynr's fast ``train()`` takes every
minibatch of a call from one gather; :meth:`sample` returns the same minibatches for SB3's own
``train()``. The env is not part of the buffer: the algorithm binds it (:meth:`bind`) before
training, so a buffer saved with ``save_replay_buffer`` pickles without it and loads back into a
run that resumes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.type_aliases import ReplayBufferSamples
from stable_baselines3.common.vec_env import VecNormalize

from hlynr.algos.offpolicy.replay import OwnDraws, gather
from hlynr.registries import LiveRowsSource


class RowReplayBuffer(ReplayBuffer, OwnDraws):
    """Transitions of the live rows of a multi-agent row VecEnv (see the module docstring).

    :param buffer_size: transitions kept (all rows together), the oldest overwritten first.
    :param n_envs: rows per step (the VecEnv's ``num_envs``).
    """

    def __init__(self, buffer_size: int, observation_space: spaces.Space, action_space: spaces.Space,
                 device: th.device | str = "auto", n_envs: int = 1, optimize_memory_usage: bool = False,
                 handle_timeout_termination: bool = True) -> None:
        if isinstance(observation_space, spaces.Dict):
            raise ValueError("RowReplayBuffer stores array observations, not dict observations")
        if optimize_memory_usage:
            raise ValueError("RowReplayBuffer stores each transition's next observation: it cannot "
                             "optimize_memory_usage (a row's next step is not the next slot)")
        super().__init__(buffer_size, observation_space, action_space, device, n_envs=1,
                         optimize_memory_usage=False, handle_timeout_termination=handle_timeout_termination)
        self.rows = n_envs
        """Rows per step (each ``add`` receives that many)."""
        self.stored = 0
        """Transitions stored since the buffer was made (never decreases; counts overwritten ones)."""
        self._source: LiveRowsSource | None = None

    def bind(self, source: LiveRowsSource) -> None:
        """Read which rows to store from ``source``, the VecEnv whose steps :meth:`add` receives."""
        rows = len(source.live_before)
        if rows != self.rows:
            raise ValueError(f"RowReplayBuffer was made for {self.rows} rows per step; the env has {rows}")
        self._source = source

    def add(self, obs: np.ndarray, next_obs: np.ndarray, action: np.ndarray, reward: np.ndarray,
            done: np.ndarray, infos: list[dict[str, Any]]) -> None:
        """Store the transitions of the rows that had a live agent when the step began."""
        if self._source is None:
            raise RuntimeError("RowReplayBuffer is not bound to an env: hlynr's SAC, TD3 and TQC bind "
                               "it to their multi-agent row VecEnv when learning starts")
        kept = np.flatnonzero(self._source.live_before)[-self.buffer_size:]
        k = kept.size
        if k == 0:
            return
        at = (self.pos + np.arange(k)) % self.buffer_size
        shape = (self.rows, *self.obs_shape)
        self.observations[at, 0] = np.asarray(obs).reshape(shape)[kept]
        self.next_observations[at, 0] = np.asarray(next_obs).reshape(shape)[kept]
        self.actions[at, 0] = np.asarray(action).reshape(self.rows, self.action_dim)[kept]
        self.rewards[at, 0] = np.asarray(reward).reshape(-1)[kept]
        finished = np.asarray(done, dtype=bool).reshape(-1)[kept]
        gone = ~np.asarray(self._source.live_after, dtype=bool)[kept]
        self.dones[at, 0] = finished | gone
        if self.handle_timeout_termination:
            timeouts = np.zeros(k, dtype=bool)
            ended = np.flatnonzero(finished & ~gone)  # rows of finished copies whose agent lives
            timeouts[ended] = [bool(infos[i].get("TimeLimit.truncated", False)) for i in kept[ended]]
            self.timeouts[at, 0] = timeouts
        self.full = self.full or self.pos + k >= self.buffer_size
        self.pos = (self.pos + k) % self.buffer_size
        self.stored += k

    def draw(self, batch_size: int, n_batches: int) -> tuple[np.ndarray, np.ndarray]:
        """``n_batches * batch_size`` transition indices drawn uniformly over the stored ones
        (NumPy's global generator, as SB3 draws), and the env indices (all 0)."""
        upper = self.size()
        if upper == 0:
            raise ValueError("RowReplayBuffer is empty: no row has carried a live agent yet")
        n = batch_size * n_batches
        return np.random.randint(0, upper, size=n), np.zeros(n, dtype=np.int64)

    def sample(self, batch_size: int, env: VecNormalize | None = None) -> ReplayBufferSamples:
        """``batch_size`` transitions drawn uniformly over the stored ones."""
        samples = gather(self, *self.draw(batch_size, 1), env)
        assert isinstance(samples, ReplayBufferSamples)
        return samples

    def __getstate__(self) -> dict[str, Any]:
        """The buffer without the env it is bound to (saved with ``save_replay_buffer``)."""
        state = self.__dict__.copy()
        state["_source"] = None
        return state
