"""Fit the student's actor to the teacher's labels: minibatches, validation, early stopping.

Feed-forward actors train on shuffled samples. Recurrent actors train on whole episode
segments: a minibatch is a set of segments (about ``batch_size`` steps in all), padded at the
end to one length and laid out one after another; every segment starts from a zero state at
its episode start, and padded steps are masked out of the loss. A validation share of the
samples (segments for recurrent actors) is held out; training stops after ``patience`` epochs
without a lower validation loss and the best parameters are restored.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch as th

from hlynr.imitation.actor import ActorView
from hlynr.imitation.dataset import Dataset, Obs, concat, take


@dataclass
class EpochStats:
    """One epoch of cloning."""

    epoch: int
    train_loss: float
    validation_loss: float | None
    agreement: float
    """Action agreement with the teacher on the validation set (training set without one)."""


@dataclass
class FitResult:
    """How a fit ended."""

    epochs: list[EpochStats] = field(default_factory=list)
    stopped_early: bool = False
    interrupted: bool = False
    """``should_stop()`` ended the fit after an epoch (the best parameters so far are kept)."""

    @property
    def last(self) -> EpochStats:
        return self.epochs[-1]


@dataclass
class Batch:
    """A minibatch ready for :meth:`ActorView.evaluate`."""

    obs: Any
    target: th.Tensor
    mask: th.Tensor
    starts: th.Tensor | None = None
    n_seq: int = 0


class BatchSource:
    """Minibatches of a data set for one actor view (samples or padded sequences).

    ``prepare`` turns stored observations into the student's (normalisation) when a minibatch
    is built, so a source kept during fine-tuning follows the current statistics.
    """

    def __init__(self, view: ActorView, dataset: Dataset,
                 prepare: Callable[[Obs], Obs]) -> None:
        self.view, self.prepare = view, prepare
        self.segments: list[tuple[int, int, int, int]] = []
        """``(round, row, first step, end step)`` of every episode segment (recurrent views)."""
        self.units: list[tuple[int, int, int, int]] | list[int]
        """What minibatches are drawn from: the segments, or the sample indices."""
        if view.recurrent:
            self.rounds = [(r.obs, r.actions, r.mask) for r in dataset.rounds]
            self.segments = self.units = dataset.sequences()
            self.lengths = np.array([b - a for _, _, a, b in self.segments])
        else:
            obs, acts = dataset.samples()
            self.obs, self.actions = obs, acts
            self.units = list(range(len(acts)))
            self.lengths = np.ones(len(acts), dtype=int)

    def __len__(self) -> int:
        return len(self.units)

    def batches(self, order: np.ndarray, batch_size: int) -> Iterator[Batch]:
        """Minibatches of about ``batch_size`` samples over the units in ``order``."""
        start = 0
        while start < len(order):
            if self.view.recurrent:
                cum = np.cumsum(self.lengths[order[start:]])
                stop = start + int(np.searchsorted(cum, batch_size)) + 1
            else:
                stop = start + batch_size
            chunk = order[start:stop]
            start = stop
            yield self._sequences(chunk) if self.view.recurrent else self._samples(chunk)

    def _samples(self, idx: np.ndarray) -> Batch:
        v = self.view
        return Batch(v.obs_tensor(self.prepare(take(self.obs, idx))), v.target(self.actions[idx]),
                     th.ones(len(idx), device=v.policy.device))

    def _sequences(self, idx: np.ndarray) -> Batch:
        v = self.view
        segs = [self.segments[i] for i in idx]
        length = max(b - a for _, _, a, b in segs)
        rows_t: list[np.ndarray] = []
        rows_n: list[np.ndarray] = []
        rnd: list[int] = []
        real = np.zeros((len(segs), length), dtype=bool)
        for j, (r, row, a, b) in enumerate(segs):
            t = np.arange(a, a + length).clip(max=b - 1)  # pad by repeating the last step
            rows_t.append(t)
            rows_n.append(np.full(length, row))
            rnd.append(r)
            real[j, : b - a] = self.rounds[r][2][a:b, row]
        parts_obs, parts_act = [], []
        for j, r in enumerate(rnd):
            obs, acts, _ = self.rounds[r]
            parts_obs.append(take(obs, (rows_t[j], rows_n[j])))
            parts_act.append(acts[rows_t[j], rows_n[j]])
        starts = np.zeros((len(segs), length), dtype=np.float32)
        starts[:, 0] = 1.0
        dev = v.policy.device
        return Batch(v.obs_tensor(self.prepare(concat(parts_obs))), v.target(np.concatenate(parts_act)),
                     th.as_tensor(real.reshape(-1), dtype=th.float32, device=dev),
                     th.as_tensor(starts.reshape(-1), device=dev), len(segs))


def masked_mean(values: th.Tensor, mask: th.Tensor) -> th.Tensor:
    """Mean of ``values`` over the entries where ``mask`` is 1."""
    return (values * mask).sum() / mask.sum().clamp(min=1.0)


def _measure(view: ActorView, source: BatchSource, order: np.ndarray, batch_size: int,
             loss: str, entropy_weight: float) -> tuple[float, float]:
    total = agree = count = 0.0
    with th.no_grad():
        for b in source.batches(order, batch_size):
            per, ok, _ = view.evaluate(b.obs, b.target, loss, entropy_weight, b.starts, b.n_seq)
            total += float((per * b.mask).sum())
            agree += float((ok * b.mask).sum())
            count += float(b.mask.sum())
    return total / max(count, 1.0), agree / max(count, 1.0)


def fit(view: ActorView, dataset: Dataset, prepare: Callable[[Obs], Obs], cfg: Any,
        rng: np.random.Generator,
        on_epoch: Callable[[EpochStats], None] | None = None,
        should_stop: Callable[[], bool] = lambda: False) -> FitResult:
    """Train ``view``'s actor on ``dataset`` with the settings of a ``PretrainConfig``; once
    ``should_stop()`` is true, stop after the current epoch."""
    source = BatchSource(view, dataset, prepare)
    if len(source) == 0:
        raise ValueError("the cloning data set is empty (every row was masked)")
    perm = rng.permutation(len(source))
    n_val = int(cfg.validation_fraction * len(source))
    val, train = perm[:n_val], perm[n_val:]
    optimizer = th.optim.Adam(view.parameters(), lr=cfg.learning_rate)
    view.policy.set_training_mode(True)
    best, best_state, bad = float("inf"), None, 0
    result = FitResult()
    for epoch in range(cfg.epochs):
        losses = []
        for b in source.batches(rng.permutation(train), cfg.batch_size):
            per, _, _ = view.evaluate(b.obs, b.target, cfg.loss, cfg.entropy_weight, b.starts, b.n_seq)
            loss = masked_mean(per, b.mask)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        scored = val if n_val else train
        v_loss, agreement = _measure(view, source, scored, cfg.batch_size, cfg.loss, cfg.entropy_weight)
        stats = EpochStats(epoch, float(np.mean(losses)), v_loss if n_val else None, agreement)
        result.epochs.append(stats)
        if on_epoch is not None:
            on_epoch(stats)
        if n_val:
            if v_loss < best - 1e-9:
                best, bad = v_loss, 0
                best_state = copy.deepcopy(view.module.state_dict())
            else:
                bad += 1
                if bad >= cfg.patience:
                    result.stopped_early = True
                    break
        if should_stop():
            result.interrupted = True
            break
    if best_state is not None:
        view.module.load_state_dict(best_state)
    view.policy.set_training_mode(False)
    view.after_fit()
    return result
