"""All minibatches of one ``train()`` call from one gather, with SB3's random draws.

SB3 calls ``replay_buffer.sample(batch_size)`` once per gradient step. Each call draws the
transition indices (``np.random.randint``) and then, inside ``_get_samples``, the env indices,
gathers five fields through NumPy fancy indexing and copies each into a tensor.

:func:`sample_minibatches` makes the same draws, in the same order (indices, then env indices,
gradient step after gradient step), so NumPy's global generator ends where SB3 leaves it and
minibatch *k* holds exactly the transitions of SB3's *k*-th ``sample()``. It then gathers all
``gradient_steps * batch_size`` rows at once (one ``take`` per field on the buffer viewed as
``(buffer_size * n_envs, ...)``), normalises them with the ``VecNormalize`` statistics as
``_get_samples`` does (the statistics do not change during ``train()``), and converts each field
once. Every value equals SB3's bit for bit (tested). Only the plain ``ReplayBuffer`` and
``DictReplayBuffer`` are gathered this way with SB3's draws, and a buffer that draws its own
indices (:class:`OwnDraws`, hlynr's replay buffer of agent rows) with its draws; any other buffer
(HER, n-step, a user's subclass) is sampled through its own ``sample()``, once per gradient step,
exactly as SB3 does.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch as th
from stable_baselines3.common.buffers import DictReplayBuffer, ReplayBuffer
from stable_baselines3.common.type_aliases import DictReplayBufferSamples, ReplayBufferSamples
from stable_baselines3.common.vec_env import VecNormalize

Samples = ReplayBufferSamples | DictReplayBufferSamples


class OwnDraws(ABC):
    """A ``ReplayBuffer`` whose minibatch indices are its own draws (not SB3's); :func:`gather`
    reads its fields as those of a plain buffer."""

    @abstractmethod
    def draw(self, batch_size: int, n_batches: int) -> tuple[np.ndarray, np.ndarray]:
        """Transition and env indices of ``n_batches`` calls of ``sample(batch_size)``, concatenated."""


def draw_indices(buffer: ReplayBuffer, batch_size: int, n_batches: int) -> tuple[np.ndarray, np.ndarray]:
    """SB3's index draws for ``n_batches`` calls of ``buffer.sample(batch_size)``, concatenated
    (an :class:`OwnDraws` buffer's own draws).

    :return: transition indices and env indices, ``n_batches * batch_size`` of each.
    """
    if isinstance(buffer, OwnDraws):
        return buffer.draw(batch_size, n_batches)
    rows, envs = [], []
    for _ in range(n_batches):
        if buffer.optimize_memory_usage and buffer.full:  # ReplayBuffer.sample's own draw
            inds = (np.random.randint(1, buffer.buffer_size, size=batch_size) + buffer.pos) % buffer.buffer_size
        else:
            upper = buffer.buffer_size if buffer.full else buffer.pos
            inds = np.random.randint(0, upper, size=batch_size)
        rows.append(inds)
        envs.append(np.random.randint(0, high=buffer.n_envs, size=(batch_size,)))
    return np.concatenate(rows), np.concatenate(envs)


def _take(array: np.ndarray, flat_index: np.ndarray) -> np.ndarray:
    """``array[rows, envs]`` for ``flat_index = rows * n_envs + envs`` (one ``take``)."""
    if not array.flags.c_contiguous:
        n_envs = array.shape[1]
        return array[flat_index // n_envs, flat_index % n_envs]
    return array.reshape(-1, *array.shape[2:]).take(flat_index, axis=0)


def gather(buffer: ReplayBuffer, rows: np.ndarray, envs: np.ndarray, env: VecNormalize | None) -> Samples:
    """The fields ``buffer._get_samples`` returns for these rows and env indices, all at once."""
    index = rows * buffer.n_envs + envs

    def tensor(array: np.ndarray) -> th.Tensor:
        return th.as_tensor(array, device=buffer.device)

    dones = (_take(buffer.dones, index) * (1 - _take(buffer.timeouts, index))).reshape(-1, 1)
    rewards = buffer._normalize_reward(_take(buffer.rewards, index).reshape(-1, 1), env)
    actions = _take(buffer.actions, index)
    if isinstance(buffer, DictReplayBuffer):
        obs = buffer._normalize_obs({k: _take(v, index) for k, v in buffer.observations.items()}, env)
        next_obs = buffer._normalize_obs({k: _take(v, index) for k, v in buffer.next_observations.items()}, env)
        assert isinstance(obs, dict) and isinstance(next_obs, dict)
        return DictReplayBufferSamples(
            observations={k: tensor(v) for k, v in obs.items()},
            actions=tensor(actions),
            next_observations={k: tensor(v) for k, v in next_obs.items()},
            dones=tensor(dones),
            rewards=tensor(rewards),
        )
    if buffer.optimize_memory_usage:
        next_index = ((rows + 1) % buffer.buffer_size) * buffer.n_envs + envs
        next_obs_array = _take(buffer.observations, next_index)
    else:
        next_obs_array = _take(buffer.next_observations, index)
    return ReplayBufferSamples(
        observations=tensor(buffer._normalize_obs(_take(buffer.observations, index), env)),  # type: ignore[arg-type]
        actions=tensor(actions),
        next_observations=tensor(buffer._normalize_obs(next_obs_array, env)),  # type: ignore[arg-type]
        dones=tensor(dones),
        rewards=tensor(rewards),
    )


def gathers_at_once(buffer: Any) -> bool:
    """Whether :func:`sample_minibatches` gathers this buffer's minibatches in one go."""
    return type(buffer) in (ReplayBuffer, DictReplayBuffer) or isinstance(buffer, OwnDraws)


def split(samples: Samples, batch_size: int) -> list[Samples]:
    """Consecutive minibatches of ``batch_size`` rows (views, no copies)."""
    n = len(samples.actions) // batch_size

    def part(value: Any, k: int) -> Any:
        if value is None:
            return None
        if isinstance(value, dict):
            return {key: v[k * batch_size : (k + 1) * batch_size] for key, v in value.items()}
        return value[k * batch_size : (k + 1) * batch_size]

    return [type(samples)(*(part(v, k) for v in samples)) for k in range(n)]


def sample_minibatches(
    buffer: ReplayBuffer, batch_size: int, n_batches: int, env: VecNormalize | None
) -> tuple[Samples, Sequence[Samples]]:
    """``n_batches`` minibatches equal to ``n_batches`` calls of ``buffer.sample(batch_size, env)``.

    :return: all rows in one sample (the minibatches one after another) and the minibatches.
    """
    if gathers_at_once(buffer):
        rows, envs = draw_indices(buffer, batch_size, n_batches)
        whole = gather(buffer, rows, envs, env)
        return whole, split(whole, batch_size)
    batches = [buffer.sample(batch_size, env=env) for _ in range(n_batches)]
    return concatenate(batches), batches


def concatenate(batches: Sequence[Samples]) -> Samples:
    """The rows of several minibatches as one sample."""
    first = batches[0]
    if len(batches) == 1:
        return first

    def cat(values: list[Any]) -> Any:
        if values[0] is None:
            return None
        if isinstance(values[0], dict):
            return {key: th.cat([v[key] for v in values]) for key in values[0]}
        return th.cat(values)

    return type(first)(*(cat([getattr(b, f) for b in batches]) for f in first._fields))
