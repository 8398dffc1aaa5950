"""A loss toward what was cloned, added to every RL update with a weight schedule.

Before each optimizer step of PPO / A2C (a step pre-hook on the policy's optimizer, so SB3's
``train()`` is used unchanged) the regulariser adds the gradient of ``weight * loss`` to the
RL gradient, which is the gradient of the sum of the two losses:

* ``kl``: ``KL(snapshot || policy)`` on a minibatch of the current rollout's observations,
  where the snapshot is the cloned policy (the ``pretrain/`` model), frozen;
* ``bc``: the negative log-likelihood of the teacher's labels on a minibatch of the cloning
  data set (observations normalised with the current statistics).

The weight follows training progress (timesteps / ``total_timesteps``), so a resumed run
continues the schedule where it was; the last weight and loss are logged as
``train/regularizer_weight`` and ``train/regularizer_loss`` and saved with every checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch as th
from stable_baselines3.common.callbacks import BaseCallback

from hlynr.imitation.actor import ActorView
from hlynr.imitation.dataset import Dataset, Obs, take
from hlynr.registries import Resumable


def _flat(buffer: Any) -> Obs:
    """A rollout buffer's observations as one batch (SB3 flattens them once sampling starts)."""
    obs = buffer.observations
    if buffer.generator_ready:
        return obs
    if isinstance(obs, dict):
        return {k: v.reshape(-1, *v.shape[2:]) for k, v in obs.items()}
    return obs.reshape(-1, *obs.shape[2:])


def kl_per_sample(p: Any, q: Any) -> th.Tensor:
    """``KL(p || q)`` per sample for two SB3 distributions of the same family."""
    kl = th.distributions.kl_divergence(p.distribution, q.distribution)
    return kl.sum(dim=-1) if kl.dim() > 1 else kl


class FineTuneRegularizer(BaseCallback, Resumable):
    """Adds the regulariser's gradient before every optimizer step of the RL update."""

    state_key = "pretrain_regularizer"

    def __init__(self, params: Any, total_timesteps: int, snapshot: Any | None = None,
                 dataset: Dataset | None = None,
                 prepare: Callable[[Obs], Obs] | None = None, seed: int = 0) -> None:
        super().__init__()
        self.params, self.total_timesteps = params, total_timesteps
        self.snapshot, self.dataset, self.prepare = snapshot, dataset, prepare
        self.rng = np.random.default_rng(seed)
        self.weight, self.loss, self.updates = 0.0, 0.0, 0
        self._handle: Any = None
        self._samples: tuple[Obs, np.ndarray] | None = None

    def state_dict(self) -> dict[str, Any]:
        return {"weight": self.weight, "loss": self.loss, "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.weight, self.loss = float(state["weight"]), float(state["loss"])
        self.updates = int(state["updates"])

    def weight_at(self, timesteps: int) -> float:
        """The regulariser weight after ``timesteps`` of training."""
        w = self.params.weight
        progress = timesteps / self.total_timesteps
        return float(w.value_at(progress) if hasattr(w, "value_at") else w)

    def _on_training_start(self) -> None:
        self.view = ActorView(self.model)
        if self.params.loss == "kl" and self.snapshot is None:
            raise ValueError("the kl regulariser needs the cloned snapshot")
        if self.params.loss == "bc":
            if self.dataset is None:
                raise ValueError("the bc regulariser needs the cloning data set")
            self._samples = self.dataset.samples()
        self._handle = self.model.policy.optimizer.register_step_pre_hook(self._pre_step)

    def _on_training_end(self) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    def _on_step(self) -> bool:
        return True

    def _batch_obs(self) -> Any:
        n = self.params.batch_size
        if self.params.loss == "bc":
            assert self._samples is not None
            obs, acts = self._samples
            idx = self.rng.integers(0, len(acts), size=min(n, len(acts)))
            prepared = self.prepare(take(obs, idx)) if self.prepare else take(obs, idx)
            return self.view.obs_tensor(prepared), self.view.target(acts[idx])
        obs = _flat(self.model.rollout_buffer)
        size = len(next(iter(obs.values()))) if isinstance(obs, dict) else len(obs)
        idx = self.rng.integers(0, size, size=min(n, size))
        return self.view.obs_tensor(take(obs, idx)), None

    def _pre_step(self, optimizer: th.optim.Optimizer, args: Any, kwargs: Any) -> None:
        self.weight = self.weight_at(int(self.model.num_timesteps))
        self.model.logger.record("train/regularizer_weight", self.weight)
        if self.weight <= 0.0:
            return
        obs, target = self._batch_obs()
        with th.enable_grad():
            if target is not None:
                per, _, _ = self.view.evaluate(obs, target, "nll")
            else:
                with th.no_grad():
                    p = self.snapshot.get_distribution(obs)
                per = kl_per_sample(p, self.model.policy.get_distribution(obs))
            loss = per.mean()
            (self.weight * loss).backward()
        self.loss, self.updates = loss.item(), self.updates + 1
        self.model.logger.record("train/regularizer_loss", self.loss)
