"""What hlynr's SAC, TD3 and TQC share: the flat networks, their binding, features, logging.

:func:`fast_nets` returns the model's networks as flat parameters (:class:`Nets`), built on the
first ``train()`` and rebuilt whenever they went stale (a new policy after ``load``, parameters
moved by ``.to()``, an optimizer replaced), or ``None`` when the fast update does not apply (the
reason is warned once and the algorithm runs SB3's own ``train()``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch as th
from sb3_contrib.tqc.policies import TQCPolicy
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.policies import BaseModel
from stable_baselines3.common.type_aliases import PyTorchObs
from stable_baselines3.sac.policies import SACPolicy
from stable_baselines3.td3.policies import Actor as TD3Actor
from stable_baselines3.td3.policies import TD3Policy
from torch import nn

from hlynr.algos.flat import FlatAdam, FlatParams
from hlynr.algos.mlp import MLP, structure
from hlynr.algos.offpolicy.nets import (
    mlp_params,
    squashed_actor_params,
    stacked_params,
    unsupported,
)

_SB3_TRAINING_MODES = {SACPolicy.set_training_mode, TD3Policy.set_training_mode, TQCPolicy.set_training_mode}

FAST_STATE = "_fast_update"
"""The model attribute holding :class:`Nets` (runtime state: never saved)."""
FALLBACK_STATE = "_fast_update_fallback"
"""The model attribute holding the reason the fast update does not apply (warned once)."""


@dataclass
class Nets:
    """The model's networks as flat parameters, and flat Adam steppers for their optimizers."""

    policy: Any
    actor: FlatParams
    actor_mlp: MLP
    critic: FlatParams
    critic_target: FlatParams
    critic_mlp: MLP
    """The critics as one stack."""
    q1_mlp: MLP
    """The first critic alone (TD3's ``q1_forward``), on its slice of the stacked weights."""
    actor_adam: FlatAdam
    critic_adam: FlatAdam
    actor_target: FlatParams | None = None
    ent: FlatParams | None = None
    """``log_ent_coef`` (SAC, TQC with a learned entropy coefficient)."""
    ent_adam: FlatAdam | None = None
    _modules: list[BaseModel] = field(default_factory=list)
    _train_modules: list[nn.Module] = field(default_factory=list)
    """The modules SB3's ``set_training_mode`` switches (empty for a policy that overrides it)."""

    def set_training_mode(self) -> None:
        """``policy.set_training_mode(True)``: for SB3's own policies, the same ``training`` flags
        (the policy's, and those of every module of the actor and the critic) set directly."""
        if not self._train_modules:
            self.policy.set_training_mode(True)
            return
        for module in self._train_modules:
            module.__dict__["training"] = True

    def flats(self) -> list[FlatParams]:
        return [f for f in (self.actor, self.critic, self.critic_target, self.actor_target, self.ent) if f]

    def adams(self) -> list[FlatAdam]:
        return [a for a in (self.actor_adam, self.critic_adam, self.ent_adam) if a]

    def current(self, model: Any) -> bool:
        """Whether these are still the model's networks, parameters and optimizers."""
        policy = model.policy
        if self.policy is not policy or self.actor_adam.optimizer is not policy.actor.optimizer:
            return False
        if self.critic_adam.optimizer is not policy.critic.optimizer:
            return False
        if self.ent_adam is not None and self.ent_adam.optimizer is not model.ent_coef_optimizer:
            return False
        return all(f.is_bound() for f in self.flats())

    def prepare(self) -> None:
        """Before the steps of one ``train()``: bind optimizer states, decide fused or ordinary steps."""
        for adam in self.adams():
            adam.prepare()

    def features(self, obs: PyTorchObs, next_obs: PyTorchObs) -> tuple[th.Tensor, th.Tensor, th.Tensor, th.Tensor]:
        """Features of ``obs`` for the actor and the critic, and of ``next_obs`` for their targets.

        The extractors have no parameters; an extractor of the same class and image setting as
        one already applied gives the same features, which are reused.
        """
        actor, critic, actor_next, critic_next = self._modules
        return (*_features(actor, critic, obs), *_features(actor_next, critic_next, next_obs))


