"""Log-probabilities and entropies of SB3's action distributions without distribution objects.

SB3 builds a ``torch.distributions`` object per minibatch (with argument validation) and sums
over action dimensions. For the two common cases, a diagonal Gaussian with state-independent
std (continuous actions without gSDE) and a categorical (``Discrete``), the functions here run
the very same tensor operations as ``torch.distributions.Normal``/``Categorical`` and SB3's
``sum_independent_dims``, in the same order, so values and gradients are bit-identical; they
only skip the object construction and validation. Every other distribution goes through SB3.
"""

from __future__ import annotations

import math

import torch as th
from stable_baselines3.common.distributions import (
    CategoricalDistribution,
    DiagGaussianDistribution,
    Distribution,
)

_LOG_SQRT_2PI = math.log(math.sqrt(2 * math.pi))
_GAUSSIAN_ENTROPY_CONST = 0.5 + 0.5 * math.log(2 * math.pi)


def has_closed_form(action_dist: Distribution) -> bool:
    """Whether :func:`log_prob_entropy` handles ``action_dist`` without SB3's objects."""
    return type(action_dist) in (DiagGaussianDistribution, CategoricalDistribution)


def diag_gaussian_log_prob_entropy(
    mean_actions: th.Tensor, log_std: th.Tensor, actions: th.Tensor
) -> tuple[th.Tensor, th.Tensor]:
    """``DiagGaussianDistribution`` log-prob and entropy, summed over action dimensions.

    :param mean_actions: ``(batch, action_dim)`` means (output of ``action_net``).
    :param log_std: ``(action_dim,)`` the policy's ``log_std`` parameter.
    :param actions: ``(batch, action_dim)`` actions.
    :return: ``(batch,)`` log-probabilities and ``(batch,)`` entropies.
    """
    # SB3: std = ones_like(mean) * log_std.exp(), then torch's Normal.log_prob and entropy on
    # it. Multiplying by ones is exact, so the expanded view holds the same values (and its
    # backward sums the rows as the broadcast multiplication's does; tested bit for bit).
    std = log_std.exp().expand_as(mean_actions)
    var = std**2
    log_scale = std.log()
    log_prob = -((actions - mean_actions) ** 2) / (2 * var) - log_scale - _LOG_SQRT_2PI
    entropy = _GAUSSIAN_ENTROPY_CONST + th.log(std)
    return log_prob.sum(dim=1), entropy.sum(dim=1)


def categorical_log_prob_entropy(
    action_logits: th.Tensor, actions: th.Tensor
) -> tuple[th.Tensor, th.Tensor]:
    """``CategoricalDistribution`` log-prob and entropy (torch's ``Categorical`` ops).

    :param action_logits: ``(batch, n)`` unnormalised logits (output of ``action_net``).
    :param actions: ``(batch,)`` action indices (any dtype; cast to long as torch does).
    """
    # In the order SB3 runs them (log_prob, then entropy, whose first use of ``probs`` comes
    # after the clamp), so that autograd also sums the gradients in the same order.
    logits = action_logits - action_logits.logsumexp(dim=-1, keepdim=True)
    value, log_pmf = th.broadcast_tensors(actions.long().unsqueeze(-1), logits)
    log_prob = log_pmf.gather(-1, value[..., :1]).squeeze(-1)
    clamped = th.clamp(logits, min=th.finfo(logits.dtype).min)
    probs = th.softmax(logits, dim=-1)
    entropy = -(clamped * probs).sum(-1)
    return log_prob, entropy


def log_prob_entropy(
    action_dist: Distribution, action_out: th.Tensor, log_std: th.Tensor | None, actions: th.Tensor
) -> tuple[th.Tensor, th.Tensor]:
    """Log-prob and entropy for a distribution accepted by :func:`has_closed_form`.

    :param action_dist: the policy's ``action_dist``.
    :param action_out: output of the policy's ``action_net`` (means or logits).
    :param log_std: the policy's ``log_std`` (Gaussian only).
    :param actions: the actions taken.
    """
    if type(action_dist) is DiagGaussianDistribution:
        assert log_std is not None
        return diag_gaussian_log_prob_entropy(action_out, log_std, actions)
    if type(action_dist) is CategoricalDistribution:
        return categorical_log_prob_entropy(action_out, actions)
    raise TypeError(f"no closed form for {type(action_dist).__name__}; use SB3's distribution")
