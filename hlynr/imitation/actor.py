"""The actor of an SB3 model as cloning sees it: a distribution (or a mean) per observation.

One view per policy family:

* ``PPO`` / ``A2C`` (``ActorCriticPolicy``): ``policy.get_distribution(obs)``;
* ``MAPPO`` / ``AsymmetricPPO`` (:class:`~hlynr.algos.centralised.CentralisedCriticPolicy`):
  the same, on local observations (the actor never reads the critic rows);
* ``SAC``: the squashed Gaussian of ``policy.actor``; targets in its scaled action space;
* ``TD3``: the deterministic ``policy.actor`` (``mse`` only); its target actor follows;
* ``RecurrentPPO``: ``policy.get_distribution(obs, states, episode_starts)`` over padded
  sequences laid out one after another (the layout sb3-contrib's ``_process_sequence`` reads),
  every sequence starting from a zero state at an episode start.

Losses: ``nll`` is ``-log p(teacher action)`` minus ``entropy_weight`` times the entropy;
``mse`` is the squared error of the deterministic action. Agreement: the deterministic action
equals the teacher's (discrete) or is within 10 % of the half-range on every axis (continuous).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from sb3_contrib.common.recurrent.policies import RecurrentActorCriticPolicy
from stable_baselines3.common.utils import obs_as_tensor

from hlynr.algos.centralised import MAPPO
from hlynr.imitation.dataset import Obs

AGREEMENT_TOLERANCE = 0.1
"""Continuous actions agree when every axis is within this fraction of the half-range."""


class ActorView:
    """What cloning needs from a model's actor: parameters, targets, losses, agreement."""

    def __init__(self, model: Any) -> None:
        self.model, self.policy = model, model.policy
        self.space = model.action_space
        self.discrete = isinstance(self.space, spaces.Discrete)
        name = type(model).__name__
        self.recurrent = isinstance(self.policy, RecurrentActorCriticPolicy)
        self.kind = "recurrent" if self.recurrent else {"SAC": "sac", "TD3": "td3"}.get(name, "ac")
        self.scaled = self.kind in ("sac", "td3")  # actions live in [-1, 1]
        self.centralised = isinstance(model, MAPPO)
        """Rollout rows are ``[local observation | critic row]`` (see :meth:`local_rows`)."""

    @property
    def module(self) -> th.nn.Module:
        """The module whose parameters cloning trains (the actor of off-policy models)."""
        return self.policy.actor if self.scaled else self.policy

    @property
    def optimizer(self) -> th.optim.Optimizer:
        """The optimizer of the RL update that moves the actor (the actor's own for SAC/TD3)."""
        return self.policy.actor.optimizer if self.scaled else self.policy.optimizer

    def local_rows(self, rows: Obs) -> Obs:
        """The actor's part of rollout rows (the local observation of a centralised model)."""
        if not self.centralised:
            return rows
        assert isinstance(rows, np.ndarray)  # a centralised model's rows are one flat array
        return self.model.split_rows(rows)[0]

    def parameters(self) -> list[th.nn.Parameter]:
        """The parameters cloning trains."""
        return list(self.module.parameters())

    def obs_tensor(self, obs: Any) -> Any:
        """Observations (arrays or dicts of arrays) as tensors on the policy's device."""
        return obs_as_tensor(obs, self.policy.device)

    def target(self, actions: np.ndarray) -> th.Tensor:
        """Teacher actions in the policy's own action space (clipped; scaled for SAC/TD3)."""
        if self.discrete:
            return th.as_tensor(np.asarray(actions).reshape(-1), dtype=th.long, device=self.policy.device)
        a = np.clip(np.asarray(actions, dtype=np.float32).reshape(len(actions), -1),
                    self.space.low, self.space.high)
        if self.scaled:
            a = self.policy.scale_action(a)
        return th.as_tensor(a, dtype=th.float32, device=self.policy.device)

    def _half_range(self) -> th.Tensor:
        if self.scaled:
            return th.ones(1, device=self.policy.device)
        return th.as_tensor((self.space.high - self.space.low) / 2.0, dtype=th.float32,
                            device=self.policy.device)

    def distribution(self, obs: Any) -> Any:
        """The action distribution of a feed-forward actor (SAC: squashed; not TD3)."""
        return self._distribution(obs, None, 0)

    def mean(self, obs: Any) -> th.Tensor:
        """The deterministic action of a feed-forward actor (scaled for SAC/TD3)."""
        return self._mean(obs, None if self.kind == "td3" else self.distribution(obs))

    def _distribution(self, obs: Any, starts: th.Tensor | None, n_seq: int) -> Any:
        if self.kind == "recurrent":
            lstm = self.policy.lstm_actor
            zeros = th.zeros(lstm.num_layers, n_seq, lstm.hidden_size, device=self.policy.device)
            dist, _ = self.policy.get_distribution(obs, (zeros, zeros.clone()), starts)
            return dist
        if self.kind == "sac":
            actor = self.policy.actor
            mean, log_std, kwargs = actor.get_action_dist_params(obs)
            return actor.action_dist.proba_distribution(mean, log_std, **kwargs)
        return self.policy.get_distribution(obs)

    def _mean(self, obs: Any, dist: Any) -> th.Tensor:
        if self.kind == "td3":
            return self.policy.actor(obs)
        if self.kind == "sac":
            return th.tanh(dist.distribution.mean)
        return dist.distribution.mean

    def evaluate(self, obs: Any, target: th.Tensor, loss: str, entropy_weight: float = 0.0,
                 starts: th.Tensor | None = None, n_seq: int = 0,
                 ) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
        """Per-sample ``(loss, agreement)`` and the deterministic actions for a batch.

        Recurrent views take ``starts`` (episode starts, sequence-major) and ``n_seq``.
        """
        dist = None if self.kind == "td3" else self._distribution(obs, starts, n_seq)
        if self.discrete:
            assert dist is not None
            pred = dist.distribution.probs.argmax(dim=-1)
            agree = (pred == target).float()
        else:
            pred = self._mean(obs, dist)
            err = (pred - target).abs() / self._half_range()
            agree = (err.max(dim=-1).values <= AGREEMENT_TOLERANCE).float()
        if loss == "mse":
            per = ((pred - target) ** 2).sum(dim=-1)
        else:
            assert dist is not None
            per = -dist.log_prob(target)
            if entropy_weight:
                per = per - entropy_weight * dist.entropy()
        return per, agree, pred

    def after_fit(self) -> None:
        """Keep derived networks in step with the cloned actor (TD3's target actor)."""
        target = getattr(self.policy, "actor_target", None)
        if target is not None:
            target.load_state_dict(self.policy.actor.state_dict())
