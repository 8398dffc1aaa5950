"""``RecurrentMAPPO``: hlynr's RecurrentPPO with a centralised (or privileged) critic.

The recurrent counterpart of :class:`~.mappo.MAPPO` (the MAPPO paper's rMAPPO): the actor is an
LSTM (or GRU) policy on each row's local observation, its state carried per row and reset at
episode starts; the critic is an MLP over the critic row the env publishes per row (team states,
true target, own features and id; lost agents death-masked by the env), with MAPPO's value
normalisation and an MSE or Huber value loss. Rollouts, time-limit bootstrapping from
``info["terminal_critic_observation"]``, value targets and the value loss are MAPPO's
(:class:`~.critic_rows.CentralisedCriticMixin`); the update is hlynr's fast recurrent PPO update
on joint ``[local | critic]`` rows.

Registered as ``RecurrentMAPPO`` (multi-agent) and ``AsymmetricRecurrentPPO`` (a single-agent
env's privileged critic rows): one class. The saved model names its own policy class, a subclass
of sb3-contrib's recurrent policy: ``sb3_contrib.RecurrentPPO.load(path)`` and hlynr's
``RecurrentPPO.load(path)`` read it and ``predict(obs, state, episode_start)`` acts from local
observations only.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch as th
from gymnasium import spaces
from sb3_contrib.common.recurrent.type_aliases import RNNStates

from hlynr.algos.centralised.critic_rows import CentralisedCriticMixin, critic_init
from hlynr.algos.centralised.recurrent_policy import RecurrentCentralisedCriticPolicy
from hlynr.algos.recurrent_ppo.buffers import FastRecurrentRolloutBuffer
from hlynr.algos.recurrent_ppo.ppo_recurrent import RecurrentPPO


class RecurrentMAPPO(CentralisedCriticMixin, RecurrentPPO):
    """hlynr's RecurrentPPO with a centralised critic; see the module docstring.

    :param value_normalisation: normalise the critic's targets (MAPPO's ValueNorm).
    :param value_loss: ``mse`` or ``huber`` (MAPPO's paper), on the normalised targets.
    :param huber_delta: the Huber loss's delta (default 10); only with ``huber``.
    """

    policy_aliases: ClassVar[dict[str, type]] = {"MlpLstmPolicy": RecurrentCentralisedCriticPolicy}
    policy: RecurrentCentralisedCriticPolicy
    #: The actor's state after the step being stored (set by :meth:`_act`).
    _next_lstm_states: RNNStates
    __init__ = critic_init(RecurrentPPO)

    def _make_buffer(self, joint: spaces.Box) -> FastRecurrentRolloutBuffer:
        lstm = self.policy.lstm_actor
        return FastRecurrentRolloutBuffer(
            self.n_steps, joint, self.action_space,
            (self.n_steps, lstm.num_layers, self.n_envs, lstm.hidden_size), self.device,
            gamma=self.gamma, gae_lambda=self.gae_lambda, n_envs=self.n_envs)

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "_next_lstm_states"]

    def _act(self, obs: th.Tensor, critic: th.Tensor) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
        starts = th.as_tensor(self._last_episode_starts, dtype=th.float32, device=self.device)
        h, c = self._last_lstm_states.pi
        actions, log_probs, states = self.policy.act(obs, (h, c), starts)
        # The critic has no recurrent state: the buffer's critic slots repeat the actor's state.
        self._next_lstm_states = RNNStates(states, states)
        return actions, self.policy.values_from_critic(critic), log_probs

    def _store(self, buffer: FastRecurrentRolloutBuffer, joint: np.ndarray, actions: np.ndarray,
               rewards: np.ndarray, values: th.Tensor, log_probs: th.Tensor) -> None:
        buffer.add(joint, actions, rewards, self._last_episode_starts, values, log_probs,
                   lstm_states=self._last_lstm_states)
        self._last_lstm_states = self._next_lstm_states

    def train(self) -> None:
        """hlynr's recurrent PPO update on joint rows; ValueNorm updated first, then logged."""
        self.update_value_norm()
        super().train()
        self._log_value_norm()
