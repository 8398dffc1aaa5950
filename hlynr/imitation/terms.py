"""The losses a fine-tuning regulariser adds, one per policy family and ``loss``.

Each term is a callable returning a scalar loss with a graph into the actor's parameters:

* :class:`DatasetTerm` (``bc``): the cloning loss on the teacher's labels, a minibatch of the
  cloning data set built by :class:`~hlynr.imitation.clone.BatchSource` (recurrent actors:
  whole episode segments, as in cloning), ``nll`` for stochastic actors, ``mse`` for TD3;
* :class:`SnapshotTerm` (``kl`` / ``mse``): a feed-forward actor against the frozen cloned
  snapshot on a minibatch of observations. ``kl`` is ``KL(snapshot || policy)``; for SAC the
  two distributions are the pre-tanh Gaussians, and since ``tanh`` is a bijection the KL of the
  squashed distributions equals that of the Gaussians exactly. ``mse`` (TD3) is the squared
  distance between the two deterministic actions. Observations come from the current rollout
  (on-policy; the local part of a centralised model's rows) or the replay buffer (off-policy);
* recurrent ``kl``: :class:`~hlynr.imitation.recurrent_kl.RecurrentKLTerm`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch as th

from hlynr.imitation.actor import ActorView
from hlynr.imitation.clone import BatchSource, masked_mean
from hlynr.imitation.dataset import Dataset, Obs, flatten_steps, take

ObsSource = Callable[[int], Obs]
"""``source(n) -> observations``: a minibatch of about ``n`` observations for the actor."""


def kl_per_sample(p: Any, q: Any) -> th.Tensor:
    """``KL(p || q)`` per sample for two SB3 distributions of the same family."""
    kl = th.distributions.kl_divergence(p.distribution, q.distribution)
    return kl.sum(dim=-1) if kl.dim() > 1 else kl


def _size(obs: Obs) -> int:
    return len(next(iter(obs.values()))) if isinstance(obs, dict) else len(obs)


def _flat_rollout(buffer: Any) -> Obs:
    """A rollout buffer's observations as one batch (SB3 flattens them once sampling starts)."""
    return buffer.observations if buffer.generator_ready else flatten_steps(buffer.observations)


def rollout_source(view: ActorView, rng: np.random.Generator) -> ObsSource:
    """Observations drawn from the model's current rollout (local part for centralised models)."""

    def source(n: int) -> Obs:
        obs = _flat_rollout(view.model.rollout_buffer)
        size = _size(obs)
        idx = rng.integers(0, size, size=min(n, size))
        return view.local_rows(take(obs, idx))

    return source


def replay_source(view: ActorView, rng: np.random.Generator) -> ObsSource:
    """Observations drawn from the model's replay buffer, normalised as the actor sees them.

    Indices come from the regulariser's own generator, so the replay buffer's sampling for the
    RL update (``np.random``) is not disturbed.
    """

    def source(n: int) -> Obs:
        buf = view.model.replay_buffer
        upper = buf.buffer_size if buf.full else buf.pos
        idx = rng.integers(0, upper, size=n)
        env = rng.integers(0, buf.n_envs, size=n)
        obs = take(buf.observations, (idx, env))
        vecnorm = view.model.get_vec_normalize_env()
        return vecnorm.normalize_obs(obs) if vecnorm is not None else obs

    return source


class SnapshotTerm:
    """``kl`` or ``mse`` of a feed-forward actor against its frozen snapshot (module docstring)."""

    def __init__(self, view: ActorView, snapshot: ActorView, loss: str, source: ObsSource,
                 batch_size: int) -> None:
        self.view, self.snapshot, self.kind = view, snapshot, loss
        self.source, self.batch_size = source, batch_size

    def __call__(self) -> th.Tensor:
        obs = self.view.obs_tensor(self.source(self.batch_size))
        if self.kind == "mse":
            with th.no_grad():
                target = self.snapshot.mean(obs)
            return ((self.view.mean(obs) - target) ** 2).sum(dim=-1).mean()
        with th.no_grad():
            p = self.snapshot.distribution(obs)
        return kl_per_sample(p, self.view.distribution(obs)).mean()

    def on_rollout_end(self) -> None:
        """Nothing to prepare per rollout."""


class DatasetTerm:
    """``bc``: the cloning loss on a minibatch of the teacher's data set (module docstring)."""

    def __init__(self, view: ActorView, dataset: Dataset, prepare: Callable[[Obs], Obs],
                 batch_size: int, rng: np.random.Generator) -> None:
        self.view, self.batch_size, self.rng = view, batch_size, rng
        self.source = BatchSource(view, dataset, prepare)
        if len(self.source) == 0:
            raise ValueError("the bc regulariser's data set is empty (every row was masked)")
        self.loss = "mse" if view.kind == "td3" else "nll"

    def __call__(self) -> th.Tensor:
        # at most batch_size units (samples or segments); batches() takes about batch_size steps
        order = self.rng.integers(0, len(self.source), size=min(len(self.source), self.batch_size))
        b = next(self.source.batches(order, self.batch_size))
        per, _, _ = self.view.evaluate(b.obs, b.target, self.loss, 0.0, b.starts, b.n_seq)
        return masked_mean(per, b.mask)

    def on_rollout_end(self) -> None:
        """Nothing to prepare per rollout."""
