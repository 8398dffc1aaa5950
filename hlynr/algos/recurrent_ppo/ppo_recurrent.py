"""hlynr's RecurrentPPO: sb3-contrib's RecurrentPPO with a fast training path, same results.

Differences from ``sb3_contrib.RecurrentPPO`` (2.9.2), none of which changes what is computed:

* policies run each padded minibatch through one LSTM call (:mod:`.policies`);
* rollout buffers pad minibatches with one gather per field and store LSTM states with one copy
  instead of two (:mod:`.buffers`);
* the policies' Adam uses its fused implementation (same updates up to float32 rounding);
* ``train()`` works on the real rows only: the buffer hands them out directly
  (``get_real_rows``), the policy pads just the LSTM input and computes the heads, the
  log-probabilities and entropies on the real rows (closed forms for Gaussian and categorical
  actions, same operations as ``torch.distributions``), and the loss terms are plain means over
  the elements sb3-contrib's masked means take, in the same order;
* the optimizer step runs on flat views of all parameters (:class:`FlatFusedAdam`: the same
  clipping coefficient and the same fused Adam arithmetic, one kernel call instead of one per
  parameter tensor), and the logged statistics are converted once per epoch.

Models are saved with sb3-contrib's policy class names, so ``sb3_contrib.RecurrentPPO.load``
reads them; loading an sb3-contrib zip here swaps in the fast policy of the same class.
"""

from __future__ import annotations

import io
import pathlib
from collections.abc import Iterable
from typing import ClassVar

import numpy as np
import torch as th
from gymnasium import spaces
from sb3_contrib import RecurrentPPO as Sb3RecurrentPPO
from sb3_contrib.common.recurrent.policies import RecurrentActorCriticPolicy
from sb3_contrib.common.recurrent.type_aliases import RNNStates
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import TensorDict

