"""hlynr's RecurrentPPO: sb3-contrib's RecurrentPPO with a fast training path, same results.

Differences from ``sb3_contrib.RecurrentPPO`` (2.9.2), none of which changes what is computed:

* policies run each padded minibatch through one LSTM call (:mod:`.policies`);
* rollout buffers pad minibatches with one gather per field and store LSTM states with one copy
  instead of two (:mod:`.buffers`);
* the policies' Adam uses its fused implementation (same updates up to float32 rounding);
* ``train()`` drops the padded rows once, after the LSTMs, instead of computing the MLP heads and
  every loss term over them and masking each term (same elements, same order).

Models are saved with sb3-contrib's policy class names, so ``sb3_contrib.RecurrentPPO.load``
reads them; loading an sb3-contrib zip here swaps in the fast policy of the same class.
"""

from __future__ import annotations

import io
import pathlib
from collections.abc import Iterable
from typing import Any, ClassVar

import numpy as np
import torch as th
from gymnasium import spaces
from sb3_contrib import RecurrentPPO as Sb3RecurrentPPO
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.utils import explained_variance

from hlynr.algos.recurrent_ppo.buffers import (
    FastRecurrentDictRolloutBuffer,
    FastRecurrentRolloutBuffer,
)
from hlynr.algos.recurrent_ppo.policies import (
    FAST_POLICY_OF,
    SB3_POLICY_OF,
    CnnLstmPolicy,
    MlpLstmPolicy,
    MultiInputLstmPolicy,
)


