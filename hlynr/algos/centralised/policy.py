"""``CentralisedCriticPolicy``: an SB3 actor-critic policy whose critic reads a global state.

The actor is SB3's: features of the agent's local observation -> policy MLP -> action
distribution; ``predict`` (and so ``model.predict``, evaluation, deployment) uses nothing else.
The critic is a separate MLP over the critic rows an env publishes per agent row (see
:mod:`hlynr.multiagent.engine`), predicting normalised values (:class:`.value_norm.ValueNorm`).
It is only called by the training loop with explicit critic rows; asking the policy for values
from local observations alone is an error.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.type_aliases import Schedule
from torch import nn

from hlynr.algos.centralised.value_norm import ValueNorm

if TYPE_CHECKING:
    # The mixin sits in front of an SB3 actor-critic policy (feed-forward or recurrent).
    _PolicyBase = ActorCriticPolicy
else:
    _PolicyBase = object


class CriticHeadMixin(_PolicyBase):
    """The critic of a centralised-critic policy: an MLP over critic rows, its value head and
    :class:`~.value_norm.ValueNorm`; the local-observation value entry points refuse to run.

    Used by :class:`CentralisedCriticPolicy` and the recurrent
    :class:`~.recurrent_policy.RecurrentCentralisedCriticPolicy`.
    """

    critic_observation_space: spaces.Box
    critic_net_arch: list[int]

    def _split_net_arch(self, critic_observation_space: spaces.Box | None,
                        net_arch: list[int] | dict[str, list[int]] | None, default: list[int]) -> list[int]:
        """Record the critic's space and layers; return the actor's (``pi``) layers."""
        if not isinstance(critic_observation_space, spaces.Box):
            raise ValueError(f"{type(self).__name__} needs critic_observation_space (a Box): the "
                             "global state the env publishes per agent row")
        if net_arch is None:
            net_arch = list(default)
        pi = list(net_arch["pi"]) if isinstance(net_arch, dict) else list(net_arch)
        self.critic_net_arch = list(net_arch.get("vf", pi)) if isinstance(net_arch, dict) else list(net_arch)
        self.critic_observation_space = critic_observation_space
        self._user_net_arch = net_arch
        return pi

    def _build_critic(self) -> None:
        """Critic MLP over the critic row, value head (replaces SB3's) and value statistics."""
        layers: list[nn.Module] = []
        last = int(np.prod(self.critic_observation_space.shape))
        for width in self.critic_net_arch:
            layers += [nn.Linear(last, width), self.activation_fn()]
            last = width
        self.critic_body = nn.Sequential(*layers)
        self.value_net = nn.Linear(last, 1)
        self.value_norm = ValueNorm()
        if self.ortho_init:
            init = self.init_weights
            self.critic_body.apply(lambda m: init(m, gain=np.sqrt(2)))
            self.value_net.apply(lambda m: init(m, gain=1.0))

    def _critic_parameters(self, data: dict[str, Any]) -> dict[str, Any]:
        data.update(critic_observation_space=self.critic_observation_space, net_arch=self._user_net_arch)
        return data

    def critic_values(self, critic_obs: th.Tensor) -> th.Tensor:
        """Normalised values (B, 1) of critic rows (B, *critic)."""
        return self.value_net(self.critic_body(critic_obs.float().flatten(1)))

    def values_from_critic(self, critic_obs: th.Tensor) -> th.Tensor:
        """Values (B, 1) in return units (denormalised) of critic rows."""
        return self.value_norm.denormalize(self.critic_values(critic_obs))

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Not available: values need the global state (use ``forward_centralised``)."""
        raise RuntimeError("a centralised critic needs the global state: use forward_centralised "
                           "(acting needs only predict)")

    def predict_values(self, *args: Any, **kwargs: Any) -> th.Tensor:
        """Not available: values need the global state (use :meth:`values_from_critic`)."""
        raise RuntimeError("a centralised critic needs the global state: use values_from_critic")

    def evaluate_actions(self, *args: Any, **kwargs: Any) -> Any:
        """Not available: values need the global state (use ``evaluate_centralised``)."""
        raise RuntimeError("a centralised critic needs the global state: use evaluate_centralised")


class CentralisedCriticPolicy(CriticHeadMixin, ActorCriticPolicy):
    """Actor on local observations, critic on ``critic_observation_space`` rows.

    :param critic_observation_space: the Box of one critic row (the env's
        ``critic_observation_space``; MAPPO fills it in from the env).
    :param net_arch: a list (actor and critic layers) or ``{"pi": [...], "vf": [...]}``; the
        ``vf`` layers are the critic's, over the critic row.
    """

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space, lr_schedule: Schedule,
                 critic_observation_space: spaces.Box | None = None,
                 net_arch: list[int] | dict[str, list[int]] | None = None, **kwargs: Any) -> None:
        pi = self._split_net_arch(critic_observation_space, net_arch, [64, 64])
        super().__init__(observation_space, action_space, lr_schedule,
                         net_arch={"pi": pi, "vf": []}, **kwargs)

    def _build(self, lr_schedule: Schedule) -> None:
        super()._build(lr_schedule)
        self._build_critic()
        # sb3 types optimizer_class as type[Optimizer], whose own __init__ takes no lr.
        self.optimizer = self.optimizer_class(  # type: ignore[call-arg]
            self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        return self._critic_parameters(super()._get_constructor_parameters())

    def forward_centralised(self, obs: th.Tensor, critic_obs: th.Tensor, deterministic: bool = False
                            ) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
        """Actions and their log-probabilities from ``obs``; values (return units) from ``critic_obs``."""
        dist = self.get_distribution(obs)
        actions = dist.get_actions(deterministic=deterministic)
        log_prob = dist.log_prob(actions)
        # gymnasium types Space.shape as optional; SB3's action spaces all have one.
        actions = actions.reshape((-1, *self.action_space.shape))  # type: ignore[misc]
        return actions, self.values_from_critic(critic_obs), log_prob

    def evaluate_centralised(self, obs: th.Tensor, critic_obs: th.Tensor, actions: th.Tensor
                             ) -> tuple[th.Tensor, th.Tensor, th.Tensor | None]:
        """Normalised values from ``critic_obs``; log-probability and entropy of ``actions`` at ``obs``."""
        dist = self.get_distribution(obs)
        return self.critic_values(critic_obs), dist.log_prob(actions), dist.entropy()


def _signature() -> inspect.Signature:
    """SB3's ``ActorCriticPolicy`` signature plus ``critic_observation_space`` (filled by MAPPO)."""
    sig = inspect.signature(ActorCriticPolicy.__init__)
    extra = inspect.Parameter("critic_observation_space", inspect.Parameter.KEYWORD_ONLY,
                              default=None, annotation=spaces.Box | None)
    return sig.replace(parameters=[*sig.parameters.values(), extra])


# Functions take arbitrary attributes; inspect.signature reads this one.
CentralisedCriticPolicy.__init__.__signature__ = _signature()  # type: ignore[attr-defined]
