"""hlynr's RecurrentPPO: sb3-contrib's RecurrentPPO with a fast training path, same results.

Differences from ``sb3_contrib.RecurrentPPO`` (2.9.2), none of which changes what is computed:

* policies run each padded minibatch through one LSTM call (:mod:`.policies`);
* rollout buffers pad minibatches with one gather per field and store LSTM states with one copy
  instead of two (:mod:`.buffers`);
* the policies' Adam uses its ``foreach`` implementation (bit-identical updates).

Models are saved with sb3-contrib's policy class names, so ``sb3_contrib.RecurrentPPO.load``
reads them; loading an sb3-contrib zip here swaps in the fast policy of the same class.
"""

from __future__ import annotations

import io
import pathlib
from collections.abc import Iterable
from typing import Any, ClassVar

import torch as th
from gymnasium import spaces
from sb3_contrib import RecurrentPPO as Sb3RecurrentPPO
from stable_baselines3.common.policies import BasePolicy

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
        """Load parameters like sb3-contrib; keeps the fast policy's foreach Adam setting."""
        super().set_parameters(load_path_or_dict, exact_match=exact_match, device=device)
        if hasattr(self.policy, "use_foreach_adam"):
            self.policy.use_foreach_adam()

    def train(self) -> None:
        """sb3-contrib's PPO update (unchanged maths); also logs the step-loop fallback count."""
        super().train()
        self.logger.record("train/lstm_step_loop_fallbacks", self.n_sequence_fallbacks)

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
