"""Recurrent rollout buffers that build padded minibatches with one gather per field.

sb3-contrib's buffers pad every field of every minibatch with a Python list of per-sequence
tensors and ``pad_sequence`` (9 fields x n_seq tensor copies per minibatch). These subclasses
convert the flattened rollout to tensors once per rollout (sharing memory with the NumPy arrays
on the CPU; the five per-step scalars stacked into one table) and build each padded field with
one index gather whose padded slots are then zeroed. The sequence layout, the random split point
(same ``np.random`` draw) and every returned tensor are bit-identical to sb3-contrib's.

hlynr's ``train()`` uses :meth:`~_FastRecurrentBufferMixin.get_real_rows` instead: the same
minibatches without padding (one gather per field per epoch, minibatches are slices), plus the
position of each real row in the LSTM's padded layout.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, Generic, NamedTuple, TypeVar

import numpy as np
import torch as th
from sb3_contrib.common.recurrent.buffers import RecurrentDictRolloutBuffer, RecurrentRolloutBuffer
from sb3_contrib.common.recurrent.type_aliases import (
    RecurrentDictRolloutBufferSamples,
    RecurrentRolloutBufferSamples,
    RNNStates,
)
from stable_baselines3.common.buffers import DictRolloutBuffer, RolloutBuffer
from stable_baselines3.common.vec_env import VecNormalize

_STATE_NAMES = ("hidden_states_pi", "cell_states_pi", "hidden_states_vf", "cell_states_vf")
_SCALAR_NAMES = ("values", "log_probs", "advantages", "returns", "episode_starts")


def padded_layout(
    episode_starts: np.ndarray, env_change: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Sequence layout of one minibatch, exactly as sb3-contrib's ``create_sequencers``.

    :param episode_starts: ``(batch,)`` episode-start flags of the minibatch, in buffer order.
    :param env_change: ``(batch,)`` 1.0 where the data switches to another environment.
    :return: ``seq_start_indices`` ``(n_seq,)``, ``positions`` ``(n_seq * max_len,)`` the
        minibatch position of each padded slot (``-1`` for padding), ``lengths`` ``(n_seq,)``,
        and ``max_len``.
    """
    batch = len(episode_starts)
    seq_start = np.logical_or(episode_starts, env_change).reshape(-1)
    seq_start[0] = True
    starts = np.flatnonzero(seq_start)
    lengths = np.diff(np.append(starts, batch))
    max_len = int(lengths.max())
    offsets = np.arange(max_len)
    positions = starts[:, None] + offsets[None, :]
    positions = np.where(offsets[None, :] < lengths[:, None], positions, -1).reshape(-1)
    return starts, positions, lengths, max_len


class RealRowsBatch(NamedTuple):
    """One minibatch for hlynr's ``train()``: every per-step field at the real rows only.

    The real rows are the minibatch's samples in buffer order, which is the order of the rows
    sb3-contrib's padding mask keeps. Only the LSTM needs the padded layout; ``positions`` says
    where each real row sits in it.
    """

    #: ``(batch, ...)`` observations (a dict of them for dict observation spaces).
    observations: th.Tensor | dict[str, th.Tensor]
    #: ``(batch, ...)`` actions as stored.
    actions: th.Tensor
    old_values: th.Tensor
    old_log_prob: th.Tensor
    advantages: th.Tensor
    returns: th.Tensor
    #: States before the first step of each sequence, already zeroed where that step starts
    #: an episode (sb3-contrib's ``(1 - episode_start) * state`` at step 0).
    lstm_states: RNNStates
    #: ``(batch,)`` index of each real row in the time-major padded ``(max_len * n_seq)`` layout.
    positions: th.Tensor
    n_seq: int
    max_len: int


class _PaddedFields(NamedTuple):
    """The padded fields of a sampled minibatch after its observations, in the order of
    sb3-contrib's ``Recurrent(Dict)RolloutBufferSamples``."""

    actions: th.Tensor
    old_values: th.Tensor
    old_log_prob: th.Tensor
    advantages: th.Tensor
    returns: th.Tensor
    lstm_states: RNNStates
    episode_starts: th.Tensor
    mask: th.Tensor


_Samples = TypeVar("_Samples", RecurrentRolloutBufferSamples, RecurrentDictRolloutBufferSamples)


def _tensor(array: np.ndarray, device: th.device) -> th.Tensor:
    """``array`` as a tensor of the same dtype on ``device`` (no copy on the CPU)."""
    return th.as_tensor(np.ascontiguousarray(array)).to(device)


def _gather_padded(source: th.Tensor, rows: th.Tensor, padding: th.Tensor) -> th.Tensor:
    """``source[rows]`` with the rows flagged in ``padding`` set to exactly zero."""
    out = source.index_select(0, rows)
    return out.masked_fill_(padding.view(-1, *([1] * (out.dim() - 1))), 0)


