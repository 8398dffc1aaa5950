"""The squashed Gaussian actor of SAC and TQC in closed form, forward and backward by hand.

SB3 builds a ``torch.distributions.Normal`` (validating its arguments) and a
``SquashedDiagGaussianDistribution`` around it on every call, and autograd records the dozen
small operations of its log-probability. :func:`squashed_sample` runs the same tensor operations
directly: the noise is one ``normal_()`` on a fresh ``(batch, action_dim)`` tensor, as
``Normal.rsample`` draws it, so the random stream is consumed exactly as SB3 consumes it, and the
log-probability is ``Normal.log_prob``'s formula summed over action dimensions minus the tanh
correction. :meth:`Squashed.backward` applies, operation by operation in reverse, the derivative
formulas autograd uses for them (``derivatives.yaml``: ``pow``, ``div``, ``log``, ``exp``,
``tanh``, ``clamp``), so the gradients agree with autograd's to float32 rounding (tested; only
the order in which contributions to one tensor are added can differ).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch as th
from stable_baselines3.sac.policies import LOG_STD_MAX, LOG_STD_MIN

_LOG_SQRT_2PI = math.log(math.sqrt(2 * math.pi))


@dataclass
class Squashed:
    """A sample's intermediate values, for :meth:`backward`."""

    raw_log_std: th.Tensor
    std: th.Tensor
    noise: th.Tensor
    diff: th.Tensor  # gaussian - mean
    two_var: th.Tensor
    neg_diff_sq: th.Tensor
    action: th.Tensor
    one_minus_sq: th.Tensor  # 1 - action ** 2 + epsilon

    def first(self, rows: int) -> Squashed:
        """The intermediate values of the first ``rows`` samples."""
        return Squashed(*(value[:rows] for value in vars(self).values()))

    def backward(self, grad_action: th.Tensor, grad_log_prob: th.Tensor) -> th.Tensor:
        """The gradient with respect to the head's output ``[mean | raw log_std]``, given those of
        the action ``(batch, action_dim)`` and of the log-probability ``(batch,)``."""
        grad_terms = grad_log_prob.unsqueeze(1).expand_as(self.action)  # sum over action dims
        grad_sq = -((-grad_terms) / self.one_minus_sq)  # log, then 1 - a^2 + epsilon
        grad_action = grad_action + grad_sq * (2 * self.action)
        grad_std = (-grad_terms) / self.std  # - log(std)
        grad_neg_diff_sq = grad_terms / self.two_var  # -(diff^2) / (2 var)
        grad_two_var = -grad_terms * ((self.neg_diff_sq / self.two_var) / self.two_var)
        grad_diff = -grad_neg_diff_sq * (2 * self.diff)
        grad_std = grad_std + (grad_two_var * 2) * (2 * self.std)  # var = std^2
        grad_gaussian = th.ops.aten.tanh_backward(grad_action, self.action) + grad_diff
        grad_mean = grad_gaussian - grad_diff  # gaussian = mean + noise * std; diff = gaussian - mean
        grad_std = grad_std + grad_gaussian * self.noise
        grad_log_std = grad_std * self.std  # exp
        in_range = (self.raw_log_std >= LOG_STD_MIN) & (self.raw_log_std <= LOG_STD_MAX)
        grad_raw = th.where(in_range, grad_log_std, 0.0)  # clamp
        return th.cat([grad_mean, grad_raw], dim=1)


def squashed_sample(head: th.Tensor, action_dim: int, epsilon: float,
                    draws: int = 1) -> tuple[th.Tensor, th.Tensor, Squashed]:
    """A reparametrised tanh-squashed Gaussian sample and its log-probability, as SB3 computes them.

    ``head`` is the actor's joint output ``[mean | log_std]``. The operations are those of
    ``Actor.get_action_dist_params`` (the log-std clamp) and
    ``SquashedDiagGaussianDistribution.log_prob_from_params``: ``std = ones_like(mean) *
    exp(log_std)`` (the product with ones is exact and left out), ``Normal.rsample``, ``tanh``,
    ``Normal.log_prob`` summed over dimension 1, minus ``sum(log(1 - a^2 + epsilon))``.

    ``draws > 1`` samples the rows of ``head`` as that many consecutive equal blocks (e.g. the
    current and the next observations of one gradient step), drawing each block's noise with
    its own ``normal_()`` call, as SB3's separate calls of the actor draw it.

    :return: the action, the log-probability ``(batch,)`` and what :meth:`Squashed.backward` needs.
    """
    mean, raw_log_std = head[:, :action_dim], head[:, action_dim:]
    std = th.clamp(raw_log_std, LOG_STD_MIN, LOG_STD_MAX).exp()
    noise = th.empty(mean.shape, dtype=mean.dtype, device=mean.device)
    for block in noise.chunk(draws):
        block.normal_()
    gaussian = mean + noise * std
    action = th.tanh(gaussian)
    diff = gaussian - mean
    two_var = 2 * std**2
    neg_diff_sq = -(diff**2)
    log_prob = (neg_diff_sq / two_var - std.log() - _LOG_SQRT_2PI).sum(dim=1)
    one_minus_sq = 1 - action**2 + epsilon
    log_prob = log_prob - th.sum(th.log(one_minus_sq), dim=1)
    return action, log_prob, Squashed(raw_log_std, std, noise, diff, two_var, neg_diff_sq, action, one_minus_sq)
