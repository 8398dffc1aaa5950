"""hlynr's TD3: Stable-Baselines3's TD3 with a fast update, same results.

The body of SB3 2.9.2's ``TD3.train`` with the same minibatches, target-policy noise draws,
losses, delayed actor updates and target updates, in the same order; the how is that of
:mod:`hlynr.algos.offpolicy.soft` (one gather, stacked critics, gradients of the flat
parameters only, fused flat Adam, flat target updates, logging once per call). The actor loss
reads the first critic through its slice of the stacked weights (SB3's ``q1_forward``).
"""

from __future__ import annotations

import stable_baselines3
import torch as th

from hlynr.algos.offpolicy.base import FALLBACK_STATE, FAST_STATE, Nets, fast_nets, record_means
from hlynr.algos.offpolicy.flat import polyak
from hlynr.algos.offpolicy.nets import first_of_stack, mlp_forward, stacked_forward
from hlynr.algos.offpolicy.replay import sample_minibatches


class TD3(stable_baselines3.TD3):
    """Drop-in for ``stable_baselines3.TD3``: same arguments, policies, saved files and numbers; faster.

    Where the fast update does not apply, the model warns once and runs SB3's ``train()``.
    """

    def train(self, gradient_steps: int, batch_size: int = 100) -> None:
        """SB3's TD3 update, ``gradient_steps`` times."""
        nets = fast_nets(self)
        if nets is None:
            super().train(gradient_steps, batch_size)
            return
        self._train_fast(nets, gradient_steps, batch_size)

    def _train_fast(self, nets: Nets, gradient_steps: int, batch_size: int) -> None:
        assert nets.actor_target is not None
        self.policy.set_training_mode(True)
        self._update_learning_rate([self.actor.optimizer, self.critic.optimizer])
        assert self.replay_buffer is not None
        whole, batches = sample_minibatches(self.replay_buffer, batch_size, gradient_steps, self._vec_normalize_env)
        obs_actor, obs_critic, next_actor, next_critic = nets.features(whole.observations, whole.next_observations)
        layers, critic_layers = nets.actor_layers, nets.critic_layers
        actor_losses, critic_losses = [], []
        for step, batch in enumerate(batches):
            rows = slice(step * batch_size, (step + 1) * batch_size)
            self._n_updates += 1
            discounts = batch.discounts if batch.discounts is not None else self.gamma
            with th.no_grad():
                noise = th.empty(batch.actions.shape, dtype=batch.actions.dtype, device=batch.actions.device)
                noise = noise.normal_(0, self.target_policy_noise).clamp(-self.target_noise_clip,
                                                                          self.target_noise_clip)
                next_actions = (mlp_forward(layers, nets.actor_target.views, next_actor[rows]) + noise).clamp(-1, 1)
                next_q = stacked_forward(critic_layers, nets.critic_target.views,
                                         th.cat([next_critic[rows], next_actions], dim=1))
                target = batch.rewards + (1 - batch.dones) * discounts * next_q.min(dim=0).values
            features = obs_critic[rows]
            current = stacked_forward(critic_layers, nets.critic.leaves, th.cat([features, batch.actions], dim=1))
            critic_loss = ((current - target) ** 2).mean(dim=(1, 2)).sum()
            grads = th.autograd.grad(critic_loss, nets.critic.leaves)
            nets.critic_adam.step(nets.critic.grad_of(grads))
            critic_losses.append(critic_loss.detach().reshape(1))
            if self._n_updates % self.policy_delay == 0:
                actions = mlp_forward(layers, nets.actor.leaves, obs_actor[rows])
                q1 = mlp_forward(critic_layers, first_of_stack(nets.critic.views), th.cat([features, actions], dim=1))
                actor_loss = -q1.mean()
                grads = th.autograd.grad(actor_loss, nets.actor.leaves)
                nets.actor_adam.step(nets.actor.grad_of(grads))
                actor_losses.append(actor_loss.detach().reshape(1))
                polyak(nets.critic_target, nets.critic, self.tau)
                polyak(nets.actor_target, nets.actor, self.tau)
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        record_means(self.logger, ["train/actor_loss"], actor_losses)
        record_means(self.logger, ["train/critic_loss"], critic_losses)

    def _excluded_save_params(self) -> list[str]:
        """SB3's list plus the fast update's runtime state."""
        return [*super()._excluded_save_params(), FAST_STATE, FALLBACK_STATE]
