"""hlynr's TQC: sb3-contrib's TQC with a fast update, same results."""

from __future__ import annotations

import sb3_contrib
import torch as th
from sb3_contrib.common.utils import quantile_huber_loss

from hlynr.algos.offpolicy.base import FALLBACK_STATE, FAST_STATE, fast_nets
from hlynr.algos.offpolicy.soft import Discount, train_soft


class TQCCritic:
    """TQC's terms: truncated mixture of the target quantiles, quantile Huber loss, mean quantile."""

    def __init__(self, n_target_quantiles: int) -> None:
        self.n_target_quantiles = n_target_quantiles

    def target(self, next_q: th.Tensor, next_log_prob: th.Tensor, ent_coef: th.Tensor,
               rewards: th.Tensor, dones: th.Tensor, discounts: Discount) -> th.Tensor:
        """The smallest ``n_target_quantiles`` of all critics' next quantiles, as ``(batch, 1, k)``."""
        batch_size = next_q.shape[1]
        quantiles, _ = th.sort(next_q.transpose(0, 1).reshape(batch_size, -1))
        quantiles = quantiles[:, : self.n_target_quantiles] - ent_coef * next_log_prob
        return (rewards + (1 - dones) * discounts * quantiles).unsqueeze(1)

    def loss(self, current: th.Tensor, target: th.Tensor) -> th.Tensor:
        """sb3-contrib's ``quantile_huber_loss`` (not summed over quantiles)."""
        return quantile_huber_loss(current.transpose(0, 1), target, sum_over_quantiles=False)

    def actor_value(self, q_pi: th.Tensor) -> th.Tensor:
        """The mean over quantiles, then over critics."""
        return q_pi.transpose(0, 1).mean(dim=2).mean(dim=1, keepdim=True)


class TQC(sb3_contrib.TQC):
    """Drop-in for ``sb3_contrib.TQC``: same arguments, policies, saved files and numbers; faster.

    ``train()`` runs :func:`~hlynr.algos.offpolicy.soft.train_soft` with :class:`TQCCritic`; the
    critics' quantile networks are one stacked computation. Where the fast update does not
    apply, the model warns once and runs sb3-contrib's ``train()``.
    """

    def train(self, gradient_steps: int, batch_size: int = 64) -> None:
        """sb3-contrib's TQC update, ``gradient_steps`` times (see :mod:`hlynr.algos.offpolicy.soft`)."""
        nets = fast_nets(self)
        if nets is None:
            super().train(gradient_steps, batch_size)
            return
        critic = self.critic
        dropped = self.top_quantiles_to_drop_per_net * critic.n_critics
        train_soft(self, nets, gradient_steps, batch_size, TQCCritic(critic.quantiles_total - dropped))

    def _excluded_save_params(self) -> list[str]:
        """sb3-contrib's list plus the fast update's runtime state."""
        return [*super()._excluded_save_params(), FAST_STATE, FALLBACK_STATE]