def _features(first: BaseModel, second: BaseModel, obs: PyTorchObs) -> tuple[th.Tensor, th.Tensor]:
    """Features of ``obs`` for two modules (computed once when their extractors are alike)."""
    extractor, other = first.features_extractor, second.features_extractor
    assert extractor is not None and other is not None  # SB3's actors and critics have one
    features = first.extract_features(obs, extractor)
    alike = type(extractor) is type(other) and first.normalize_images == second.normalize_images
    return features, features if alike else second.extract_features(obs, other)


def _build(model: Any) -> Nets | str:
    policy = model.policy
    actor, critic, critic_target = policy.actor, policy.critic, policy.critic_target
    actor_target = getattr(policy, "actor_target", None)
    reason = unsupported(actor, critic) or unsupported(actor_target or actor, critic_target)
    if reason:
        return reason
    if isinstance(actor, TD3Actor):
        assert actor_target is not None
        actor_params, layers = mlp_params(actor.mu), structure(actor.mu)
        target_params: FlatParams | None = mlp_params(actor_target.mu)
    else:  # the latent MLP, then mu and log_std as one linear layer
        actor_params, layers = squashed_actor_params(actor), [*structure(actor.latent_pi), None]
        target_params = None
    critic_params = stacked_params(critic.q_networks)
    first: nn.Sequential = critic.q_networks[0]
    nets = Nets(
        policy=policy,
        actor=actor_params,
        actor_mlp=MLP(layers, stacked=False),
        critic=critic_params,
        critic_target=stacked_params(critic_target.q_networks),
        critic_mlp=MLP(structure(first), stacked=True),
        q1_mlp=MLP(structure(first), stacked=False),
        actor_adam=FlatAdam(actor.optimizer, actor_params),
        critic_adam=FlatAdam(critic.optimizer, critic_params),
        actor_target=target_params,
        _modules=[actor, critic, actor_target or actor, critic_target],
    )
    if type(policy).set_training_mode in _SB3_TRAINING_MODES:
        nets._train_modules = [policy, *actor.modules(), *critic.modules()]
    if getattr(model, "ent_coef_optimizer", None) is not None:
        nets.ent = FlatParams([([model.log_ent_coef], tuple(model.log_ent_coef.shape))])
        nets.ent_adam = FlatAdam(model.ent_coef_optimizer, nets.ent)
    return nets


def fast_nets(model: Any) -> Nets | None:
    """The model's :class:`Nets`, bound and prepared for one ``train()``; None: use SB3's update."""
    nets = getattr(model, FAST_STATE, None)
    if nets is None or not nets.current(model):
        built = _build(model)
        if isinstance(built, str):
            if getattr(model, FALLBACK_STATE, None) != built:
                warnings.warn(f"{type(model).__name__} runs SB3's update, not hlynr's fast one: {built}",
                              stacklevel=3)
            setattr(model, FALLBACK_STATE, built)
            setattr(model, FAST_STATE, None)
            return None
        nets = built
        setattr(model, FAST_STATE, nets)
        setattr(model, FALLBACK_STATE, None)
    nets.prepare()
    return nets


def entropy_step(nets: Nets, log_prob: th.Tensor, target_entropy: float,
                 fixed: th.Tensor | None) -> tuple[th.Tensor, th.Tensor | None]:
    """SAC's entropy-coefficient update from the current actor's ``log_prob`` (``(batch, 1)``).

    :return: the coefficient to use in this gradient step (before the update, as SB3 uses it)
        and the entropy-coefficient loss (None for a fixed coefficient, ``fixed``).
    """
    if nets.ent is None or nets.ent_adam is None:
        assert fixed is not None
        return fixed, None
    log_ent_coef = nets.ent.views[0]
    ent_coef = th.exp(log_ent_coef)
    x = log_prob.detach() + target_entropy
    loss = -(log_ent_coef * x).mean()
    # The gradient autograd takes of that loss: mean's 1/n, the product's other factor, summed
    # over the batch into log_ent_coef's shape.
    nets.ent_adam.step((x * (-1.0 / x.numel())).sum(dim=0))
    return ent_coef, loss


def record_means(logger: Logger, names: list[str], rows: list[th.Tensor]) -> None:
    """Record the mean over gradient steps of each column of ``rows`` under ``names`` (None: skip).

    The values are SB3's float32 losses; the mean is taken over their Python floats, as SB3's
    ``np.mean`` of ``.item()`` values.
    """
    if not rows:
        return
    columns = th.stack(rows).T.tolist()
    for name, values in zip(names, columns):
        logger.record(name, np.mean(values))
