"""The update of SAC and TQC (a squashed Gaussian actor, an entropy coefficient, stacked critics).

:func:`train_soft` is the body of SB3 2.9.2's ``SAC.train`` and sb3-contrib 2.9.2's ``TQC.train``:
the same minibatches, random draws, losses, optimizer steps and target updates in the same order.
What differs is how: all minibatches come from one gather (:mod:`.replay`), the critics are one
stacked computation (:mod:`.nets`), each loss is differentiated with respect to the flat
parameters only (the actor loss gives no gradient to the critics, whose gradient SB3 computes
and then discards), each optimizer is one fused Adam call on a flat tensor (:mod:`.flat`), the
target update is two operations on one flat tensor, and the logged values stay tensors until
the end of the call. A :class:`SoftCritic` supplies what differs between SAC and TQC.
"""

from __future__ import annotations

from typing import Any, Protocol

import torch as th

from hlynr.algos.offpolicy.actors import squashed_head, squashed_sample
from hlynr.algos.offpolicy.base import Nets, entropy_step, record_means
from hlynr.algos.offpolicy.flat import polyak
from hlynr.algos.offpolicy.nets import stacked_forward
from hlynr.algos.offpolicy.replay import sample_minibatches

Discount = th.Tensor | float


class SoftCritic(Protocol):
    """The critic terms of a soft actor-critic: the TD target, the critic loss, the actor's value."""

    def target(self, next_q: th.Tensor, next_log_prob: th.Tensor, ent_coef: th.Tensor,
               rewards: th.Tensor, dones: th.Tensor, discounts: Discount) -> th.Tensor:
        """The critics' regression target from the target critics' stacked output ``(n, batch, k)``."""
        ...

    def loss(self, current: th.Tensor, target: th.Tensor) -> th.Tensor:
        """The critic loss of the stacked output ``(n, batch, k)`` against :meth:`target`'s."""
        ...

    def actor_value(self, q_pi: th.Tensor) -> th.Tensor:
        """The ``(batch, 1)`` value the actor maximises, from the stacked output at its actions."""
        ...


def train_soft(model: Any, nets: Nets, gradient_steps: int, batch_size: int, critic: SoftCritic) -> None:
    """``gradient_steps`` updates of a SAC or TQC ``model`` (SB3's ``train()``, same results)."""
    policy = model.policy
    policy.set_training_mode(True)
    optimizers = [policy.actor.optimizer, policy.critic.optimizer]
    if model.ent_coef_optimizer is not None:
        optimizers.append(model.ent_coef_optimizer)
    model._update_learning_rate(optimizers)
    whole, batches = sample_minibatches(model.replay_buffer, batch_size, gradient_steps, model._vec_normalize_env)
    obs_actor, obs_critic, next_actor, next_critic = nets.features(whole.observations, whole.next_observations)
    action_dim = policy.actor.action_dist.action_dim
    epsilon = policy.actor.action_dist.epsilon
    fixed = None if nets.ent is not None else model.ent_coef_tensor
    layers, critic_layers = nets.actor_layers, nets.critic_layers
    rows = []
    for step, batch in enumerate(batches):
        rows_of_step = slice(step * batch_size, (step + 1) * batch_size)
        discounts = batch.discounts if batch.discounts is not None else model.gamma
        mean, log_std = squashed_head(layers, nets.actor.leaves, obs_actor[rows_of_step], action_dim)
        actions_pi, log_prob = squashed_sample(mean, log_std, epsilon)
        log_prob = log_prob.reshape(-1, 1)
        ent_coef, ent_coef_loss = entropy_step(nets, log_prob, model.target_entropy, fixed)
        with th.no_grad():
            mean, log_std = squashed_head(layers, nets.actor.views, next_actor[rows_of_step], action_dim)
            next_actions, next_log_prob = squashed_sample(mean, log_std, epsilon)
            next_q = stacked_forward(critic_layers, nets.critic_target.views,
                                     th.cat([next_critic[rows_of_step], next_actions], dim=1))
            target = critic.target(next_q, next_log_prob.reshape(-1, 1), ent_coef, batch.rewards, batch.dones,
                                   discounts)
        features = obs_critic[rows_of_step]
        current = stacked_forward(critic_layers, nets.critic.leaves, th.cat([features, batch.actions], dim=1))
        critic_loss = critic.loss(current, target)
        grads = th.autograd.grad(critic_loss, nets.critic.leaves)
        nets.critic_adam.step(nets.critic.grad_of(grads))
        q_pi = stacked_forward(critic_layers, nets.critic.views, th.cat([features, actions_pi], dim=1))
        actor_loss = (ent_coef * log_prob - critic.actor_value(q_pi)).mean()
        grads = th.autograd.grad(actor_loss, nets.actor.leaves)
        nets.actor_adam.step(nets.actor.grad_of(grads))
        if step % model.target_update_interval == 0:
            polyak(nets.critic_target, nets.critic, model.tau)
        row = [ent_coef.detach().reshape(()), actor_loss.detach(), critic_loss.detach()]
        if ent_coef_loss is not None:
            row.append(ent_coef_loss.detach())
        rows.append(th.stack(row))
    model._n_updates += gradient_steps
    model.logger.record("train/n_updates", model._n_updates, exclude="tensorboard")
    record_means(model.logger, ["train/ent_coef", "train/actor_loss", "train/critic_loss", "train/ent_coef_loss"],
                 rows)
