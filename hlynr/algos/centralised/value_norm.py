"""MAPPO's value normalisation: running mean and variance of the value targets, debiased.

As in the reference MAPPO implementation (marlbenchmark/on-policy ``ValueNorm``): exponential
running averages of the targets' mean and mean square with ``beta = 0.99999``, divided by the
debiasing term ``1 - beta^k``; the variance is clamped at ``1e-2``. The critic predicts
normalised values; :meth:`ValueNorm.denormalize` turns them into returns for the advantages.
The statistics are buffers of the policy module, so they are saved and restored with the model.
With :attr:`ValueNorm.enabled` False (MAPPO's ``value_normalisation: false``) both maps are the
identity, so the critic predicts returns directly.
"""

from __future__ import annotations

import torch as th
from torch import nn


class ValueNorm(nn.Module):
    """Running, debiased normalisation of scalar value targets (buffers, no parameters)."""

    # Registered buffers (float64, shape (1,)).
    running_mean: th.Tensor
    running_mean_sq: th.Tensor
    debiasing_term: th.Tensor

    def __init__(self, beta: float = 0.99999, epsilon: float = 1e-5, var_min: float = 1e-2) -> None:
        super().__init__()
        self.beta, self.epsilon, self.var_min = beta, epsilon, var_min
        self.enabled = True
        """False: :meth:`normalize` and :meth:`denormalize` return their input."""
        self.register_buffer("running_mean", th.zeros(1, dtype=th.float64))
        self.register_buffer("running_mean_sq", th.zeros(1, dtype=th.float64))
        self.register_buffer("debiasing_term", th.zeros(1, dtype=th.float64))

    def mean_var(self) -> tuple[th.Tensor, th.Tensor]:
        """The debiased mean and the clamped variance (float64, shape (1,))."""
        d = self.debiasing_term.clamp(min=self.epsilon)
        mean = self.running_mean / d
        var = (self.running_mean_sq / d - mean * mean).clamp(min=self.var_min)
        return mean, var

    @th.no_grad()
    def update(self, targets: th.Tensor) -> None:
        """Fold a batch of value targets into the running statistics."""
        x = targets.detach().to(th.float64).reshape(-1)
        b = self.beta
        self.running_mean.mul_(b).add_(x.mean() * (1.0 - b))
        self.running_mean_sq.mul_(b).add_((x * x).mean() * (1.0 - b))
        self.debiasing_term.mul_(b).add_(1.0 - b)

    def normalize(self, x: th.Tensor) -> th.Tensor:
        """``(x - mean) / std``, in ``x``'s dtype."""
        if not self.enabled:
            return x
        mean, var = self.mean_var()
        return ((x - mean.to(x.dtype)) / th.sqrt(var).to(x.dtype))

    def denormalize(self, x: th.Tensor) -> th.Tensor:
        """``x * std + mean``, in ``x``'s dtype."""
        if not self.enabled:
            return x
        mean, var = self.mean_var()
        return x * th.sqrt(var).to(x.dtype) + mean.to(x.dtype)
