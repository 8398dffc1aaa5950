"""Forward and backward passes of SB3's MLPs on flat weights, without building an autograd graph.

hlynr's off-policy updates and its PPO differentiate small MLPs (``nn.Linear`` layers and
elementwise activations) at every gradient step. Autograd records every operation, then replays the
graph; for networks of this size that bookkeeping costs as much as the arithmetic. :class:`MLP`
runs the forward pass keeping what the backward pass needs (each linear layer's input, each
activation's output or input), and the backward pass with the operations autograd itself runs
for these layers, in the same order:

* a linear layer's weight gradient ``g^T @ input`` and bias gradient ``g.sum(batch)``, written
  straight into the flat gradient tensor (``out=``), and its input gradient ``g @ W``;
* ReLU's ``threshold_backward(g, output, 0)`` and tanh's ``tanh_backward(g, output)`` (the
  kernels of ``ReluBackward0`` and ``TanhBackward0``), with the activation applied in place;
  any other elementwise activation is differentiated by autograd locally, on its own input.

The tests compare it with autograd on the same weights (bit-identical gradients on CPU for ReLU
and tanh MLPs). A stacked MLP (``n`` critics) runs every layer as one ``baddbmm``/``bmm``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch as th
import torch.nn.functional as F
from torch import nn

ELEMENTWISE: tuple[type[nn.Module], ...] = (
    nn.ReLU, nn.Tanh, nn.ELU, nn.LeakyReLU, nn.GELU, nn.SiLU, nn.SELU, nn.Mish, nn.Sigmoid,
    nn.Softplus, nn.Identity, nn.Hardtanh, nn.CELU, nn.ReLU6, nn.Softsign, nn.Hardswish,
)
"""Parameter-free activations that act elementwise, so they apply to stacked tensors unchanged."""

Structure = list[nn.Module | None]
"""An MLP's layers in order: ``None`` for a linear layer (weights taken from a list), else the
activation module."""


def mlp_problem(seq: nn.Module, what: str) -> str | None:
    """Why ``seq`` is not an MLP :class:`MLP` can run (``what`` names it in the message), or None."""
    if not isinstance(seq, nn.Sequential):
        return f"{what} is a {type(seq).__name__}, not an nn.Sequential"
    for layer in seq:
        if type(layer) is nn.Linear:
            if layer.bias is None:
                return f"{what} has a linear layer without bias"
        elif type(layer) not in ELEMENTWISE:
            return f"{what} has a {type(layer).__name__} layer (only nn.Linear and elementwise activations)"
    return None


def structure(seq: nn.Sequential) -> Structure:
    """The layers of a qualifying MLP (``None`` for each linear layer)."""
    return [None if type(layer) is nn.Linear else layer for layer in seq]


@dataclass
class Saved:
    """What a forward pass kept for the backward pass, layer by layer."""

    inputs: list[th.Tensor] = field(default_factory=list)
    """The input of each linear layer."""
    activations: list[tuple[th.Tensor, th.Tensor | None]] = field(default_factory=list)
    """Per activation: its output (ReLU, tanh), or its input made a leaf and its output (others)."""


def _activate(layer: nn.Module, h: th.Tensor, saved: Saved | None) -> th.Tensor:
    if type(layer) is nn.ReLU:
        out = h.relu_()
        if saved is not None:
            saved.activations.append((out, None))
        return out
    if type(layer) is nn.Tanh:
        out = h.tanh_()
        if saved is not None:
            saved.activations.append((out, None))
        return out
    if saved is None:
        return layer(h)
    leaf = h.detach().requires_grad_(True)
    with th.enable_grad():
        out = layer(leaf)
    saved.activations.append((leaf, out))
    return out.detach()


def _activation_backward(layer: nn.Module, grad: th.Tensor, kept: tuple[th.Tensor, th.Tensor | None],
                         rows: int) -> th.Tensor:
    first, second = kept
    if type(layer) is nn.ReLU:
        return th.ops.aten.threshold_backward(grad, first[..., :rows, :], 0)
    if type(layer) is nn.Tanh:
        return th.ops.aten.tanh_backward(grad, first[..., :rows, :])
    assert second is not None
    if rows < second.shape[-2]:  # the other rows get no gradient
        grad = th.cat([grad, grad.new_zeros(second.shape[-2] - rows, *grad.shape[1:])])
    (result,) = th.autograd.grad(second, first, grad)
    return result[..., :rows, :]


class MLP:
    """One MLP or a stack of identical ones (``stacked``), evaluated on weights given per call.

    ``weights`` are the weight and bias of each linear layer in order: ``(out, in)`` and
    ``(out,)``, or ``(n, out, in)`` and ``(n, out)`` stacked. Inputs are ``(batch, in)``;
    a stack shares its input and returns ``(n, batch, out)``.
    """

    def __init__(self, layers: Structure, stacked: bool) -> None:
        self.layers, self.stacked = layers, stacked

    def forward(self, weights: Sequence[th.Tensor], x: th.Tensor, saved: Saved | None = None) -> th.Tensor:
        """The output; pass ``saved`` to keep what :meth:`backward` needs."""
        h, i = x, 0
        for layer in self.layers:
            if layer is not None:
                h = _activate(layer, h, saved)
                continue
            w, b = weights[i], weights[i + 1]
            i += 2
            if self.stacked:
                if h.dim() == 2:
                    h = h.expand(w.shape[0], *h.shape)
                if saved is not None:
                    saved.inputs.append(h)
                h = th.baddbmm(b.unsqueeze(1), h, w.transpose(1, 2))
            else:
                if saved is not None:
                    saved.inputs.append(h)
                h = F.linear(h, w, b)
        return h

    def backward(self, weights: Sequence[th.Tensor], saved: Saved, grad: th.Tensor,
                 grads: Sequence[th.Tensor] | None, input_grad: bool = False) -> th.Tensor | None:
        """Back-propagate ``grad`` (of the output): the parameter gradients into ``grads`` (views in
        ``weights``' layout; None: not wanted) and, with ``input_grad``, the input's gradient
        (summed over the stack, as for a shared input).

        ``grad`` may cover only the first rows of the forward pass's batch (one MLP, not a stack):
        the other rows then take no part, as if the forward pass had been run on those rows only.
        """
        rows = grad.shape[-2]
        linear, act = len(saved.inputs), len(saved.activations)
        for layer in reversed(self.layers):
            if layer is not None:
                act -= 1
                grad = _activation_backward(layer, grad, saved.activations[act], rows)
                continue
            linear -= 1
            w, inp = weights[2 * linear], saved.inputs[linear]
            if grads is not None:
                if self.stacked:
                    th.bmm(grad.transpose(1, 2), inp, out=grads[2 * linear])
                    th.sum(grad, dim=1, out=grads[2 * linear + 1])
                else:
                    th.mm(grad.t(), inp[:rows], out=grads[2 * linear])
                    th.sum(grad, dim=0, out=grads[2 * linear + 1])
            if linear == 0 and not input_grad:
                return None
            grad = th.bmm(grad, w) if self.stacked else th.mm(grad, w)
        return grad.sum(dim=0) if self.stacked else grad