class _FastRecurrentBufferMixin(Generic[_Samples]):
    """Shared fast ``get``/``get_real_rows`` and sampling for the flat and dict recurrent buffers.

    ``_Samples`` is the minibatch type ``get`` yields (sb3-contrib's, flat or dict).
    """

    # Provided by the sb3 buffer classes this mixes into.
    buffer_size: int
    n_envs: int
    device: th.device
    pos: int
    generator_ready: bool
    full: bool
    actions: np.ndarray
    episode_starts: np.ndarray
    # Provided by sb3-contrib's recurrent buffers, ``(buffer_size, n_layers, n_envs, hidden)``.
    hidden_states_pi: np.ndarray
    cell_states_pi: np.ndarray
    hidden_states_vf: np.ndarray
    cell_states_vf: np.ndarray
    # Built once per rollout by _flatten_rollout (observations: a dict of them for dict spaces).
    _t_observations: th.Tensor | dict[str, th.Tensor]
    _t_actions: th.Tensor
    _t_scalars: th.Tensor
    _t_states: th.Tensor
    # Built by _real_rows_tables, for the rollout whose _t_actions is _real_rows_ready_for.
    _t_states_real: th.Tensor
    _t_scalars_real: th.Tensor
    _real_rows_ready_for: th.Tensor | None = None

    def _store_states(self, lstm_states: RNNStates) -> None:
        """Store the LSTM states of the step at ``pos`` (the states *before* the step)."""
        pos = self.pos
        self.hidden_states_pi[pos] = lstm_states.pi[0].detach().cpu().numpy()
        self.cell_states_pi[pos] = lstm_states.pi[1].detach().cpu().numpy()
        self.hidden_states_vf[pos] = lstm_states.vf[0].detach().cpu().numpy()
        self.cell_states_vf[pos] = lstm_states.vf[1].detach().cpu().numpy()

    def _flatten_observations(self) -> th.Tensor | dict[str, th.Tensor]:
        """Swap/flatten the stored observations like every field; return them as tensors."""
        raise NotImplementedError

    def _get_samples(
        self, batch_inds: np.ndarray, env_change: np.ndarray, env: VecNormalize | None = None
    ) -> _Samples:
        """The padded minibatch of ``batch_inds`` (sb3-contrib's layout)."""
        raise NotImplementedError

    def _flatten_rollout(self) -> None:
        """Swap/flatten every field to ``(n_envs * n_steps, ...)`` (env-major), as sb3-contrib."""
        for name in _STATE_NAMES:
            self.__dict__[name] = self.__dict__[name].swapaxes(1, 2)
        self._t_observations = self._flatten_observations()
        for name in ("actions", *_SCALAR_NAMES[:-1], *_STATE_NAMES, "episode_starts"):
            self.__dict__[name] = RolloutBuffer.swap_and_flatten(self.__dict__[name])
        # Tensors built once per rollout (on the CPU they share memory with the arrays above).
        self._t_actions = _tensor(self.actions, self.device)
        # (N, 6): the five per-step scalars and a column of ones that becomes the padding mask.
        scalars: list[np.ndarray] = [self.__dict__[n].reshape(-1) for n in _SCALAR_NAMES]
        self._t_scalars = _tensor(
            np.stack([*scalars, np.ones_like(scalars[0])], axis=1), self.device
        )
        # (N, 4, n_layers, hidden): gathered at sequence starts only.
        self._t_states = _tensor(
            np.stack([self.__dict__[n] for n in _STATE_NAMES], axis=1), self.device
        )

    def _padded_minibatches(self, batch_size: int | None) -> Generator[_Samples, None, None]:
        """Yield padded minibatches (same order, split point and content as sb3-contrib)."""
        assert self.full, "Rollout buffer must be full before sampling from it"
        if not self.generator_ready:
            self._flatten_rollout()
            self.generator_ready = True
        total = self.buffer_size * self.n_envs
        if batch_size is None:
            batch_size = total
        # Same shuffle trick and RNG draw as sb3-contrib: keep order, split in two.
        split_index = np.random.randint(total)
        indices = np.arange(total)
        indices = np.concatenate((indices[split_index:], indices[:split_index]))
        env_change = np.zeros((self.buffer_size, self.n_envs))
        env_change[0, :] = 1.0
        env_change = RolloutBuffer.swap_and_flatten(env_change)
        start_idx = 0
        while start_idx < total:
            batch_inds = indices[start_idx : start_idx + batch_size]
            yield self._get_samples(batch_inds, env_change)
            start_idx += batch_size

    def _real_rows_tables(self) -> None:
        """Tables of :meth:`get_real_rows`, built once per rollout (after the flattening).

        The stored LSTM states are multiplied by ``1 - episode_start`` of their own step, which
        is what sb3-contrib does to the first state of every sequence (a sequence that starts at
        an episode start); the multiplication is by exactly 0.0 or 1.0.
        """
        keep = (1.0 - self.episode_starts.reshape(-1)).astype(np.float32)
        # (4, N, n_layers, hidden) -> (4, n_layers, N, hidden): a gather along dim 2 then yields
        # each state in the LSTM's (n_layers, n_seq, hidden) layout, contiguous.
        states = np.stack([self.__dict__[n] for n in _STATE_NAMES]) * keep[None, :, None, None]
        self._t_states_real = _tensor(states.transpose(0, 2, 1, 3), self.device)
        # (4, N): old values, old log-probs, advantages, returns.
        self._t_scalars_real = _tensor(
            np.stack([self.__dict__[n].reshape(-1) for n in _SCALAR_NAMES[:4]]), self.device
        )

    def get_real_rows(self, batch_size: int | None = None) -> Generator[RealRowsBatch]:
        """Minibatches as :class:`RealRowsBatch` (same samples, order and RNG draw as ``get``)."""
        assert self.full, "Rollout buffer must be full before sampling from it"
        if not self.generator_ready:
            self._flatten_rollout()
            self.generator_ready = True
        if self._real_rows_ready_for is not self._t_actions:
            self._real_rows_tables()
            self._real_rows_ready_for = self._t_actions
        total = self.buffer_size * self.n_envs
        if batch_size is None:
            batch_size = total
        split_index = np.random.randint(total)
        indices = np.concatenate((np.arange(split_index, total), np.arange(split_index)))
        # Everything is gathered for the whole epoch at once; minibatches are slices of it.
        # The flattened buffer is env-major: each environment's data starts every buffer_size
        # rows. A minibatch also starts a sequence, as in sb3-contrib.
        seq_start = (self.episode_starts.reshape(-1)[indices] > 0) | (
            indices % self.buffer_size == 0
        )
        seq_start[::batch_size] = True
        starts = np.flatnonzero(seq_start)  # epoch-wide positions of all sequence starts
        seq_id = np.cumsum(seq_start) - 1  # sequence of each position
        step = np.arange(total) - starts[seq_id]  # time step of each position in its sequence
        device = self.device
        inds = th.as_tensor(indices, device=device)
        observations: th.Tensor | dict[str, th.Tensor]
        if isinstance(self._t_observations, dict):
            observations = {k: v.index_select(0, inds) for k, v in self._t_observations.items()}
        else:
            observations = self._t_observations.index_select(0, inds)
        actions = self._t_actions.index_select(0, inds)
        scalars = self._t_scalars_real.index_select(1, inds)
        states = self._t_states_real.index_select(2, th.as_tensor(indices[starts], device=device))
        first_seq = seq_id[::batch_size]  # first sequence of each minibatch
        n_seqs = np.diff(np.append(first_seq, len(starts)))
        batch_of = np.arange(total) // batch_size
        # Time-major index t * n_seq + s within the row's own minibatch.
        positions = step * n_seqs[batch_of] + seq_id - first_seq[batch_of]
        max_lens = np.maximum.reduceat(np.diff(np.append(starts, total)), first_seq)
        t_positions = th.as_tensor(positions, device=device)
        for k, start_idx in enumerate(range(0, total, batch_size)):
            size = min(batch_size, total - start_idx)
            s0 = int(first_seq[k])
            batch_states = states[:, :, s0 : s0 + int(n_seqs[k])]
            yield RealRowsBatch(
                observations=(
                    {key: v.narrow(0, start_idx, size) for key, v in observations.items()}
                    if isinstance(observations, dict)
                    else observations.narrow(0, start_idx, size)
                ),
                actions=actions.narrow(0, start_idx, size),
                old_values=scalars[0, start_idx : start_idx + size],
                old_log_prob=scalars[1, start_idx : start_idx + size],
                advantages=scalars[2, start_idx : start_idx + size],
                returns=scalars[3, start_idx : start_idx + size],
                lstm_states=RNNStates(
                    (batch_states[0].contiguous(), batch_states[1].contiguous()),
                    (batch_states[2].contiguous(), batch_states[3].contiguous()),
                ),
                positions=t_positions.narrow(0, start_idx, size),
                n_seq=int(n_seqs[k]),
                max_len=int(max_lens[k]),
            )

    def _gather_common(
        self, batch_inds: np.ndarray, env_change: np.ndarray
    ) -> tuple[np.ndarray, th.Tensor, th.Tensor, _PaddedFields]:
        """Sequence starts, source rows and padding flags of the padded layout, and all
        non-observation fields."""
        starts, positions, _, _ = padded_layout(
            self.episode_starts[batch_inds], env_change[batch_inds]
        )
        is_padding = positions < 0
        rows = th.as_tensor(np.where(is_padding, 0, batch_inds[positions]), device=self.device)
        padding = th.as_tensor(is_padding, device=self.device)
        scalars = _gather_padded(self._t_scalars, rows, padding)
        # (n_seq, 4, L, H) -> (4, L, n_seq, H)
        states = self._t_states.index_select(
            0, th.as_tensor(batch_inds[starts], device=self.device)
        )
        states = states.permute(1, 2, 0, 3)
        lstm_states = RNNStates(
            (states[0].contiguous(), states[1].contiguous()),
            (states[2].contiguous(), states[3].contiguous()),
        )
        fields = _PaddedFields(
            actions=_gather_padded(self._t_actions, rows, padding),
            old_values=scalars[:, 0],
            old_log_prob=scalars[:, 1],
            advantages=scalars[:, 2],
            returns=scalars[:, 3],
            lstm_states=lstm_states,
            episode_starts=scalars[:, 4],
            mask=scalars[:, 5],
        )
        return starts, rows, padding, fields


