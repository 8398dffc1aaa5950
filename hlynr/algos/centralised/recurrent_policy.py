"""``RecurrentCentralisedCriticPolicy``: hlynr's recurrent policy with a centralised critic.

The actor is hlynr's ``MlpLstmPolicy`` actor (features of the local observation -> LSTM or GRU
-> policy MLP -> action distribution); ``predict`` with its LSTM state uses nothing else, so a
plain ``sb3_contrib.RecurrentPPO.load`` (or hlynr's) acts from local observations. The critic is
feed-forward over the critic row the env publishes (as in the MAPPO paper's rMAPPO, whose critic
input is the global state) with value normalisation (:class:`~.policy.CriticHeadMixin`); there is
no critic LSTM (``enable_critic_lstm`` and ``shared_lstm`` are not settings of this policy).
"""

from __future__ import annotations

import inspect
from typing import Any

import torch as th
from gymnasium import spaces
from sb3_contrib.common.recurrent.type_aliases import RNNStates
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import Schedule

from hlynr.algos.centralised.policy import CriticHeadMixin
from hlynr.algos.distributions import has_closed_form, log_prob_entropy
from hlynr.algos.recurrent_ppo.policies import (
    FastRecurrentActorCriticPolicy,
    _run_rnn,
    _time_major_padded,
)

_FIXED = ("shared_lstm", "enable_critic_lstm")


class RecurrentCentralisedCriticPolicy(CriticHeadMixin, FastRecurrentActorCriticPolicy):
    """Recurrent actor on local observations, feed-forward critic on ``critic_observation_space`` rows.

    :param critic_observation_space: the Box of one critic row (filled in from the env).
    :param net_arch: a list (actor and critic layers) or ``{"pi": [...], "vf": [...]}``; ``pi``
        follows the actor's LSTM, ``vf`` is the critic's MLP over the critic row.
    """

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space, lr_schedule: Schedule,
                 critic_observation_space: spaces.Box | None = None,
                 net_arch: list[int] | dict[str, list[int]] | None = None, **kwargs: Any) -> None:
        fixed = [k for k in _FIXED if k in kwargs]
        if fixed:
            raise ValueError(f"{', '.join(fixed)}: not settings of a centralised critic (its critic "
                             "is an MLP over the critic row)")
        pi = self._split_net_arch(critic_observation_space, net_arch, [64])
        FastRecurrentActorCriticPolicy.__init__(self, observation_space, action_space, lr_schedule,
                                                net_arch={"pi": pi, "vf": []}, enable_critic_lstm=False,
                                                shared_lstm=False, **kwargs)
        self.critic = None  # sb3-contrib's local-feature critic layer: this critic reads critic rows
        lr = self.optimizer.param_groups[0]["lr"]
        # sb3 types optimizer_class as type[Optimizer], whose own __init__ takes no lr.
        self.optimizer = self.optimizer_class(  # type: ignore[call-arg]
            self.parameters(), lr=lr, **self.optimizer_kwargs)
        self.use_fast_adam()

    def _build(self, lr_schedule: Schedule) -> None:
        super()._build(lr_schedule)
        self._build_critic()

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        for key in _FIXED:
            data.pop(key, None)
        return self._critic_parameters(data)

    def act(self, obs: th.Tensor, states: tuple[th.Tensor, th.Tensor], episode_starts: th.Tensor,
            deterministic: bool = False) -> tuple[th.Tensor, th.Tensor, tuple[th.Tensor, ...]]:
        """Actions, their log-probabilities and the actor's next state, from local observations."""
        dist, new_states = self.get_distribution(obs, states, episode_starts)
        actions = dist.get_actions(deterministic=deterministic)
        log_prob = dist.log_prob(actions)
        # gymnasium types Space.shape as optional; SB3's action spaces all have one.
        return actions.reshape((-1, *self.action_space.shape)), log_prob, new_states  # type: ignore[misc]

    # Narrower than the base's: joint rows are one tensor, never a dict of observations.
    def evaluate_real_rows(self, obs: th.Tensor, actions: th.Tensor,  # type: ignore[override]
                           lstm_states: RNNStates, positions: th.Tensor, n_seq: int, max_len: int
                           ) -> tuple[th.Tensor, th.Tensor, th.Tensor | None]:
        """Training's evaluation of joint ``[local | critic]`` rows (hlynr's fast layout).

        The actor runs its LSTM over the local part exactly as
        :meth:`~hlynr.algos.recurrent_ppo.policies.FastRecurrentMixin.evaluate_real_rows`; the
        values are the critic's normalised values of the critic part.

        :return: normalised values ``(batch,)``, log-probabilities ``(batch,)``, entropies.
        """
        d = int(self.observation_space.shape[0])  # type: ignore[index]  # a flat Box (Optional shape)
        local, critic = obs[:, :d], obs[:, d:]
        features = BasePolicy.extract_features(self, local, self.pi_features_extractor)
        padded = _time_major_padded(features, positions, n_seq, max_len)
        latent = _run_rnn(self.lstm_actor, padded, lstm_states.pi).index_select(0, positions)
        latent = self.mlp_extractor.forward_actor(latent)
        values = self.critic_values(critic).flatten()
        if has_closed_form(self.action_dist):
            log_prob, entropy = log_prob_entropy(self.action_dist, self.action_net(latent),
                                                 getattr(self, "log_std", None), actions)
            return values, log_prob, entropy
        dist = self._get_action_dist_from_latent(latent)
        return values, dist.log_prob(actions), dist.entropy()


def _signature() -> inspect.Signature:
    """hlynr's ``MlpLstmPolicy`` signature without the critic-LSTM switches, plus
    ``critic_observation_space`` (filled by the algorithm)."""
    sig = inspect.signature(FastRecurrentActorCriticPolicy.__init__)
    params = [p for name, p in sig.parameters.items() if name not in _FIXED]
    extra = inspect.Parameter("critic_observation_space", inspect.Parameter.KEYWORD_ONLY,
                              default=None, annotation=spaces.Box | None)
    return sig.replace(parameters=[*params, extra])


# Functions take arbitrary attributes; inspect.signature reads this one.
RecurrentCentralisedCriticPolicy.__init__.__signature__ = _signature()  # type: ignore[attr-defined]
