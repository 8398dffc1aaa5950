"""SB3's ``ActorCriticPolicy`` as flat parameters, evaluated in one actor-critic pass.

SB3's ``evaluate_actions`` runs the features extractor, the actor MLP and the critic MLP one
after the other (``nn.Sequential`` calls, module by module), builds a ``torch.distributions``
object for the log-probabilities and the entropy, and back-propagates into one ``.grad`` per
parameter, which ``clip_grad_norm_`` and Adam then visit tensor by tensor. :class:`FusedActorCritic`
computes the same values with fewer, larger operations:

* the parameters move into one flat tensor (:class:`~hlynr.algos.flat.FlatParams`);
  the modules, their ``state_dict`` and the optimizer stay SB3's. When the actor and critic MLPs
  have the same layers (``net_arch: [64, 64]``, SB3's default), each layer's actor and critic
  weights are adjacent, and the two MLPs run as one stack: one ``baddbmm`` per layer
  (:class:`~hlynr.algos.mlp.MLP`) instead of two ``addmm``;
* features are extracted once (an extractor without parameters: the actor's and the critic's
  give the same features);
* the log-probabilities and entropies are closed forms running torch's operations
  (:mod:`hlynr.algos.distributions`, bit-identical to SB3's distributions);
* autograd differentiates the loss with respect to the flat layout's groups (one gradient
  tensor per stacked layer), concatenated into one flat gradient for clipping and the fused
  Adam step.

A stacked product may sum in another order than SB3's separate ones, so values agree to float32
rounding, not bit for bit. :func:`unsupported` says when the pass does not apply.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch as th
import torch.nn.functional as F
from stable_baselines3.common.distributions import CategoricalDistribution, DiagGaussianDistribution
from stable_baselines3.common.policies import ActorCriticPolicy, BaseModel
from stable_baselines3.common.torch_layers import MlpExtractor
from stable_baselines3.common.type_aliases import PyTorchObs
from torch import nn

from hlynr.algos.flat import FlatAdam, FlatParams
from hlynr.algos.mlp import MLP, Saved, mlp_problem, structure
from hlynr.algos.ppo.loss import LossAndGrads

_OVERRIDABLE = ("evaluate_actions", "extract_features", "_get_action_dist_from_latent", "forward")


def _extractor_problem(policy: ActorCriticPolicy) -> str | None:
    extractors = [policy.features_extractor]
    if not policy.share_features_extractor:
        extractors = [policy.pi_features_extractor, policy.vf_features_extractor]
    for extractor in extractors:
        if any(True for _ in extractor.parameters()) or any(True for _ in extractor.buffers()):
            return f"the features extractor {type(extractor).__name__} has parameters"
        if any(isinstance(m, nn.modules.dropout._DropoutNd) for m in extractor.modules()):
            return f"the features extractor {type(extractor).__name__} has dropout"
    if type(extractors[0]) is not type(extractors[-1]):
        return "the actor's and the critic's features extractors differ"
    return None


def unsupported(policy: object) -> str | None:
    """Why :class:`FusedActorCritic` cannot run ``policy``, or None when it can."""
    if not isinstance(policy, ActorCriticPolicy):
        return f"the policy is a {type(policy).__name__}, not an ActorCriticPolicy"
    for name in _OVERRIDABLE:
        if getattr(type(policy), name) is not getattr(ActorCriticPolicy, name):
            return f"the policy {type(policy).__name__} overrides {name}"
    if policy.use_sde:
        return "gSDE (use_sde) samples its own exploration matrix"
    if type(policy.action_dist) not in (DiagGaussianDistribution, CategoricalDistribution):
        return f"no closed form for the {type(policy.action_dist).__name__}"
    if type(policy.mlp_extractor) is not MlpExtractor:
        return f"the MLP extractor is a {type(policy.mlp_extractor).__name__}, not SB3's MlpExtractor"
    problem = (mlp_problem(policy.mlp_extractor.policy_net, "the actor MLP")
               or mlp_problem(policy.mlp_extractor.value_net, "the critic MLP")
               or _extractor_problem(policy))
    if problem:
        return problem
    if type(policy.action_net) is not nn.Linear or type(policy.value_net) is not nn.Linear:
        return "the action or value head is not an nn.Linear"
    params = list(policy.parameters())
    if any(p.dtype != th.float32 or p.device != params[0].device for p in params):
        return "the parameters are not all float32 on one device"
    return None


def _pairs(seq: nn.Sequential) -> list[tuple[th.Tensor, th.Tensor]]:
    return [(layer.weight, layer.bias) for layer in seq if type(layer) is nn.Linear]


def _stackable(pi: nn.Sequential, vf: nn.Sequential) -> bool:
    shapes = [[tuple(p.shape) for p in net.parameters()] for net in (pi, vf)]
    kinds = [[type(m) for m in net] for net in (pi, vf)]
    return bool(shapes[0]) and shapes[0] == shapes[1] and kinds[0] == kinds[1]


@dataclass
class _Layout:
    params: FlatParams
    n_mlp: int
    """How many views (weights and biases) the MLP part takes."""
    stacked: bool


def _layout(policy: ActorCriticPolicy) -> _Layout:
    """The flat layout: the MLPs (stacked or one after the other), the heads, then ``log_std``."""
    pi, vf = policy.mlp_extractor.policy_net, policy.mlp_extractor.value_net
    groups: list[tuple[list[th.Tensor], tuple[int, ...]]] = []
    stacked = _stackable(pi, vf)
    if stacked:
        for (pw, pb), (vw, vb) in zip(_pairs(pi), _pairs(vf)):
            groups += [([pw, vw], (2, *pw.shape)), ([pb, vb], (2, *pb.shape))]
    else:
        for weight, bias in [*_pairs(pi), *_pairs(vf)]:
            groups += [([weight], tuple(weight.shape)), ([bias], tuple(bias.shape))]
    n_mlp = len(groups)
    for head in (policy.action_net, policy.value_net):
        assert isinstance(head, nn.Linear)
        groups += [([head.weight], tuple(head.weight.shape)), ([head.bias], tuple(head.bias.shape))]
    if isinstance(policy.action_dist, DiagGaussianDistribution):
        groups.append(([policy.log_std], tuple(policy.log_std.shape)))
    covered = {id(p) for tensors, _ in groups for p in tensors}
    assert covered == {id(p) for p in policy.parameters()}, "every parameter is in the layout"
    return _Layout(FlatParams(groups), n_mlp, stacked)


class FusedActorCritic:
    """One policy's flat parameters, its one-pass evaluation, its backward pass and flat Adam step."""

    def __init__(self, policy: ActorCriticPolicy) -> None:
        self.policy = policy
        layout = _layout(policy)
        self.params, self.stacked, self._n_mlp = layout.params, layout.stacked, layout.n_mlp
        self.adam = FlatAdam(policy.optimizer, self.params)
        pi, vf = policy.mlp_extractor.policy_net, policy.mlp_extractor.value_net
        self._pi_mlp = MLP(structure(pi), stacked=self.stacked)
        self._vf_mlp = MLP(structure(vf), stacked=False)
        self._n_pi = self._n_mlp if self.stacked else 2 * len(_pairs(pi))
        self.gaussian = isinstance(policy.action_dist, DiagGaussianDistribution)
        self._extractor = policy.features_extractor if policy.share_features_extractor else policy.pi_features_extractor
        self._saved: list[Saved] = []
        self._latents: tuple[th.Tensor, th.Tensor] | None = None

    def current(self, policy: object) -> bool:
        """Whether this is still the model's policy, with its optimizer and parameters in place."""
        return (policy is self.policy and self.adam.optimizer is self.policy.optimizer
                and self.params.is_bound())

    def prepare(self) -> None:
        """Before one ``train()``: whether the Adam step is one fused kernel call (Adam's own check)."""
        self.adam.prepare()

    @th.no_grad()
    def forward(self, obs: PyTorchObs) -> tuple[th.Tensor, th.Tensor | None, th.Tensor]:
        """The action head's output, ``log_std`` (Gaussian, else None) and the values ``(batch,)``.

        Keeps what :meth:`backward` needs.
        """
        features = BaseModel.extract_features(self.policy, obs, self._extractor)
        w, k = self.params.views, self._n_mlp
        if self.stacked:
            saved = Saved()
            latent_pi, latent_vf = self._pi_mlp.forward(w[:k], features, saved).unbind(0)
            self._saved = [saved]
        else:
            saved_pi, saved_vf = Saved(), Saved()
            latent_pi = self._pi_mlp.forward(w[: self._n_pi], features, saved_pi)
            latent_vf = self._vf_mlp.forward(w[self._n_pi : k], features, saved_vf)
            self._saved = [saved_pi, saved_vf]
        self._latents = (latent_pi, latent_vf)
        action_out = F.linear(latent_pi, w[k], w[k + 1])
        values = F.linear(latent_vf, w[k + 2], w[k + 3]).flatten()
        return action_out, (w[k + 4] if self.gaussian else None), values

    @th.no_grad()
    def backward(self, grads: LossAndGrads) -> None:
        """The parameters' gradient from the outputs' (``grads``), written into the flat gradient.

        The operations autograd runs for linear layers and the activations
        (:class:`~hlynr.algos.mlp.MLP`), in the flat layout's views.
        """
        assert self._latents is not None, "forward() first"
        latent_pi, latent_vf = self._latents
        w, g, k = self.params.views, self.params.grad_views, self._n_mlp
        grad_latent = []
        for head, grad, latent in ((k, grads.action_out, latent_pi), (k + 2, grads.values, latent_vf)):
            th.mm(grad.t(), latent, out=g[head])
            th.sum(grad, dim=0, out=g[head + 1])
            grad_latent.append(th.mm(grad, w[head]))
        if grads.log_std is not None:
            g[k + 4].copy_(grads.log_std)
        if self.stacked:
            self._pi_mlp.backward(w[:k], self._saved[0], th.stack(grad_latent), g[:k])
        else:
            n_pi = self._n_pi
            self._pi_mlp.backward(w[:n_pi], self._saved[0], grad_latent[0], g[:n_pi])
            self._vf_mlp.backward(w[n_pi:k], self._saved[1], grad_latent[1], g[n_pi:k])
        self._saved, self._latents = [], None

    @th.no_grad()
    def clip_and_step(self, max_norm: float) -> None:
        """Clip the flat gradient as ``clip_grad_norm_`` does and take the Adam step."""
        # clip_grad_norm_'s norm: per-tensor norms (here per stacked group), then their norm.
        total_norm = th.linalg.vector_norm(th.stack(th._foreach_norm(self.params.grad_views, 2.0)), 2.0)
        flat_grad = self.params.grad
        flat_grad.mul_(th.clamp(max_norm / (total_norm + 1e-6), max=1.0))
        self.adam.step(flat_grad)

    def expose_grads(self) -> None:
        """Point each parameter's ``.grad`` at its slice of the last clipped gradient (as SB3 leaves it)."""
        flat_grad = self.params.grad
        for p, offset in zip(self.params.params, self.params.offsets):
            p.grad = flat_grad[offset : offset + p.numel()].view_as(p)
