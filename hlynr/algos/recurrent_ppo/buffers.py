"""Recurrent rollout buffers that build padded minibatches with one gather per field.

sb3-contrib's buffers pad every field of every minibatch with a Python list of per-sequence
tensors and ``pad_sequence`` (9 fields x n_seq tensor copies per minibatch). These subclasses
convert the flattened rollout to tensors once per rollout (sharing memory with the NumPy arrays
on the CPU; the five per-step scalars stacked into one table) and build each padded field with
one index gather whose padded slots are then zeroed. The sequence layout, the random split point
(same ``np.random`` draw) and every returned tensor are bit-identical to sb3-contrib's.
"""

from __future__ import annotations

from collections.abc import Generator

import numpy as np
import torch as th
from sb3_contrib.common.recurrent.buffers import RecurrentDictRolloutBuffer, RecurrentRolloutBuffer
from sb3_contrib.common.recurrent.type_aliases import (
    RecurrentDictRolloutBufferSamples,
    RecurrentRolloutBufferSamples,
    RNNStates,
)
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


def _tensor(array: np.ndarray, device: th.device) -> th.Tensor:
    """``array`` as a tensor of the same dtype on ``device`` (no copy on the CPU)."""
    return th.as_tensor(np.ascontiguousarray(array)).to(device)


def _gather_padded(source: th.Tensor, rows: th.Tensor, padding: th.Tensor) -> th.Tensor:
    """``source[rows]`` with the rows flagged in ``padding`` set to exactly zero."""
    out = source.index_select(0, rows)
    return out.masked_fill_(padding.view(-1, *([1] * (out.dim() - 1))), 0)


class _FastRecurrentBufferMixin:
    """Shared fast ``add``/``get``/``_get_samples`` for the flat and dict recurrent buffers."""

    # Provided by the sb3 buffer classes this mixes into.
    buffer_size: int
    n_envs: int
    device: th.device
    pos: int
    generator_ready: bool
    full: bool
    #: The sb3-contrib buffer class mixed into (its ``add`` is bypassed, see :meth:`add`).
    _recurrent_base: type

    def add(self, *args, lstm_states: RNNStates, **kwargs) -> None:  # type: ignore[no-untyped-def]
        """Store one step; ``lstm_states`` are the states *before* the step (as in sb3-contrib)."""
        pos = self.pos
        self.hidden_states_pi[pos] = lstm_states.pi[0].detach().cpu().numpy()
        self.cell_states_pi[pos] = lstm_states.pi[1].detach().cpu().numpy()
        self.hidden_states_vf[pos] = lstm_states.vf[0].detach().cpu().numpy()
        self.cell_states_vf[pos] = lstm_states.vf[1].detach().cpu().numpy()
        # Skip sb3-contrib's add (it would copy the states again); call the plain sb3 buffer's.
        super(self._recurrent_base, self).add(*args, **kwargs)  # type: ignore[misc]

    def _flatten_rollout(self) -> None:
        """Swap/flatten every field to ``(n_envs * n_steps, ...)`` (env-major), as sb3-contrib."""
        for name in _STATE_NAMES:
            self.__dict__[name] = self.__dict__[name].swapaxes(1, 2)
        if isinstance(self.observations, dict):
            for key, obs in self.observations.items():
                self.observations[key] = self.swap_and_flatten(obs)  # type: ignore[attr-defined]
        else:
            self.observations = self.swap_and_flatten(self.observations)  # type: ignore[attr-defined]
        for name in ("actions", *_SCALAR_NAMES[:-1], *_STATE_NAMES, "episode_starts"):
            self.__dict__[name] = self.swap_and_flatten(self.__dict__[name])  # type: ignore[attr-defined]
        # Tensors built once per rollout (on the CPU they share memory with the arrays above).
        self._t_actions = _tensor(self.actions, self.device)
        # (N, 6): the five per-step scalars and a column of ones that becomes the padding mask.
        scalars = [self.__dict__[n].reshape(-1) for n in _SCALAR_NAMES]
        self._t_scalars = _tensor(
            np.stack([*scalars, np.ones_like(scalars[0])], axis=1), self.device
        )
        # (N, 4, n_layers, hidden): gathered at sequence starts only.
        self._t_states = _tensor(
            np.stack([self.__dict__[n] for n in _STATE_NAMES], axis=1), self.device
        )
        if isinstance(self.observations, dict):
            self._t_observations = {
                k: _tensor(v, self.device) for k, v in self.observations.items()
            }
        else:
            self._t_observations = _tensor(self.observations, self.device)

    def get(self, batch_size: int | None = None) -> Generator:  # type: ignore[override]
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
        env_change = self.swap_and_flatten(env_change)  # type: ignore[attr-defined]
        start_idx = 0
        while start_idx < total:
            batch_inds = indices[start_idx : start_idx + batch_size]
            yield self._get_samples(batch_inds, env_change)
            start_idx += batch_size

    def _gather_common(
        self, batch_inds: np.ndarray, env_change: np.ndarray
    ) -> tuple[th.Tensor, th.Tensor, dict[str, object]]:
        """Source rows and padding flags of the padded layout, and all non-observation fields."""
        starts, positions, _, _ = padded_layout(
            self.episode_starts[batch_inds], env_change[batch_inds]
        )
        self.seq_start_indices = starts
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
        fields = dict(
            actions=_gather_padded(self._t_actions, rows, padding),
            old_values=scalars[:, 0],
            old_log_prob=scalars[:, 1],
            advantages=scalars[:, 2],
            returns=scalars[:, 3],
            lstm_states=lstm_states,
            episode_starts=scalars[:, 4],
            mask=scalars[:, 5],
        )
        return rows, padding, fields


class FastRecurrentRolloutBuffer(_FastRecurrentBufferMixin, RecurrentRolloutBuffer):
    """sb3-contrib's ``RecurrentRolloutBuffer`` with vectorised padding."""

    _recurrent_base = RecurrentRolloutBuffer

    def _get_samples(  # type: ignore[override]
        self, batch_inds: np.ndarray, env_change: np.ndarray, env: VecNormalize | None = None
    ) -> RecurrentRolloutBufferSamples:
        rows, padding, fields = self._gather_common(batch_inds, env_change)
        observations = _gather_padded(self._t_observations, rows, padding)
        return RecurrentRolloutBufferSamples(observations=observations, **fields)


class FastRecurrentDictRolloutBuffer(_FastRecurrentBufferMixin, RecurrentDictRolloutBuffer):
    """sb3-contrib's ``RecurrentDictRolloutBuffer`` with vectorised padding."""

    _recurrent_base = RecurrentDictRolloutBuffer

    def _get_samples(  # type: ignore[override]
        self, batch_inds: np.ndarray, env_change: np.ndarray, env: VecNormalize | None = None
    ) -> RecurrentDictRolloutBufferSamples:
        rows, padding, fields = self._gather_common(batch_inds, env_change)
        observations = {
            key: _gather_padded(obs, rows, padding) for key, obs in self._t_observations.items()
        }
        return RecurrentDictRolloutBufferSamples(observations=observations, **fields)
