"""The update of SAC and TQC (a squashed Gaussian actor, an entropy coefficient, stacked critics).

:func:`train_soft` is the body of SB3 2.9.2's ``SAC.train`` and sb3-contrib 2.9.2's ``TQC.train``:
the same minibatches, random draws, losses, optimizer steps and target updates in the same order.
What differs is how: all minibatches come from one gather (:mod:`.replay`); the critics are one
stacked computation (:mod:`.nets`); the MLPs (:mod:`.mlp`), the actor's distribution (:mod:`.actors`) and the
losses run forward and backward by hand, without an autograd graph, with autograd's derivative
formulas, writing the gradients straight into flat gradient tensors;
the actor loss gives no gradient to the critics (SB3 computes it and then discards it); each
optimizer is one fused Adam call on a flat tensor (:mod:`.flat`); the target update is two
operations on one flat tensor; and the logged values stay tensors until the end of the call.
A :class:`SoftCritic` supplies what differs between SAC and TQC.
"""

from __future__ import annotations

from typing import Any, Protocol

import torch as th

from hlynr.algos.flat import polyak
from hlynr.algos.mlp import Saved
from hlynr.algos.offpolicy.actors import squashed_sample
from hlynr.algos.offpolicy.base import Nets, entropy_step, record_means
from hlynr.algos.offpolicy.replay import sample_minibatches

Discount = th.Tensor | float


class SoftCritic(Protocol):
    """The critic terms of a soft actor-critic: the TD target, the critic loss, the actor's value.

    Each gradient method returns what autograd would give for its term, without a graph.
    """

    def target(self, next_q: th.Tensor, next_log_prob: th.Tensor, ent_coef: th.Tensor,
               rewards: th.Tensor, dones: th.Tensor, discounts: Discount) -> th.Tensor:
        """The critics' regression target from the target critics' stacked output ``(n, batch, k)``."""
        ...

    def loss_and_grad(self, current: th.Tensor, target: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
        """The critic loss of the stacked output ``(n, batch, k)`` and its gradient."""
        ...

    def actor_value(self, q_pi: th.Tensor) -> tuple[th.Tensor, Any]:
        """The ``(batch, 1)`` value the actor maximises, from the stacked output at its actions, and
        what :meth:`actor_value_grad` needs."""
        ...

    def actor_value_grad(self, q_pi: th.Tensor, kept: Any, grad: th.Tensor) -> th.Tensor:
        """The gradient with respect to ``q_pi`` given the value's gradient ``grad``."""
        ...


def train_soft(model: Any, nets: Nets, gradient_steps: int, batch_size: int, critic: SoftCritic) -> None:
    """``gradient_steps`` updates of a SAC or TQC ``model`` (SB3's ``train()``, same results)."""
    policy = model.policy
    nets.set_training_mode()
    optimizers = [policy.actor.optimizer, policy.critic.optimizer]
    if model.ent_coef_optimizer is not None:
        optimizers.append(model.ent_coef_optimizer)
    model._update_learning_rate(optimizers)
    whole, batches = sample_minibatches(model.replay_buffer, batch_size, gradient_steps, model._vec_normalize_env)
    obs_actor, obs_critic, next_actor, next_critic = nets.features(whole.observations, whole.next_observations)
    action_dim = policy.actor.action_dist.action_dim
    epsilon = policy.actor.action_dist.epsilon
    fixed = None if nets.ent is not None else model.ent_coef_tensor
    actor, actor_mlp, critic_mlp = nets.actor, nets.actor_mlp, nets.critic_mlp
    # The actor sees each step's observations and next observations in one pass (the same
    # weights: SB3 updates the actor at the end of the step), block after block.
    actor_input = th.stack([obs_actor.unflatten(0, (gradient_steps, batch_size)),
                            next_actor.unflatten(0, (gradient_steps, batch_size))], dim=1).flatten(0, 2)
    rows = []
    with th.no_grad():
        for step, batch in enumerate(batches):
            rows_of_step = slice(step * batch_size, (step + 1) * batch_size)
            discounts = batch.discounts if batch.discounts is not None else model.gamma
            actor_saved = Saved()
            head = actor_mlp.forward(actor.views, actor_input[2 * step * batch_size : 2 * (step + 1) * batch_size],
                                     actor_saved)
            both_actions, both_log_probs, both = squashed_sample(head, action_dim, epsilon, draws=2)
            actions_pi, next_actions = both_actions[:batch_size], both_actions[batch_size:]
            log_prob, next_log_prob = both_log_probs[:batch_size].reshape(-1, 1), both_log_probs[batch_size:]
            sample = both.first(batch_size)
            ent_coef, ent_coef_loss = entropy_step(nets, log_prob, model.target_entropy, fixed)
            next_q = critic_mlp.forward(nets.critic_target.views,
                                        th.cat([next_critic[rows_of_step], next_actions], dim=1))
            target = critic.target(next_q, next_log_prob.reshape(-1, 1), ent_coef, batch.rewards, batch.dones,
                                   discounts)
            features = obs_critic[rows_of_step]
            saved = Saved()
            current = critic_mlp.forward(nets.critic.views, th.cat([features, batch.actions], dim=1), saved)
            critic_loss, grad = critic.loss_and_grad(current, target)
            critic_mlp.backward(nets.critic.views, saved, grad, nets.critic.grad_views)
            nets.critic_adam.step(nets.critic.grad)
            # The actor loss (ent_coef * log_prob - value).mean(): the mean gives every row 1/batch,
            # the value -1/batch, the log-probability ent_coef/batch, as autograd computes them.
            saved = Saved()
            q_pi = critic_mlp.forward(nets.critic.views, th.cat([features, actions_pi], dim=1), saved)
            value, kept = critic.actor_value(q_pi)
            per_row = th.ones_like(value) / batch_size
            grad = critic.actor_value_grad(q_pi, kept, -per_row)
            grad_input = critic_mlp.backward(nets.critic.views, saved, grad, None, input_grad=True)
            assert grad_input is not None
            grad = sample.backward(grad_input[:, -action_dim:], (per_row * ent_coef).reshape(-1))
            actor_mlp.backward(actor.views, actor_saved, grad, actor.grad_views)
            nets.actor_adam.step(actor.grad)
            if step % model.target_update_interval == 0:
                polyak(nets.critic_target, nets.critic, model.tau)
            actor_loss = (ent_coef * log_prob - value).mean()
            row = [ent_coef.reshape(()), actor_loss, critic_loss]
            if ent_coef_loss is not None:
                row.append(ent_coef_loss)
            rows.append(th.stack(row))
    model._n_updates += gradient_steps
    model.logger.record("train/n_updates", model._n_updates, exclude="tensorboard")
    record_means(model.logger, ["train/ent_coef", "train/actor_loss", "train/critic_loss", "train/ent_coef_loss"],
                 rows)
