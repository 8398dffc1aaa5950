"""``MAPPO``: PPO with a centralised critic (Yu et al. 2022), native to SB3.

Training is centralised, execution decentralised: rollouts store each agent row's local
observation together with the critic row the env publishes for it (``env.critic_observations()``
and ``info["terminal_critic_observation"]``, see :mod:`hlynr.multiagent.engine`); the critic
learns normalised values (:class:`~.value_norm.ValueNorm`, updated with each rollout's value
targets before the update epochs); the actor's loss is PPO's. The saved model is an SB3 model
whose policy acts from local observations only: ``MAPPO.load(path).predict(obs)`` or
``PPO.load(path).predict(obs)`` need no env and no global state.

Other settings are PPO's (``n_epochs``, ``clip_range``, ``batch_size`` ...); MAPPO's paper uses
few epochs (5-15), clip <= 0.2 and one minibatch on hard tasks (``batch_size = n_steps * n_envs``).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3 import PPO
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.utils import explained_variance

from hlynr.algos.centralised.critic_rows import CentralisedCriticMixin, critic_init
from hlynr.algos.centralised.policy import CentralisedCriticPolicy


class MAPPO(CentralisedCriticMixin, PPO):
    """PPO with a centralised critic; see the module docstring.

    :param value_normalisation: normalise the critic's targets (MAPPO's ValueNorm); False trains
        the critic on raw returns.
    :param value_loss: ``mse`` (SB3's) or ``huber`` (MAPPO's paper), on the normalised targets.
    :param huber_delta: the Huber loss's delta (default 10, MAPPO's); only with ``huber``.
    """

    policy_aliases: ClassVar[dict[str, type]] = {"MlpPolicy": CentralisedCriticPolicy}
    policy: CentralisedCriticPolicy
    __init__ = critic_init(PPO)

    def _make_buffer(self, joint: spaces.Box) -> RolloutBuffer:
        return RolloutBuffer(self.n_steps, joint, self.action_space, device=self.device,
                             gamma=self.gamma, gae_lambda=self.gae_lambda, n_envs=self.n_envs)

    def _act(self, obs: th.Tensor, critic: th.Tensor) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
        return self.policy.forward_centralised(obs, critic)

    def _store(self, buffer: RolloutBuffer, joint: np.ndarray, actions: np.ndarray, rewards: np.ndarray,
               values: th.Tensor, log_probs: th.Tensor) -> None:
        # _last_episode_starts (Optional in SB3) is set by _setup_learn before any rollout.
        buffer.add(joint, actions, rewards, self._last_episode_starts,  # type: ignore[arg-type]
                   values, log_probs)

    def train(self) -> None:
        """PPO's update with the critic on critic rows and normalised value targets."""
        self.policy.set_training_mode(True)
        self._update_learning_rate(self.policy.optimizer)
        # Schedules since _setup_model; SB3 types them as float | Schedule.
        clip_range = self.clip_range(self._current_progress_remaining)  # type: ignore[operator]
        clip_range_vf = (self.clip_range_vf(self._current_progress_remaining)  # type: ignore[operator]
                         if self.clip_range_vf is not None else None)
        self.update_value_norm()
        entropy_losses, pg_losses, value_losses, clip_fractions = [], [], [], []
        approx_kl_divs: list[float] = []
        continue_training = True
        loss = th.zeros(())
        for _epoch in range(self.n_epochs):
            approx_kl_divs = []
            for data in self.rollout_buffer.get(self.batch_size):
                actions = data.actions
                if isinstance(self.action_space, spaces.Discrete):
                    actions = data.actions.long().flatten()
                obs, critic = self.split_rows(data.observations)
                values, log_prob, entropy = self.policy.evaluate_centralised(obs, critic, actions)
                values = values.flatten()
                advantages = data.advantages
                if self.normalize_advantage and len(advantages) > 1:
                    advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
                ratio = th.exp(log_prob - data.old_log_prob)
                policy_loss = -th.min(advantages * ratio,
                                      advantages * th.clamp(ratio, 1 - clip_range, 1 + clip_range)).mean()
                pg_losses.append(policy_loss.item())
                clip_fractions.append(th.mean((th.abs(ratio - 1) > clip_range).float()).item())
                value_loss = self._value_loss(values, data.returns, data.old_values, clip_range_vf)
                value_losses.append(value_loss.item())
                entropy_loss = -th.mean(-log_prob) if entropy is None else -th.mean(entropy)
                entropy_losses.append(entropy_loss.item())
                loss = policy_loss + self.ent_coef * entropy_loss + self.vf_coef * value_loss
                with th.no_grad():
                    log_ratio = log_prob - data.old_log_prob
                    approx_kl = th.mean((th.exp(log_ratio) - 1) - log_ratio).cpu().numpy()
                    approx_kl_divs.append(float(approx_kl))
                if self.target_kl is not None and approx_kl > 1.5 * self.target_kl:
                    continue_training = False
                    break
                self.policy.optimizer.zero_grad()
                loss.backward()
                th.nn.utils.clip_grad_norm_(self.policy.parameters(), self.max_grad_norm)
                self.policy.optimizer.step()
            self._n_updates += 1
            if not continue_training:
                break
        explained_var = explained_variance(self.rollout_buffer.values.flatten(),
                                           self.rollout_buffer.returns.flatten())
        for key, value in [("entropy_loss", np.mean(entropy_losses)), ("policy_gradient_loss", np.mean(pg_losses)),
                           ("value_loss", np.mean(value_losses)), ("approx_kl", np.mean(approx_kl_divs)),
                           ("clip_fraction", np.mean(clip_fractions)), ("loss", loss.item()),
                           ("explained_variance", explained_var), ("clip_range", clip_range)]:
            self.logger.record(f"train/{key}", value)
        if hasattr(self.policy, "log_std"):
            self.logger.record("train/std", th.exp(self.policy.log_std).mean().item())
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self._log_value_norm()