class RecurrentPPO(Sb3RecurrentPPO):
    """Drop-in for ``sb3_contrib.RecurrentPPO`` (same arguments, same numbers, faster on CPU).

    :attr:`n_sequence_fallbacks` counts LSTM calls that needed sb3-contrib's per-step loop
    (a training sequence with an episode start past its first element; 0 in practice). It is
    logged as ``train/lstm_step_loop_fallbacks`` after every ``train()``.
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "MlpLstmPolicy": MlpLstmPolicy,
        "CnnLstmPolicy": CnnLstmPolicy,
        "MultiInputLstmPolicy": MultiInputLstmPolicy,
    }

    def _setup_model(self) -> None:
        """sb3-contrib's setup with the fast policy (for sb3-contrib classes too) and buffers."""
        self.policy_class = FAST_POLICY_OF.get(self.policy_class, self.policy_class)
        super()._setup_model()
        lstm = self.policy.lstm_actor
        buffer_cls = (
            FastRecurrentDictRolloutBuffer
            if isinstance(self.observation_space, spaces.Dict)
            else FastRecurrentRolloutBuffer
        )
        self.rollout_buffer = buffer_cls(
            self.n_steps,
            self.observation_space,
            self.action_space,
            (self.n_steps, lstm.num_layers, self.n_envs, lstm.hidden_size),
            self.device,
            gamma=self.gamma,
            gae_lambda=self.gae_lambda,
            n_envs=self.n_envs,
        )

    @property
    def n_sequence_fallbacks(self) -> int:
        """LSTM calls (training and inference) that needed the per-step loop since creation/load."""
        return int(getattr(self.policy, "n_sequence_fallbacks", 0))

    def set_parameters(
        self, load_path_or_dict: Any, exact_match: bool = True, device: th.device | str = "auto"
    ) -> None:
        """Load parameters like sb3-contrib; keeps the fast policy's fused Adam setting."""
        super().set_parameters(load_path_or_dict, exact_match=exact_match, device=device)
        if hasattr(self.policy, "use_fast_adam"):
            self.policy.use_fast_adam()

    def train(self) -> None:
        """sb3-contrib's PPO update on the real (unpadded) rows only; logs the fallback count.

        sb3-contrib runs the MLP heads, the distribution and every loss term over the whole
        padded minibatch (about 1.6x the real rows with Pendulum's layout) and then masks the
        padded rows out with a boolean index per term. Here the padded rows are dropped once,
        right after the LSTMs (:meth:`FastRecurrentMixin.evaluate_actions_rows`), so each loss
        term is a plain mean over exactly the elements sb3-contrib's masked mean takes, in the
        same order. Same losses, logs, early stopping and optimizer step; a policy class without
        ``evaluate_actions_rows`` uses sb3-contrib's update unchanged.
        """
        if not hasattr(self.policy, "evaluate_actions_rows"):
            super().train()
        else:
            self._train_real_rows()
        self.logger.record("train/lstm_step_loop_fallbacks", self.n_sequence_fallbacks)

    def _train_real_rows(self) -> None:
        """The body of sb3-contrib 2.9.2's ``RecurrentPPO.train`` on the real rows only."""
        self.policy.set_training_mode(True)
        self._update_learning_rate(self.policy.optimizer)
        progress = self._current_progress_remaining
        clip_range = self.clip_range(progress)  # type: ignore[operator]
        if self.clip_range_vf is not None:
            clip_range_vf = self.clip_range_vf(progress)  # type: ignore[operator]
        discrete = isinstance(self.action_space, spaces.Discrete)
        entropy_losses: list[float] = []
        pg_losses: list[float] = []
        value_losses: list[float] = []
        clip_fractions: list[float] = []
        continue_training = True
        for epoch in range(self.n_epochs):
            approx_kl_divs = []
            for rollout_data in self.rollout_buffer.get(self.batch_size):
                # Positions of the real (unpadded) rows, the ones sb3-contrib's mask keeps.
                rows = th.nonzero(rollout_data.mask > 1e-8).squeeze(1)
                actions = rollout_data.actions
                if discrete:
                    actions = actions.long().flatten()
                actions = actions.index_select(0, rows)
                evaluate = self.policy.evaluate_actions_rows  # type: ignore[attr-defined]
                values, log_prob, entropy = evaluate(
                    rollout_data.observations,
                    actions,
                    rollout_data.lstm_states,
                    rollout_data.episode_starts,
                    rows,
                )
                values = values.flatten()
                advantages = rollout_data.advantages.index_select(0, rows)
                if self.normalize_advantage:
                    advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
                old_log_prob = rollout_data.old_log_prob.index_select(0, rows)
                log_ratio = log_prob - old_log_prob
                ratio = th.exp(log_ratio)
                policy_loss_1 = advantages * ratio
                policy_loss_2 = advantages * th.clamp(ratio, 1 - clip_range, 1 + clip_range)
                policy_loss = -th.mean(th.min(policy_loss_1, policy_loss_2))
                pg_losses.append(policy_loss.item())
                clip_fractions.append(th.mean((th.abs(ratio - 1) > clip_range).float()).item())
                if self.clip_range_vf is None:
                    values_pred = values
                else:
                    old_values = rollout_data.old_values.index_select(0, rows)
                    values_pred = old_values + th.clamp(
                        values - old_values, -clip_range_vf, clip_range_vf
                    )
                returns = rollout_data.returns.index_select(0, rows)
                value_loss = th.mean((returns - values_pred) ** 2)
                value_losses.append(value_loss.item())
                if entropy is None:
                    entropy_loss = -th.mean(-log_prob)
                else:
                    entropy_loss = -th.mean(entropy)
                entropy_losses.append(entropy_loss.item())
                loss = policy_loss + self.ent_coef * entropy_loss + self.vf_coef * value_loss
                with th.no_grad():
                    approx_kl_div = th.mean((th.exp(log_ratio) - 1) - log_ratio).cpu().numpy()
                    approx_kl_divs.append(approx_kl_div)
                if self.target_kl is not None and approx_kl_div > 1.5 * self.target_kl:
                    continue_training = False
                    if self.verbose >= 1:
                        print(
                            f"Early stopping at step {epoch} due to reaching max kl: "
                            f"{approx_kl_div:.2f}"
                        )
                    break
                self.policy.optimizer.zero_grad()
                loss.backward()
                th.nn.utils.clip_grad_norm_(self.policy.parameters(), self.max_grad_norm)
                self.policy.optimizer.step()
            self._n_updates += 1
            if not continue_training:
                break
        explained_var = explained_variance(
            self.rollout_buffer.values.flatten(), self.rollout_buffer.returns.flatten()
        )
        self.logger.record("train/entropy_loss", np.mean(entropy_losses))
        self.logger.record("train/policy_gradient_loss", np.mean(pg_losses))
        self.logger.record("train/value_loss", np.mean(value_losses))
        self.logger.record("train/approx_kl", np.mean(approx_kl_divs))
        self.logger.record("train/clip_fraction", np.mean(clip_fractions))
        self.logger.record("train/loss", loss.item())
        self.logger.record("train/explained_variance", explained_var)
        if hasattr(self.policy, "log_std"):
            self.logger.record("train/std", th.exp(self.policy.log_std).mean().item())
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/clip_range", clip_range)
        if self.clip_range_vf is not None:
            self.logger.record("train/clip_range_vf", clip_range_vf)

    def save(
        self,
        path: str | pathlib.Path | io.BufferedIOBase,
        exclude: Iterable[str] | None = None,
        include: Iterable[str] | None = None,
    ) -> None:
        """Save like sb3-contrib, naming sb3-contrib's policy class so either library loads it.

        GRU models keep hlynr's class name (sb3-contrib has no GRU and cannot load them).
        """
        fast_cls = self.policy_class
        if getattr(self.policy, "rnn_type", "lstm") == "lstm":
            self.policy_class = SB3_POLICY_OF.get(fast_cls, fast_cls)
        try:
            super().save(path, exclude=exclude, include=include)
        finally:
            self.policy_class = fast_cls
