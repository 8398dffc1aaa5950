"""The squashed Gaussian actor of SAC and TQC in closed form, with SB3's operations in SB3's order.

SB3 builds a ``torch.distributions.Normal`` (validating its arguments) and a
``SquashedDiagGaussianDistribution`` around it on every call. :func:`squashed_sample` runs the
same tensor operations directly: the noise is one ``normal_()`` on a fresh ``(batch, action_dim)``
tensor, as ``Normal.rsample`` draws it, so the random stream is consumed exactly as SB3 consumes
it, and the log-probability is ``Normal.log_prob``'s formula summed over action dimensions minus
the tanh correction. Same values and gradients (tested against SB3's actor).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch as th
import torch.nn.functional as F
from stable_baselines3.sac.policies import LOG_STD_MAX, LOG_STD_MIN

from hlynr.algos.offpolicy.nets import Structure, mlp_forward

_LOG_SQRT_2PI = math.log(math.sqrt(2 * math.pi))


def squashed_head(
    layers: Structure, weights: Sequence[th.Tensor], features: th.Tensor, action_dim: int
) -> tuple[th.Tensor, th.Tensor]:
    """Mean and clamped log-std of the actor (``weights``: the latent MLP's, then the joint head's)."""
    latent = mlp_forward(layers, weights[:-2], features)
    out = F.linear(latent, weights[-2], weights[-1])
    return out[:, :action_dim], th.clamp(out[:, action_dim:], LOG_STD_MIN, LOG_STD_MAX)


def squashed_sample(mean: th.Tensor, log_std: th.Tensor, epsilon: float) -> tuple[th.Tensor, th.Tensor]:
    """A reparametrised tanh-squashed Gaussian sample and its log-probability, as SB3 computes them.

    ``SquashedDiagGaussianDistribution.log_prob_from_params``: ``std = ones_like(mean) *
    exp(log_std)`` (the product with ones is exact and left out), ``Normal.rsample``,
    ``tanh``, ``Normal.log_prob`` summed over dimension 1, minus ``sum(log(1 - a^2 + epsilon))``.
    """
    std = log_std.exp()
    noise = th.empty(mean.shape, dtype=mean.dtype, device=mean.device).normal_()
    gaussian = mean + noise * std
    action = th.tanh(gaussian)
    var = std**2
    log_prob = -((gaussian - mean) ** 2) / (2 * var) - std.log() - _LOG_SQRT_2PI
    log_prob = log_prob.sum(dim=1) - th.sum(th.log(1 - action**2 + epsilon), dim=1)
    return action, log_prob
