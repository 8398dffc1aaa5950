"""hlynr's SAC: Stable-Baselines3's SAC with a fast update, same results."""

from __future__ import annotations

import stable_baselines3
import torch as th

from hlynr.algos.offpolicy.agent_rows import AgentRowsMixin, rows_init
from hlynr.algos.offpolicy.base import FALLBACK_STATE, FAST_STATE, fast_nets
from hlynr.algos.offpolicy.soft import Discount, train_soft


class SACCritic:
    """SAC's twin-critic terms: clipped double-Q target with the entropy term, halved MSE loss."""

    def target(self, next_q: th.Tensor, next_log_prob: th.Tensor, ent_coef: th.Tensor,
               rewards: th.Tensor, dones: th.Tensor, discounts: Discount) -> th.Tensor:
        """``r + (1 - done) * discount * (min_i Q'_i - ent_coef * log_prob')``."""
        next_q_values = next_q.min(dim=0).values - ent_coef * next_log_prob
        return rewards + (1 - dones) * discounts * next_q_values

    def loss_and_grad(self, current: th.Tensor, target: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
        """``0.5 * sum_i mse(Q_i, target)`` and its gradient ``(0.5 / batch) * (2 * (Q_i - target))``."""
        diff = current - target
        loss = 0.5 * (diff**2).mean(dim=(1, 2)).sum()
        return loss, (th.full((), 0.5, dtype=diff.dtype, device=diff.device) / diff.shape[1]) * (2 * diff)

    def actor_value(self, q_pi: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
        """``min_i Q_i(s, pi(s))`` and which critic gave it."""
        value, index = q_pi.min(dim=0)
        return value, index

    def actor_value_grad(self, q_pi: th.Tensor, kept: th.Tensor, grad: th.Tensor) -> th.Tensor:
        """The gradient goes to the minimal critic of each row (``min``'s backward)."""
        return th.zeros_like(q_pi).scatter_(0, kept.unsqueeze(0), grad.unsqueeze(0))


SAC_CRITIC = SACCritic()


class SAC(AgentRowsMixin, stable_baselines3.SAC):
    """Drop-in for ``stable_baselines3.SAC``: same arguments, policies, saved files and numbers; faster.
    Over a VecEnv of multi-agent rows it stores only rows with a live agent and takes
    ``updates_per_row`` (:mod:`hlynr.algos.offpolicy.agent_rows`).

    ``train()`` runs :func:`~hlynr.algos.offpolicy.soft.train_soft`. The policy is SB3's own
    ``SACPolicy`` (its parameters live in flat tensors during training), so files saved by
    either library load in the other. Where the fast update does not apply (gSDE, a features
    extractor with parameters, layers other than linear and elementwise activations), the model
    warns once and runs SB3's ``train()``.
    """

    __init__ = rows_init(stable_baselines3.SAC)

    def train(self, gradient_steps: int, batch_size: int = 64) -> None:
        """SB3's SAC update, ``gradient_steps`` times (see :mod:`hlynr.algos.offpolicy.soft`)."""
        nets = fast_nets(self)
        if nets is None:
            super().train(gradient_steps, batch_size)
            return
        train_soft(self, nets, gradient_steps, batch_size, SAC_CRITIC)

    def _excluded_save_params(self) -> list[str]:
        """SB3's list plus the fast update's runtime state."""
        return [*super()._excluded_save_params(), FAST_STATE, FALLBACK_STATE]
