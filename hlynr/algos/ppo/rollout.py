"""PPO's minibatches from one gather per field and epoch, identical to SB3's ``RolloutBuffer.get``.

SB3's ``get`` draws ``np.random.permutation`` once per epoch, then builds each minibatch with a
NumPy fancy index and a copy into a new tensor per field (six per minibatch). Here the whole
rollout becomes tensors once per ``train()`` (observations, actions, and the four per-step
scalars stacked as one tensor), and each epoch draws the same permutation, gathers every field
once in that order (one ``index_select`` each) and hands out the minibatches as slices: the same
rows in the same order, bit for bit. With ``normalize_advantage``, the advantages of all the
epoch's minibatches are normalised in one go where they are of equal size.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch as th
from stable_baselines3.common.buffers import DictRolloutBuffer, RolloutBuffer
from stable_baselines3.common.type_aliases import PyTorchObs

_FIELDS = ("actions", "values", "log_probs", "advantages", "returns")


@dataclass
class Minibatch:
    """One minibatch: SB3's ``RolloutBufferSamples`` fields, advantages already normalised if asked."""

    observations: PyTorchObs
    actions: th.Tensor
    old_values: th.Tensor
    old_log_prob: th.Tensor
    advantages: th.Tensor
    returns: th.Tensor


def _normalise(advantages: th.Tensor) -> th.Tensor:
    """SB3's per-minibatch normalisation (over the last dimension)."""
    return (advantages - advantages.mean(-1, keepdim=True)) / (advantages.std(-1, keepdim=True) + 1e-8)


class RolloutTensors:
    """A full ``RolloutBuffer`` or ``DictRolloutBuffer`` as tensors, for one ``train()`` call.

    :param buffer: the model's rollout buffer, of SB3's class (not a subclass).
    :param discrete: actions as ``long`` indices (``Discrete`` action spaces), as SB3's ``train`` casts them.
    """

    def __init__(self, buffer: RolloutBuffer | DictRolloutBuffer, discrete: bool) -> None:
        assert buffer.full, ""
        if not buffer.generator_ready:  # what SB3's get() does before its first minibatch
            if isinstance(buffer, DictRolloutBuffer):
                for key, obs in buffer.observations.items():
                    buffer.observations[key] = buffer.swap_and_flatten(obs)
            else:
                buffer.observations = buffer.swap_and_flatten(buffer.observations)
            for name in _FIELDS:
                buffer.__dict__[name] = buffer.swap_and_flatten(buffer.__dict__[name])
            buffer.generator_ready = True
        device = buffer.device
        self.size = buffer.buffer_size * buffer.n_envs
        self.observations: PyTorchObs
        if isinstance(buffer.observations, dict):
            self.observations = {k: th.as_tensor(v, device=device) for k, v in buffer.observations.items()}
        else:
            self.observations = th.as_tensor(buffer.observations, device=device)
        actions = th.as_tensor(buffer.actions.astype(np.float32, copy=False), device=device)
        self.actions = actions.long().flatten() if discrete else actions
        scalars = np.concatenate([buffer.values, buffer.log_probs, buffer.advantages, buffer.returns], axis=1)
        self.scalars = th.as_tensor(scalars, device=device)

    def epoch(self, batch_size: int, normalize_advantage: bool) -> Iterator[Minibatch]:
        """One epoch's minibatches: SB3's permutation (one draw from NumPy's global generator)."""
        indices = th.from_numpy(np.random.permutation(self.size)).to(self.scalars.device)
        obs = self.observations
        if isinstance(obs, dict):
            obs = {k: v.index_select(0, indices) for k, v in obs.items()}
        else:
            obs = obs.index_select(0, indices)
        actions = self.actions.index_select(0, indices)
        values, log_probs, advantages, returns = self.scalars.index_select(0, indices).T.contiguous()
        n_batches, rest = divmod(self.size, batch_size)
        if normalize_advantage and rest == 0 and batch_size > 1:  # all minibatches at once
            advantages = _normalise(advantages.view(n_batches, batch_size)).view(-1)
            normalize_advantage = False
        for start in range(0, self.size, batch_size):
            rows = slice(start, start + batch_size)
            adv = advantages[rows]
            if normalize_advantage and len(adv) > 1:
                adv = _normalise(adv)
            observations = {k: v[rows] for k, v in obs.items()} if isinstance(obs, dict) else obs[rows]
            yield Minibatch(observations, actions[rows], values[rows], log_probs[rows], adv, returns[rows])


def buffer_minibatches(buffer: RolloutBuffer, batch_size: int, normalize_advantage: bool,
                       discrete: bool) -> Iterator[Minibatch]:
    """Minibatches of any other rollout buffer, through its own ``get()``."""
    for data in buffer.get(batch_size):
        actions = data.actions.long().flatten() if discrete else data.actions
        adv = data.advantages
        if normalize_advantage and len(adv) > 1:
            adv = _normalise(adv)
        yield Minibatch(data.observations, actions, data.old_values, data.old_log_prob, adv, data.returns)
