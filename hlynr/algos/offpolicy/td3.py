"""hlynr's TD3: Stable-Baselines3's TD3 with a fast update, same results.

The body of SB3 2.9.2's ``TD3.train`` with the same minibatches, target-policy noise draws,
losses, delayed actor updates and target updates, in the same order; the how is that of
:mod:`hlynr.algos.offpolicy.soft` (one gather, stacked critics, gradients of the flat
parameters only, fused flat Adam, flat target updates, logging once per call); no autograd at
all. The actor loss reads the first critic through its slice of the
stacked weights (SB3's ``q1_forward``) and is differentiated by hand through it and the actor.
"""

from __future__ import annotations

import stable_baselines3
import torch as th
from stable_baselines3.common.preprocessing import get_action_dim

from hlynr.algos.flat import polyak
from hlynr.algos.mlp import Saved
from hlynr.algos.offpolicy.agent_rows import AgentRowsMixin, rows_init
from hlynr.algos.offpolicy.base import FALLBACK_STATE, FAST_STATE, Nets, fast_nets, record_means
from hlynr.algos.offpolicy.replay import sample_minibatches


def critic_loss_and_grad(current: th.Tensor, target: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
    """``sum_i mse(Q_i, target)`` over the stacked critics' output ``(n, batch, 1)``, and its
    gradient ``(1 / batch) * (2 * (Q_i - target))`` (the mean's, then the square's backward)."""
    diff = current - target
    loss = (diff**2).mean(dim=(1, 2)).sum()
    return loss, (th.ones((), dtype=diff.dtype, device=diff.device) / diff.shape[1]) * (2 * diff)


class TD3(AgentRowsMixin, stable_baselines3.TD3):
    """Drop-in for ``stable_baselines3.TD3``: same arguments, policies, saved files and numbers; faster.
    Over a VecEnv of multi-agent rows it stores only rows with a live agent and takes
    ``updates_per_row`` (:mod:`hlynr.algos.offpolicy.agent_rows`).

    Where the fast update does not apply, the model warns once and runs SB3's ``train()``.
    """

    __init__ = rows_init(stable_baselines3.TD3)

    def train(self, gradient_steps: int, batch_size: int = 100) -> None:
        """SB3's TD3 update, ``gradient_steps`` times."""
        nets = fast_nets(self)
        if nets is None:
            super().train(gradient_steps, batch_size)
            return
        self._train_fast(nets, gradient_steps, batch_size)

    def _train_fast(self, nets: Nets, gradient_steps: int, batch_size: int) -> None:
        assert nets.actor_target is not None and self.replay_buffer is not None
        nets.set_training_mode()
        self._update_learning_rate([self.actor.optimizer, self.critic.optimizer])
        whole, batches = sample_minibatches(self.replay_buffer, batch_size, gradient_steps, self._vec_normalize_env)
        obs_actor, obs_critic, next_actor, next_critic = nets.features(whole.observations, whole.next_observations)
        actor_mlp, critic_mlp, action_dim = nets.actor_mlp, nets.critic_mlp, get_action_dim(self.action_space)
        actor_losses, critic_losses = [], []
        for step, batch in enumerate(batches):
            rows = slice(step * batch_size, (step + 1) * batch_size)
            self._n_updates += 1
            discounts = batch.discounts if batch.discounts is not None else self.gamma
            with th.no_grad():
                noise = th.empty(batch.actions.shape, dtype=batch.actions.dtype, device=batch.actions.device)
                noise = noise.normal_(0, self.target_policy_noise).clamp(-self.target_noise_clip,
                                                                          self.target_noise_clip)
                next_actions = (actor_mlp.forward(nets.actor_target.views, next_actor[rows]) + noise).clamp(-1, 1)
                next_q = critic_mlp.forward(nets.critic_target.views, th.cat([next_critic[rows], next_actions], dim=1))
                target = batch.rewards + (1 - batch.dones) * discounts * next_q.min(dim=0).values
            features = obs_critic[rows]
            saved = Saved()
            current = critic_mlp.forward(nets.critic.views, th.cat([features, batch.actions], dim=1), saved)
            critic_loss, grad = critic_loss_and_grad(current, target)
            critic_mlp.backward(nets.critic.views, saved, grad, nets.critic.grad_views)
            nets.critic_adam.step(nets.critic.grad)
            critic_losses.append(critic_loss.reshape(1))
            if self._n_updates % self.policy_delay == 0:
                # -Q1(s, actor(s)).mean(), differentiated by hand through the first critic and the actor
                actor_saved, q_saved = Saved(), Saved()
                actions = actor_mlp.forward(nets.actor.views, obs_actor[rows], actor_saved)
                q1_weights = [w[0] for w in nets.critic.views]
                q1 = nets.q1_mlp.forward(q1_weights, th.cat([features, actions], dim=1), q_saved)
                grad = -(th.ones_like(q1) / batch_size)
                grad_input = nets.q1_mlp.backward(q1_weights, q_saved, grad, None, input_grad=True)
                assert grad_input is not None
                actor_mlp.backward(nets.actor.views, actor_saved, grad_input[:, -action_dim:], nets.actor.grad_views)
                nets.actor_adam.step(nets.actor.grad)
                actor_losses.append(-q1.mean().reshape(1))
                polyak(nets.critic_target, nets.critic, self.tau)
                polyak(nets.actor_target, nets.actor, self.tau)
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        record_means(self.logger, ["train/actor_loss"], actor_losses)
        record_means(self.logger, ["train/critic_loss"], critic_losses)

    def _excluded_save_params(self) -> list[str]:
        """SB3's list plus the fast update's runtime state."""
        return [*super()._excluded_save_params(), FAST_STATE, FALLBACK_STATE]
