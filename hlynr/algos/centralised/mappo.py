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

import inspect
from typing import Any, ClassVar

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3 import PPO
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.utils import explained_variance, obs_as_tensor
from stable_baselines3.common.vec_env import VecEnv
from torch.nn import functional as F

from hlynr.algos.centralised.policy import CentralisedCriticPolicy

NO_GLOBAL_STATE = ("MAPPO needs a global state for its centralised critic, and this env publishes "
                   "none (no critic_observation_space)")


def critic_space_of(env: VecEnv) -> spaces.Box:
    """The env's critic-row Box, or ``ValueError`` with :data:`NO_GLOBAL_STATE`."""
    space = getattr(env, "critic_observation_space", None)
    if not isinstance(space, spaces.Box):
        raise ValueError(NO_GLOBAL_STATE)
    return space


class MAPPO(PPO):
    """PPO with a centralised critic; see the module docstring.

    :param value_normalisation: normalise the critic's targets (MAPPO's ValueNorm); False trains
        the critic on raw returns.
    """

    policy_aliases: ClassVar[dict[str, type]] = {"MlpPolicy": CentralisedCriticPolicy}
    policy: CentralisedCriticPolicy

    def __init__(self, policy: str | type[CentralisedCriticPolicy], env: VecEnv | str | None,
                 *args: Any, value_normalisation: bool = True, **kwargs: Any) -> None:
        self.value_normalisation = value_normalisation
        super().__init__(policy, env, *args, **kwargs)

    def _setup_model(self) -> None:
        if self.env is not None:
            self.policy_kwargs["critic_observation_space"] = critic_space_of(self.env)
        elif "critic_observation_space" not in self.policy_kwargs:
            raise ValueError(NO_GLOBAL_STATE)
        super()._setup_model()
        self.policy.value_norm.enabled = self.value_normalisation
        local = self.observation_space
        critic = self.policy_kwargs["critic_observation_space"]
        if not (isinstance(local, spaces.Box) and len(local.shape) == 1):
            raise ValueError("MAPPO needs flat Box observations")
        self._local_dim = local.shape[0]
        joint = spaces.Box(-np.inf, np.inf, (self._local_dim + int(np.prod(critic.shape)),), np.float32)
        # rollouts keep [local observation | critic row] per agent row
        self.rollout_buffer = RolloutBuffer(self.n_steps, joint, self.action_space, device=self.device,
                                            gamma=self.gamma, gae_lambda=self.gae_lambda, n_envs=self.n_envs)

    def split_rows(self, rows: Any) -> tuple[Any, Any]:
        """Rollout rows ``[local observation | critic row]`` as ``(local, critic)``."""
        return rows[:, : self._local_dim], rows[:, self._local_dim:]

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "_local_dim"]

    def _critic_rows(self, env: VecEnv) -> np.ndarray:
        return np.asarray(env.critic_observations(), dtype=np.float32).reshape(env.num_envs, -1)  # type: ignore[attr-defined]

    def collect_rollouts(self, env: VecEnv, callback: BaseCallback, rollout_buffer: RolloutBuffer,
                         n_rollout_steps: int) -> bool:
        """SB3's rollout collection, with values from the critic rows and stored beside the obs."""
        assert self._last_obs is not None, "No previous observation was provided"
        self.policy.set_training_mode(False)
        n_steps = 0
        rollout_buffer.reset()
        if self.use_sde:
            self.policy.reset_noise(env.num_envs)
        callback.on_rollout_start()
        critic = self._critic_rows(env)
        while n_steps < n_rollout_steps:
            if self.use_sde and self.sde_sample_freq > 0 and n_steps % self.sde_sample_freq == 0:
                self.policy.reset_noise(env.num_envs)
            with th.no_grad():
                obs_tensor = obs_as_tensor(self._last_obs, self.device)  # type: ignore[arg-type]
                actions, values, log_probs = self.policy.forward_centralised(
                    obs_tensor, th.as_tensor(critic, device=self.device))
            actions = actions.cpu().numpy()
            clipped = actions
            if isinstance(self.action_space, spaces.Box):
                clipped = (self.policy.unscale_action(clipped) if self.policy.squash_output
                           else np.clip(actions, self.action_space.low, self.action_space.high))
            new_obs, rewards, dones, infos = env.step(clipped)
            self.num_timesteps += env.num_envs
            callback.update_locals(locals())
            if not callback.on_step():
                return False
            self._update_info_buffer(infos, dones)
            n_steps += 1
            if isinstance(self.action_space, spaces.Discrete):
                actions = actions.reshape(-1, 1)
            for idx, done in enumerate(dones):
                info = infos[idx]
                if done and info.get("terminal_critic_observation") is not None and info.get("TimeLimit.truncated", False):
                    term = th.as_tensor(np.asarray(info["terminal_critic_observation"], dtype=np.float32)[None],
                                        device=self.device)
                    with th.no_grad():
                        rewards[idx] += self.gamma * self.policy.values_from_critic(term)[0, 0].item()
            joint = np.concatenate([np.asarray(self._last_obs, dtype=np.float32).reshape(env.num_envs, -1),
                                    critic], axis=1)
            rollout_buffer.add(joint, actions, rewards, self._last_episode_starts,  # type: ignore[arg-type]
                               values, log_probs)
            self._last_obs = new_obs  # type: ignore[assignment]
            self._last_episode_starts = dones
            critic = self._critic_rows(env)
        with th.no_grad():
            values = self.policy.values_from_critic(th.as_tensor(critic, device=self.device))
        rollout_buffer.compute_returns_and_advantage(last_values=values, dones=dones)
        callback.update_locals(locals())
        callback.on_rollout_end()
        return True

    def train(self) -> None:
        """PPO's update with the critic on critic rows and normalised value targets."""
        self.policy.set_training_mode(True)
        self._update_learning_rate(self.policy.optimizer)
        clip_range = self.clip_range(self._current_progress_remaining)  # type: ignore[operator]
        clip_range_vf = (self.clip_range_vf(self._current_progress_remaining)  # type: ignore[operator]
                         if self.clip_range_vf is not None else None)
        vn = self.policy.value_norm
        if self.value_normalisation:
            vn.update(th.as_tensor(self.rollout_buffer.returns))
        entropy_losses, pg_losses, value_losses, clip_fractions = [], [], [], []
        approx_kl_divs: list[float] = []
        continue_training = True
        loss = th.zeros(())
        for epoch in range(self.n_epochs):
            approx_kl_divs = []
            for data in self.rollout_buffer.get(self.batch_size):
                actions = data.actions
                if isinstance(self.action_space, spaces.Discrete):
                    actions = data.actions.long().flatten()
                obs, critic = self.split_rows(data.observations)
                values, log_prob, entropy = self.policy.evaluate_centralised(obs, critic, actions)
                values = values.flatten()
                returns, old_values = data.returns, data.old_values
                if self.value_normalisation:
                    returns, old_values = vn.normalize(returns), vn.normalize(old_values)
                advantages = data.advantages
                if self.normalize_advantage and len(advantages) > 1:
                    advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
                ratio = th.exp(log_prob - data.old_log_prob)
                policy_loss = -th.min(advantages * ratio,
                                      advantages * th.clamp(ratio, 1 - clip_range, 1 + clip_range)).mean()
                pg_losses.append(policy_loss.item())
                clip_fractions.append(th.mean((th.abs(ratio - 1) > clip_range).float()).item())
                values_pred = values if clip_range_vf is None else old_values + th.clamp(
                    values - old_values, -clip_range_vf, clip_range_vf)
                value_loss = F.mse_loss(returns, values_pred)
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
        mean, var = vn.mean_var()
        for key, value in [("entropy_loss", np.mean(entropy_losses)), ("policy_gradient_loss", np.mean(pg_losses)),
                           ("value_loss", np.mean(value_losses)), ("approx_kl", np.mean(approx_kl_divs)),
                           ("clip_fraction", np.mean(clip_fractions)), ("loss", loss.item()),
                           ("explained_variance", explained_var), ("value_norm_mean", float(mean[0])),
                           ("value_norm_std", float(th.sqrt(var)[0])), ("clip_range", clip_range)]:
            self.logger.record(f"train/{key}", value)
        if hasattr(self.policy, "log_std"):
            self.logger.record("train/std", th.exp(self.policy.log_std).mean().item())
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")


def _signature() -> inspect.Signature:
    """PPO's constructor signature plus ``value_normalisation`` (what configs may set)."""
    sig = inspect.signature(PPO.__init__)
    extra = inspect.Parameter("value_normalisation", inspect.Parameter.KEYWORD_ONLY, default=True,
                              annotation=bool)
    return sig.replace(parameters=[*sig.parameters.values(), extra])


MAPPO.__init__.__signature__ = _signature()  # type: ignore[attr-defined]
