"""SB3's actor and critic networks as flat parameters, in layouts the fast update computes with.

The networks stay SB3's modules (``Actor``, ``ContinuousCritic``, TQC's ``Critic``): their
parameters move into flat tensors (:class:`~hlynr.algos.flat.FlatParams`) laid out
layer by layer, and the update (:mod:`hlynr.algos.mlp`) evaluates them through views:

* the ``n_critics`` Q-networks (or TQC's quantile networks) as one stack: each layer is one
  ``torch.baddbmm`` over ``(n_critics, out, in)`` weights instead of ``n_critics`` ``addmm``;
* SAC's and TQC's actor heads ``mu`` and ``log_std`` as one ``(2 * action_dim, hidden)`` layer
  (their weights are adjacent in the flat tensor), split after the product.

A network qualifies when it is SB3's own class, its features extractor has no parameters
(``FlattenExtractor``, a ``CombinedExtractor`` of vector keys), and its MLPs are ``nn.Linear``
layers with biases and elementwise activations (what ``create_mlp`` builds). :func:`unsupported`
says why one does not.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch as th
from sb3_contrib.tqc.policies import Actor as TQCActor
from sb3_contrib.tqc.policies import Critic as TQCCritic
from stable_baselines3.common.policies import BaseModel, ContinuousCritic
from stable_baselines3.sac.policies import Actor as SACActor
from stable_baselines3.td3.policies import Actor as TD3Actor
from torch import nn

from hlynr.algos.flat import FlatParams
from hlynr.algos.mlp import mlp_problem

SQUASHED_ACTORS = (SACActor, TQCActor)
CRITICS = (ContinuousCritic, TQCCritic)


def _extractor_problem(model: BaseModel, what: str) -> str | None:
    extractor = model.features_extractor
    if extractor is None:
        return f"the {what} has no features extractor"
    if any(True for _ in extractor.parameters()) or any(True for _ in extractor.buffers()):
        return f"the {what}'s features extractor {type(extractor).__name__} has parameters"
    if any(isinstance(m, nn.modules.dropout._DropoutNd) for m in extractor.modules()):
        return f"the {what}'s features extractor {type(extractor).__name__} has dropout"
    return None


def _is_linear(module: object) -> bool:
    return type(module) is nn.Linear


def unsupported(actor: nn.Module, critic: nn.Module) -> str | None:
    """Why the fast update cannot run these networks, or None when it can."""
    actors = (*SQUASHED_ACTORS, TD3Actor)
    if not isinstance(actor, actors) or type(actor) not in actors:
        return f"the actor is a {type(actor).__name__}, not SB3's"
    if not isinstance(critic, CRITICS) or type(critic) not in CRITICS:
        return f"the critic is a {type(critic).__name__}, not SB3's"
    if isinstance(actor, TD3Actor):
        problem = mlp_problem(actor.mu, "the actor")
    elif actor.use_sde:
        problem = "gSDE (use_sde) draws its exploration matrix per gradient step"
    else:
        problem = mlp_problem(actor.latent_pi, "the actor")
        if problem is None and not (_is_linear(actor.mu) and _is_linear(actor.log_std)):
            problem = "the actor's mu and log_std are not nn.Linear"
    problem = problem or _extractor_problem(actor, "actor") or _extractor_problem(critic, "critic")
    if problem:
        return problem
    nets: list[nn.Module] = list(critic.q_networks)
    for i, net in enumerate(nets):
        problem = mlp_problem(net, f"critic {i}")
        if problem:
            return problem
    shapes = [[tuple(p.shape) for p in net.parameters()] for net in nets]
    kinds = [[type(m) for m in net.children()] for net in nets]
    if any(s != shapes[0] for s in shapes) or any(k != kinds[0] for k in kinds):
        return "the critics differ in shape"
    params = [*actor.parameters(), *critic.parameters()]
    if any(p.dtype != th.float32 or p.device != params[0].device for p in params):
        return "the parameters are not all float32 on one device"
    return None


def _linear_pairs(seq: nn.Sequential) -> list[tuple[th.Tensor, th.Tensor]]:
    return [(layer.weight, layer.bias) for layer in seq if type(layer) is nn.Linear]


def stacked_params(nets: Sequence[nn.Sequential]) -> FlatParams:
    """The parameters of identical MLPs, each layer's weights (and biases) of all nets adjacent.

    Views: per linear layer, weights ``(n, out, in)`` and biases ``(n, out)``.
    """
    groups: list[tuple[list[th.Tensor], tuple[int, ...]]] = []
    per_net = [_linear_pairs(net) for net in nets]
    for layer in range(len(per_net[0])):
        weights = [pairs[layer][0] for pairs in per_net]
        biases = [pairs[layer][1] for pairs in per_net]
        groups.append((weights, (len(nets), *weights[0].shape)))
        groups.append((biases, (len(nets), *biases[0].shape)))
    return FlatParams(groups)


def mlp_params(seq: nn.Sequential) -> FlatParams:
    """The parameters of one MLP in layer order. Views: weight ``(out, in)``, bias ``(out,)`` per layer."""
    groups: list[tuple[list[th.Tensor], tuple[int, ...]]] = []
    for weight, bias in _linear_pairs(seq):
        groups += [([weight], tuple(weight.shape)), ([bias], tuple(bias.shape))]
    return FlatParams(groups)


def squashed_actor_params(actor: SACActor | TQCActor) -> FlatParams:
    """SAC's / TQC's actor: the latent MLP, then ``mu`` and ``log_std`` as one layer.

    Views: the latent MLP's, then the head's weight ``(2 * action_dim, hidden)`` (mu's rows
    first) and bias ``(2 * action_dim,)``.
    """
    groups: list[tuple[list[th.Tensor], tuple[int, ...]]] = []
    for weight, bias in _linear_pairs(actor.latent_pi):
        groups += [([weight], tuple(weight.shape)), ([bias], tuple(bias.shape))]
    mu, log_std = actor.mu, actor.log_std
    assert isinstance(mu, nn.Linear) and isinstance(log_std, nn.Linear)
    groups.append(([mu.weight, log_std.weight], (2 * mu.out_features, mu.in_features)))
    groups.append(([mu.bias, log_std.bias], (2 * mu.out_features,)))
    return FlatParams(groups)
