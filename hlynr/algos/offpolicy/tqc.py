"""hlynr's TQC: sb3-contrib's TQC with a fast update, same results."""

from __future__ import annotations

from typing import ClassVar

import sb3_contrib
import torch as th

from hlynr.algos.offpolicy import quantile
from hlynr.algos.offpolicy.agent_rows import AgentRowsMixin, rows_init
from hlynr.algos.offpolicy.base import FALLBACK_STATE, FAST_STATE, fast_nets
from hlynr.algos.offpolicy.soft import Discount, train_soft


class TQCCritic:
    """TQC's terms: truncated mixture of the target quantiles, quantile Huber loss, mean quantile."""

    def __init__(self, n_target_quantiles: int, compiled: bool) -> None:
        self.n_target_quantiles, self.compiled = n_target_quantiles, compiled

    def target(self, next_q: th.Tensor, next_log_prob: th.Tensor, ent_coef: th.Tensor,
               rewards: th.Tensor, dones: th.Tensor, discounts: Discount) -> th.Tensor:
        """The smallest ``n_target_quantiles`` of all critics' next quantiles, as ``(batch, 1, k)``."""
        batch_size = next_q.shape[1]
        quantiles, _ = th.sort(next_q.transpose(0, 1).reshape(batch_size, -1))
        quantiles = quantiles[:, : self.n_target_quantiles] - ent_coef * next_log_prob
        return (rewards + (1 - dones) * discounts * quantiles).unsqueeze(1)

    def loss_and_grad(self, current: th.Tensor, target: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
        """sb3-contrib's ``quantile_huber_loss`` (not summed over quantiles) and its gradient."""
        return quantile.loss_and_grad(current, target, self.compiled)

    def actor_value(self, q_pi: th.Tensor) -> tuple[th.Tensor, None]:
        """The mean over quantiles, then over critics."""
        return q_pi.transpose(0, 1).mean(dim=2).mean(dim=1, keepdim=True), None

    def actor_value_grad(self, q_pi: th.Tensor, kept: None, grad: th.Tensor) -> th.Tensor:
        """Each quantile's share of ``grad`` (the two means' backward)."""
        n_critics, batch_size, n_quantiles = q_pi.shape
        return (grad / n_critics / n_quantiles).reshape(1, batch_size, 1).expand(n_critics, batch_size, n_quantiles)


class TQC(AgentRowsMixin, sb3_contrib.TQC):
    """Drop-in for ``sb3_contrib.TQC``: same arguments, policies, saved files and numbers; faster.
    Over a VecEnv of multi-agent rows it stores only rows with a live agent and takes
    ``updates_per_row`` (:mod:`hlynr.algos.offpolicy.agent_rows`).

    ``train()`` runs :func:`~hlynr.algos.offpolicy.soft.train_soft` with :class:`TQCCritic`; the
    critics' quantile networks are one stacked computation, and the quantile Huber loss is
    compiled with ``torch.compile`` (:mod:`hlynr.algos.offpolicy.quantile`; set
    :attr:`compile_critic_loss` to False, on the class or a model, to run it eagerly). Where the
    fast update does not apply, the model warns once and runs sb3-contrib's ``train()``.
    """

    __init__ = rows_init(sb3_contrib.TQC)

    compile_critic_loss: ClassVar[bool] = True
    """Whether the quantile Huber loss runs compiled (the first ``train()`` then compiles it)."""

    def train(self, gradient_steps: int, batch_size: int = 64) -> None:
        """sb3-contrib's TQC update, ``gradient_steps`` times (see :mod:`hlynr.algos.offpolicy.soft`)."""
        nets = fast_nets(self)
        if nets is None:
            super().train(gradient_steps, batch_size)
            return
        critic = self.critic
        dropped = self.top_quantiles_to_drop_per_net * critic.n_critics
        terms = TQCCritic(critic.quantiles_total - dropped, self.compile_critic_loss)
        train_soft(self, nets, gradient_steps, batch_size, terms)

    def _excluded_save_params(self) -> list[str]:
        """sb3-contrib's list plus the fast update's runtime state."""
        return [*super()._excluded_save_params(), FAST_STATE, FALLBACK_STATE]
