"""A loss toward what was cloned, added to every RL update with a weight schedule.

Before each optimizer step of the RL update the regulariser adds the gradient of
``weight * loss`` to the RL gradient, which is the gradient of the sum of the two losses. It
is a step pre-hook on the optimizer that moves the actor, so every algorithm's own ``train()``
runs unchanged: the policy's optimizer for PPO, A2C, MAPPO / AsymmetricPPO and RecurrentPPO
(LSTM or GRU), the actor's optimizer (``policy.actor.optimizer``) for SAC and TD3. The loss
(:mod:`hlynr.imitation.terms`, :mod:`hlynr.imitation.recurrent_kl`) is

* ``kl``: ``KL(snapshot || policy)``, the snapshot being the cloned policy (the ``pretrain/``
  model, frozen), on a minibatch of the current rollout (PPO, A2C; MAPPO: the local part of
  its rows; RecurrentPPO: sequences with the stored states, the snapshot with its own) or of
  the replay buffer (SAC: the pre-tanh Gaussians, exact for the squashed distributions);
* ``mse`` (TD3): the squared distance to the snapshot's action on replay observations;
* ``bc``: the cloning loss on a minibatch of the teacher's data set (observations normalised
  with the current statistics; recurrent actors: episode segments as in cloning).

The weight follows training progress (timesteps / ``total_timesteps``), so a resumed run
continues the schedule where it was; the last weight and loss are logged as
``train/regularizer_weight`` and ``train/regularizer_loss`` and saved with every checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch as th
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from torch.utils.hooks import RemovableHandle

from hlynr.config.pretrain import Regularizer
from hlynr.config.schedules import Schedule
from hlynr.imitation.actor import ActorView
from hlynr.imitation.dataset import Dataset, Obs
from hlynr.imitation.recurrent_kl import RecurrentKLTerm
from hlynr.imitation.terms import DatasetTerm, SnapshotTerm, replay_source, rollout_source
from hlynr.registries import CallbackPhase, Phased, Resumable

Term = SnapshotTerm | DatasetTerm | RecurrentKLTerm
"""The loss the regulariser adds (:mod:`hlynr.imitation.terms`, :mod:`hlynr.imitation.recurrent_kl`)."""


class FineTuneRegularizer(BaseCallback, Resumable, Phased):
    """Adds the regulariser's gradient before every optimizer step of the RL update."""

    state_key = "pretrain_regularizer"
    phase = CallbackPhase.PREPARE

    def __init__(self, params: Regularizer, total_timesteps: int, snapshot: BaseAlgorithm | None = None,
                 dataset: Dataset | None = None,
                 prepare: Callable[[Obs], Obs] | None = None, seed: int = 0) -> None:
        """``snapshot``: the cloned model (``kl``, ``mse``); ``dataset``: the teacher's (``bc``)."""
        super().__init__()
        self.params, self.total_timesteps = params, total_timesteps
        self.snapshot, self.dataset, self.prepare = snapshot, dataset, prepare
        self.rng = np.random.default_rng(seed)
        self.weight, self.loss, self.updates = 0.0, 0.0, 0
        self._handle: RemovableHandle | None = None
        self.term: Term | None = None

    def state_dict(self) -> dict[str, Any]:
        return {"weight": self.weight, "loss": self.loss, "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.weight, self.loss = float(state["weight"]), float(state["loss"])
        self.updates = int(state["updates"])

    def weight_at(self, timesteps: int) -> float:
        """The regulariser weight after ``timesteps`` of training."""
        w = self.params.weight
        progress = timesteps / self.total_timesteps
        return float(w.value_at(progress) if isinstance(w, Schedule) else w)

    def _make_term(self) -> Term:
        view, n, loss = ActorView(self.model), self.params.batch_size, self.params.loss
        if loss == "bc":
            if self.dataset is None:
                raise ValueError("the bc regulariser needs the cloning data set")
            return DatasetTerm(view, self.dataset, self.prepare or (lambda o: o), n, self.rng)
        if self.snapshot is None:
            raise ValueError(f"the {loss} regulariser needs the cloned snapshot")
        snapshot = ActorView(self.snapshot)
        snapshot.policy.set_training_mode(False)
        for p in snapshot.policy.parameters():
            p.requires_grad_(False)
        if view.recurrent:
            return RecurrentKLTerm(view, snapshot.policy, n, self.rng)
        source = replay_source(view, self.rng) if view.scaled else rollout_source(view, self.rng)
        return SnapshotTerm(view, snapshot, loss, source, n)

    def _on_training_start(self) -> None:
        if self.term is None:
            self.term = self._make_term()
        if self._handle is None:
            self._handle = ActorView(self.model).optimizer.register_step_pre_hook(self._pre_step)

    def _on_training_end(self) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        if self.term is not None:
            self.term.on_rollout_end()

    def _pre_step(self, optimizer: th.optim.Optimizer, args: Any, kwargs: Any) -> None:
        self.weight = self.weight_at(int(self.model.num_timesteps))
        self.model.logger.record("train/regularizer_weight", self.weight)
        if self.weight <= 0.0:
            return
        assert self.term is not None  # made in _on_training_start, before any update
        with th.enable_grad():
            loss = self.term()
            (self.weight * loss).backward()
        self.loss, self.updates = loss.item(), self.updates + 1
        self.model.logger.record("train/regularizer_loss", self.loss)