class FastRecurrentRolloutBuffer(
    _FastRecurrentBufferMixin[RecurrentRolloutBufferSamples], RecurrentRolloutBuffer
):
    """sb3-contrib's ``RecurrentRolloutBuffer`` with vectorised padding."""

    _t_observations: th.Tensor

    def add(  # type: ignore[override]  # sb3-contrib's signature (lstm_states required)
        self, *args: Any, lstm_states: RNNStates, **kwargs: Any
    ) -> None:
        """Store one step; ``lstm_states`` are the states *before* the step (as in sb3-contrib)."""
        self._store_states(lstm_states)
        # Skip sb3-contrib's add (it would copy the states again); call the plain sb3 buffer's.
        RolloutBuffer.add(self, *args, **kwargs)

    def get(  # type: ignore[override]  # sb3-contrib's samples, not sb3's RolloutBufferSamples
        self, batch_size: int | None = None
    ) -> Generator[RecurrentRolloutBufferSamples, None, None]:
        """Yield padded minibatches (same order, split point and content as sb3-contrib)."""
        return self._padded_minibatches(batch_size)

    def _flatten_observations(self) -> th.Tensor:
        self.observations = self.swap_and_flatten(self.observations)
        return _tensor(self.observations, self.device)

    def _get_samples(  # type: ignore[override]  # sb3-contrib's signature (adds env_change)
        self, batch_inds: np.ndarray, env_change: np.ndarray, env: VecNormalize | None = None
    ) -> RecurrentRolloutBufferSamples:
        starts, rows, padding, fields = self._gather_common(batch_inds, env_change)
        # sb3-contrib initialises it to None, so its declared type is None.
        self.seq_start_indices = starts  # type: ignore[assignment]
        observations = _gather_padded(self._t_observations, rows, padding)
        return RecurrentRolloutBufferSamples(observations, *fields)


