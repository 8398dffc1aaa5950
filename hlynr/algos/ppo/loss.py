"""PPO's loss on one minibatch and its gradient with respect to the policy's outputs, by hand.

SB3 records about fifty small operations of the loss for autograd (ratio, clipping, the minimum,
the Gaussian log-probability, the entropy, the value loss) and replays them backwards. The loss
is a closed form of three outputs of the policy (the action head's output, ``log_std`` and the
values), so its gradient is too. :func:`ppo_loss` computes the loss with SB3's operations (the
closed-form log-probabilities and entropies of :mod:`hlynr.algos.distributions`,
``F.mse_loss``) without recording them, and the gradient from the formulas autograd's backward
functions apply:

* the clipped surrogate ``-mean(min(A r, A clamp(r, 1 - e, 1 + e)))``: ``d/dr = -A / n`` where
  the unclipped term is the smaller or they tie (``min``'s backward gives each half, ``clamp``'s
  passes the gradient inside its range, bounds included), else 0; ``d/dlog_prob = d/dr * r``;
* a diagonal Gaussian: ``dlog_prob/dmean = (a - mean) / var`` and
  ``dlog_prob/dlog_std = (a - mean)^2 / var - 1``; the entropy's ``dH/dlog_std = 1``;
* a categorical: ``dlog_prob/dlogits = onehot(a) - p`` and ``dH/dlogits = -p (log p + H)``;
* the value loss ``mean((R - v')^2)``: ``2 (v' - R) / n``, through ``clamp``'s range when the
  values are clipped around the old ones.

Values equal SB3's bit for bit (the same forward operations); gradients agree to float32
rounding (the same formulas, multiplied in another order).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch as th
import torch.nn.functional as F

from hlynr.algos.distributions import (
    categorical_log_prob_entropy,
    diag_gaussian_log_prob_entropy,
)
from hlynr.algos.ppo.rollout import Minibatch


@dataclass
class LossAndGrads:
    """The loss, its logged terms and its gradient with respect to the policy's outputs."""

    loss: th.Tensor
    stats: th.Tensor
    """Policy loss, clip fraction, value loss, entropy loss, approx KL (one float32 tensor)."""
    action_out: th.Tensor
    """Gradient of the action head's output (means or logits), ``(batch, out)``."""
    values: th.Tensor
    """Gradient of the values, ``(batch, 1)``."""
    log_std: th.Tensor | None
    """Gradient of ``log_std`` (Gaussian), else None."""


@th.no_grad()
def ppo_loss(action_out: th.Tensor, log_std: th.Tensor | None, values: th.Tensor, batch: Minibatch,
             clip_range: float, clip_range_vf: float | None, ent_coef: float, vf_coef: float) -> LossAndGrads:
    """SB3's PPO loss from the policy's outputs (``values`` flattened), and its gradient.

    :param log_std: the policy's ``log_std`` for a diagonal Gaussian; None for a categorical.
    """
    actions, advantages = batch.actions, batch.advantages
    n = advantages.shape[0]
    if log_std is not None:
        log_prob, entropy = diag_gaussian_log_prob_entropy(action_out, log_std, actions)
    else:
        log_prob, entropy = categorical_log_prob_entropy(action_out, actions)
    log_ratio = log_prob - batch.old_log_prob
    ratio = th.exp(log_ratio)
    unclipped = advantages * ratio
    clipped = advantages * th.clamp(ratio, 1 - clip_range, 1 + clip_range)
    policy_loss = -th.min(unclipped, clipped).mean()
    values_pred = values
    if clip_range_vf is not None:
        values_pred = batch.old_values + th.clamp(values - batch.old_values, -clip_range_vf, clip_range_vf)
    value_loss = F.mse_loss(batch.returns, values_pred)
    entropy_loss = -th.mean(entropy)
    loss = policy_loss + ent_coef * entropy_loss + vf_coef * value_loss
    ratio_minus_1 = ratio - 1  # SB3 recomputes the identical exp(log_ratio) - 1 for approx KL
    clip_fraction = th.mean((th.abs(ratio_minus_1) > clip_range).float())
    approx_kl = th.mean(ratio_minus_1 - log_ratio)
    stats = th.stack((policy_loss, clip_fraction, value_loss, entropy_loss, approx_kl))

    # d loss / d log_prob: the surrogate's gradient reaches the ratio through the unclipped term
    # (when it is the smaller one or they tie) and then the exponential.
    grad_log_prob = (unclipped <= clipped) * advantages * ratio * (-1.0 / n)
    grad_values = (values_pred - batch.returns) * (2.0 * vf_coef / n)
    if clip_range_vf is not None:
        grad_values = grad_values * ((values - batch.old_values).abs() <= clip_range_vf)
    grad_log_std = None
    if log_std is not None:
        diff = actions - action_out
        inv_var = th.exp(-2.0 * log_std)
        grad_action = grad_log_prob.unsqueeze(1) * diff * inv_var
        grad_log_std = (grad_log_prob.unsqueeze(1) * (diff * diff * inv_var - 1.0)).sum(0) - ent_coef
    else:
        log_p = action_out.log_softmax(-1)
        p = log_p.exp()
        grad_action = p * (log_p + entropy.unsqueeze(1)) * (ent_coef / n) - p * grad_log_prob.unsqueeze(1)
        grad_action.scatter_add_(1, actions.long().unsqueeze(1), grad_log_prob.unsqueeze(1))
    return LossAndGrads(loss, stats, grad_action, grad_values.unsqueeze(1), grad_log_std)