from hlynr.algos.ppo.records import clip_ranges, record_update
from hlynr.algos.recurrent_ppo.buffers import (
    FastRecurrentDictRolloutBuffer,
    FastRecurrentRolloutBuffer,
)
from hlynr.algos.recurrent_ppo.optim import FlatFusedAdam, clip_grad_norm
from hlynr.algos.recurrent_ppo.policies import (
    FAST_POLICY_OF,
    SB3_POLICY_OF,
    CnnLstmPolicy,
    FastRecurrentMixin,
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
    #: hlynr's fast policy unless a custom policy class was given.
    policy: RecurrentActorCriticPolicy
    #: Set by sb3-contrib's ``_setup_model`` (its ``None`` initialiser makes mypy infer None).
    _last_lstm_states: RNNStates  # type: ignore[assignment]

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

    def _excluded_save_params(self) -> list[str]:
        """sb3-contrib's list plus the flat-Adam helper (runtime state sb3-contrib can't read)."""
        return [*super()._excluded_save_params(), "_flat_adam_of"]

    @property
    def n_sequence_fallbacks(self) -> int:
        """LSTM calls (training and inference) that needed the per-step loop since creation/load."""
        return int(getattr(self.policy, "n_sequence_fallbacks", 0))

    def set_parameters(
        self,
        load_path_or_dict: str | TensorDict,
        exact_match: bool = True,
        device: th.device | str = "auto",
    ) -> None:
        """Load parameters like sb3-contrib; keeps the fast policy's fused Adam setting."""
        super().set_parameters(load_path_or_dict, exact_match=exact_match, device=device)
        if isinstance(self.policy, FastRecurrentMixin):
            self.policy.use_fast_adam()

    def train(self) -> None:
        """sb3-contrib's PPO update on the real (unpadded) rows only; logs the fallback count.

        sb3-contrib pads every field of a minibatch, runs the MLP heads, the distribution and
        every loss term over the padded rows (about 1.6x the real rows with Pendulum's layout)
        and masks them out term by term. Here the buffer hands out the real rows only
        (:meth:`~hlynr.algos.recurrent_ppo.buffers.FastRecurrentRolloutBuffer.get_real_rows`),
        the policy pads just the LSTM input (:meth:`FastRecurrentMixin.evaluate_real_rows`), so
        each loss term is a plain mean over exactly the elements sb3-contrib's masked mean takes,
        in the same order. Same losses, logs, early stopping and optimizer step; a policy or
        buffer other than hlynr's fast ones uses sb3-contrib's update unchanged.
        """
        policy, buffer = self.policy, self.rollout_buffer
        if isinstance(policy, FastRecurrentMixin) and isinstance(
            buffer, (FastRecurrentRolloutBuffer, FastRecurrentDictRolloutBuffer)
        ):
            self._train_real_rows(policy, buffer)
        else:
            super().train()
        self.logger.record("train/lstm_step_loop_fallbacks", self.n_sequence_fallbacks)

    def _value_loss(
        self,
        values: th.Tensor,
        returns: th.Tensor,
        old_values: th.Tensor,
        clip_range_vf: float | None,
    ) -> th.Tensor:
        """PPO's value loss: mean squared error of the values (clipped around the old values
        when ``clip_range_vf`` is set) to the returns, as sb3-contrib computes it."""
        values_pred = values
        if clip_range_vf is not None:
            values_pred = old_values + th.clamp(values - old_values, -clip_range_vf, clip_range_vf)
        return th.mean((returns - values_pred) ** 2)

    def _flat_adam(self) -> FlatFusedAdam | None:
        """The policy optimizer's :class:`FlatFusedAdam`, bound, or None if it does not apply."""
        optimizer = self.policy.optimizer
        flat_adam = getattr(self, "_flat_adam_of", None)
        if flat_adam is None or flat_adam.optimizer is not optimizer:
            flat_adam = FlatFusedAdam(optimizer)
            self._flat_adam_of = flat_adam
        return flat_adam if flat_adam.bind() else None

    def _train_real_rows(
        self,
        policy: FastRecurrentMixin,
        buffer: FastRecurrentRolloutBuffer | FastRecurrentDictRolloutBuffer,
    ) -> None:
        """The body of sb3-contrib 2.9.2's ``RecurrentPPO.train`` on the real rows only.

        Differences in how, not what: the logged per-minibatch statistics are kept as tensors
        and converted to Python floats once per epoch (the same float32 values, so the same
        means); ``approx_kl`` reuses ``ratio - 1`` (sb3-contrib recomputes the identical
        ``exp(log_ratio) - 1``); clipping and Adam run on flat views of all parameters
        (:class:`~hlynr.algos.recurrent_ppo.optim.FlatFusedAdam`) when the optimizer is the
        default fused Adam, else through :func:`~hlynr.algos.recurrent_ppo.optim.clip_grad_norm`
        (``clip_grad_norm_``'s arithmetic) and ``optimizer.step()``. With ``target_kl`` set,
        ``approx_kl`` is read and compared every minibatch, as in sb3-contrib.
        """
        policy.set_training_mode(True)
        optimizer = policy.optimizer
        self._update_learning_rate(optimizer)
        clip_range, clip_range_vf = clip_ranges(self)
        discrete = isinstance(self.action_space, spaces.Discrete)
        parameters = list(policy.parameters())
        ent_coef, vf_coef, target_kl = self.ent_coef, self.vf_coef, self.target_kl
        losses: list[th.Tensor] = []
        approx_kl_divs: list[np.float32] = []
        continue_training = True
        flat_adam: FlatFusedAdam | None = self._flat_adam()
        flat_steps = 0
        for epoch in range(self.n_epochs):
            # Per minibatch: policy loss, clip fraction, value loss, entropy loss, approx KL.
            stats: list[th.Tensor] = []
            for batch in buffer.get_real_rows(self.batch_size):
                actions = batch.actions
                if discrete:
                    actions = actions.long().flatten()
                values, log_prob, entropy = policy.evaluate_real_rows(
                    batch.observations,
                    actions,
                    batch.lstm_states,
                    batch.positions,
                    batch.n_seq,
                    batch.max_len,
                )
                advantages = batch.advantages
                if self.normalize_advantage:
                    advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
                log_ratio = log_prob - batch.old_log_prob
                ratio = th.exp(log_ratio)
                policy_loss_1 = advantages * ratio
                policy_loss_2 = advantages * th.clamp(ratio, 1 - clip_range, 1 + clip_range)
                policy_loss = -th.mean(th.min(policy_loss_1, policy_loss_2))
                value_loss = self._value_loss(
                    values, batch.returns, batch.old_values, clip_range_vf
                )
                if entropy is None:
                    entropy_loss = -th.mean(-log_prob)
                else:
                    entropy_loss = -th.mean(entropy)
                loss = policy_loss + ent_coef * entropy_loss + vf_coef * value_loss
                with th.no_grad():
                    ratio_minus_1 = ratio - 1
                    clip_fraction = th.mean((th.abs(ratio_minus_1) > clip_range).float())
                    approx_kl = th.mean(ratio_minus_1 - log_ratio)
                    stats.append(
                        th.stack((policy_loss, clip_fraction, value_loss, entropy_loss, approx_kl))
                    )
                if target_kl is not None:
                    approx_kl_div = approx_kl.cpu().numpy()
                    if approx_kl_div > 1.5 * target_kl:
                        continue_training = False
                        if self.verbose >= 1:
                            print(
                                f"Early stopping at step {epoch} due to reaching max kl: "
                                f"{approx_kl_div:.2f}"
                            )
                        break
                if flat_adam is not None:
                    flat_adam.zero_grad()
                    loss.backward()
                    if flat_adam.clip_and_step(self.max_grad_norm):
                        flat_steps += 1
                        continue
                    # A parameter without gradient: Adam must skip it, so step the usual way.
                    flat_adam.unbind()
                    flat_adam = None
                else:
                    optimizer.zero_grad()
                    loss.backward()
                clip_grad_norm(parameters, self.max_grad_norm)
                optimizer.step()
            table = th.stack(stats).cpu()
            losses.append(table[:, :4])
            approx_kl_divs = list(table[:, 4].numpy())
            self._n_updates += 1
            if not continue_training:
                break
        if flat_adam is not None and flat_steps:
            flat_adam.expose_clipped_grads()
        record_update(self, th.cat(losses), approx_kl_divs, loss, clip_range, clip_range_vf)

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