class FastRecurrentDictRolloutBuffer(
    _FastRecurrentBufferMixin[RecurrentDictRolloutBufferSamples], RecurrentDictRolloutBuffer
):
    """sb3-contrib's ``RecurrentDictRolloutBuffer`` with vectorised padding."""

    _t_observations: dict[str, th.Tensor]

    def add(  # type: ignore[override]  # sb3-contrib's signature (lstm_states required)
        self, *args: Any, lstm_states: RNNStates, **kwargs: Any
    ) -> None:
        """Store one step; ``lstm_states`` are the states *before* the step (as in sb3-contrib)."""
        self._store_states(lstm_states)
        # Skip sb3-contrib's add (it would copy the states again); call the plain sb3 buffer's.
        DictRolloutBuffer.add(self, *args, **kwargs)

    def get(  # type: ignore[override]  # sb3-contrib's samples, not sb3's RolloutBufferSamples
        self, batch_size: int | None = None
    ) -> Generator[RecurrentDictRolloutBufferSamples, None, None]:
        """Yield padded minibatches (same order, split point and content as sb3-contrib)."""
        return self._padded_minibatches(batch_size)

    def _flatten_observations(self) -> dict[str, th.Tensor]:
        for key, obs in self.observations.items():
            self.observations[key] = self.swap_and_flatten(obs)
        return {k: _tensor(v, self.device) for k, v in self.observations.items()}

    def _get_samples(  # type: ignore[override]  # sb3-contrib's signature (adds env_change)
        self, batch_inds: np.ndarray, env_change: np.ndarray, env: VecNormalize | None = None
    ) -> RecurrentDictRolloutBufferSamples:
        starts, rows, padding, fields = self._gather_common(batch_inds, env_change)
        # sb3-contrib initialises it to None, so its declared type is None.
        self.seq_start_indices = starts  # type: ignore[assignment]
        observations = {
            key: _gather_padded(obs, rows, padding) for key, obs in self._t_observations.items()
        }
        return RecurrentDictRolloutBufferSamples(observations, *fields)
