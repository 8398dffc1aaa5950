"""TQC's quantile Huber loss and its gradient in one function, compiled with ``torch.compile``.

sb3-contrib's ``quantile_huber_loss`` compares every current quantile with every target quantile:
for a batch of 256, 2 critics of 25 quantiles and 46 target quantiles that is 588,800 pairs, and
about ten full-size tensors forward and as many again in autograd's backward pass. On the CPU
this loss costs more than all of TQC's networks together. :func:`loss_and_grad` computes the
loss and its gradient with respect to the current quantiles with the same operations as the
loss and autograd's derivative formulas for them (``abs``, ``where``, ``pow``, the mean and the
broadcast subtraction), and ``torch.compile`` fuses them into loops that never store the pairs:
several times faster than the eager loss alone (measured in ``benchmarks/bench_offpolicy.py``).
Where compiling fails (no C++ compiler, an unsupported platform) it warns once and runs the
same function eagerly from then on; under a Python dispatch mode (which ``torch.compile`` does not
support) that call runs eagerly. Compiled code may round a few operations differently (fused multiply-adds,
the order of the mean's sum): the loss and gradients agree with sb3-contrib's to float32 rounding
(tested).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import torch as th
from torch.utils._python_dispatch import _get_current_dispatch_mode

LossAndGrad = Callable[[th.Tensor, th.Tensor], tuple[th.Tensor, th.Tensor]]


def eager_loss_and_grad(current: th.Tensor, target: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
    """The quantile Huber loss of the stacked quantiles ``current`` ``(n, batch, q)`` against
    ``target`` ``(batch, 1, m)``, and its gradient with respect to ``current``.

    The loss is ``quantile_huber_loss(current.transpose(0, 1), target, sum_over_quantiles=False)``.
    """
    n_quantiles = current.shape[-1]
    quantiles = current.transpose(0, 1)
    delta = target.unsqueeze(-2) - quantiles.unsqueeze(-1)
    abs_delta = th.abs(delta)
    far = abs_delta > 1
    huber = th.where(far, abs_delta - 0.5, delta**2 * 0.5)
    cum_prob = (th.arange(n_quantiles, device=current.device, dtype=th.float) + 0.5) / n_quantiles
    weight = th.abs(cum_prob.view(1, 1, -1, 1) - (delta < 0).float())
    loss = (weight * huber).mean()
    grad_huber = (th.ones((), dtype=delta.dtype, device=delta.device) / delta.numel()) * weight
    grad_delta = th.where(far, grad_huber * th.sgn(delta), (grad_huber * 0.5) * (2 * delta))
    return loss, (-grad_delta).sum(dim=-1).transpose(0, 1)


_compiled: dict[str, Any] = {}


def loss_and_grad(current: th.Tensor, target: th.Tensor, compiled: bool = True) -> tuple[th.Tensor, th.Tensor]:
    """:func:`eager_loss_and_grad`, compiled unless ``compiled`` is False or compiling failed."""
    if compiled and _compiled.get("failed") is None and _get_current_dispatch_mode() is None:
        function = _compiled.get("function")
        if function is None:
            function = _compiled["function"] = th.compile(eager_loss_and_grad, dynamic=False, fullgraph=True)
        try:
            return function(current, target)
        except Exception as exc:  # a missing or failing C++ toolchain, an unsupported platform
            _compiled["failed"] = exc
            warnings.warn(f"torch.compile of TQC's quantile loss failed ({type(exc).__name__}: {exc}); "
                          "running it eagerly", stacklevel=2)
    return eager_loss_and_grad(current, target)
